"""`python -m zpyro.configure`: print the effective configuration, one `ITEM = value` a line."""

from __future__ import annotations

from .config import config

__all__ = ["main"]


def main() -> None:
    """Print config.dump() (defaults overridden by ZPYRO_* environment variables)."""
    print(config.dump())


if __name__ == "__main__":
    main()
