"""Pyro5's ``nameserver`` module (``Pyro5.nameserver``): ``start_ns``, ``start_ns_loop``,
``lookup``/``yplookup`` with ``delay_time``, ``type_meta``; ``python -m zpyro.nameserver`` starts
the name server as ``zpyro-ns`` does. The same functions as ``zpyro.naming`` (Pyro4's name)."""

import sys
from typing import Any

from zpyro import naming
from zpyro.naming import (
    locate_ns,
    lookup,
    main,
    resolve,
    start_ns,
    start_ns_loop,
    type_meta,
    yplookup,
)

__all__ = [
    "locate_ns",
    "lookup",
    "main",
    "resolve",
    "start_ns",
    "start_ns_loop",
    "type_meta",
    "yplookup",
]


def __getattr__(name: str) -> Any:
    """``NameServer``, ``NameServerDaemon`` (the broker's), as ``zpyro.naming`` gives them."""
    return getattr(naming, name)


if __name__ == "__main__":
    sys.exit(main())
