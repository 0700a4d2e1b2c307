"""Pyro4 habit: ``Pyro4.core.Proxy``, ``Pyro4.core.Daemon``, ``Pyro4.core.URI`` keep working."""

from typing import Any

from .classdicts import autoproxy_dict
from .client import Proxy
from .context import current_context
from .daemonobject import DaemonObject
from .server import Daemon
from .uri import URI

__all__ = ["URI", "Daemon", "DaemonObject", "Proxy", "current_context", "pyroObjectToAutoProxy"]


def pyroObjectToAutoProxy(obj: Any) -> Any:  # noqa: N802 - Pyro's name
    """A proxy for an object registered in a daemon of this process; any other object as it
    is (what zpyro's serializers do with every value they send)."""
    d = autoproxy_dict(obj)
    return obj if d is None else Proxy(d["uri"])
