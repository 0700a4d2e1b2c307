"""Pyro4 habit: ``Pyro4.core.Proxy``, ``Pyro4.core.Daemon``, ``Pyro4.core.URI`` keep working."""

from .client import Proxy
from .daemonobject import DaemonObject
from .server import Daemon
from .uri import URI

__all__ = ["URI", "Daemon", "DaemonObject", "Proxy"]
