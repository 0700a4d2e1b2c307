"""Pyro4's ``core`` module: ``Pyro4.core.Proxy``, ``Pyro4.core.Daemon``,
``Pyro4.core.current_context`` and the rest keep working after ``import zpyro as Pyro4``."""

from typing import Any

from .batch import BatchProxy, batch
from .blob import SerializedBlob
from .classdicts import autoproxy_dict
from .client import Proxy, asyncproxy
from .constants import DAEMON_NAME, NAMESERVER_NAME  # Pyro5 has them in core
from .context import current_context
from .daemonobject import DaemonObject
from .exposure import behavior, callback, expose, oneway
from .naming import locate_ns as _locateNS
from .naming import resolve as _resolve
from .server import Daemon
from .uri import URI


def pyroObjectToAutoProxy(obj: Any) -> Any:  # noqa: N802 - Pyro's name
    """A proxy for an object registered in a daemon of this process; any other object as it
    is (what zpyro's serializers do with every value they send)."""
    d = autoproxy_dict(obj)
    return obj if d is None else Proxy(d["uri"])


__all__ = [
    "URI",
    "BatchProxy",
    "DAEMON_NAME",
    "Daemon",
    "DaemonObject",
    "NAMESERVER_NAME",
    "Proxy",
    "SerializedBlob",
    "asyncproxy",
    "batch",
    "behavior",
    "callback",
    "current_context",
    "expose",
    "oneway",
    "_locateNS",
    "_resolve",
    "pyroObjectToAutoProxy",
]
