"""Pyro4's module name for the configuration: ``Pyro4.configuration.config`` and
``python -m Pyro4.configuration`` (which prints it, as ``zpyro-check-config`` does)."""

from __future__ import annotations

from .config import Config, config, main

__all__ = ["Config", "config", "main"]

if __name__ == "__main__":
    main()
