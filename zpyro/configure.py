"""`python -m zpyro.configure` (Pyro5's module name; also `zpyro-check-config`): print the
effective configuration, a few header lines then one `ITEM = value` a line."""

from __future__ import annotations

from .config import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
