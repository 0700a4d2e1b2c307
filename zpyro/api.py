"""Pyro5's ``Pyro5.api`` as ``zpyro.api``: ``from zpyro.api import expose, Daemon, Proxy`` ports
``from Pyro5.api import ...`` by changing only the module name. The names are the package's own
(``zpyro.api.Proxy is zpyro.Proxy``)."""

from __future__ import annotations

from zpyro import *  # noqa: F403 (the whole public API, nothing of its own)
from zpyro import __all__ as _package_all

__all__ = list(_package_all)
