"""zpyro: Pyro-style remote objects for Python, on ZeroMQ.

Port a Pyro program by changing its import: ``import zpyro as Pyro4``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import errors, util
from .batch import BatchProxy, batch
from .client import Proxy, asyncproxy
from .config import config
from .context import current_context
from .errors import excepthook, get_remote_traceback
from .executor import Executor
from .exposure import behavior, callback, expose, idempotent, oneway
from .futures import Future
from .namewatch import NameWatcher
from .naming import locate_ns, locateNS, resolve, start_ns, start_ns_loop, type_meta
from .serializers import (
    register_class_to_dict,
    register_dict_to_class,
    unregister_class_to_dict,
    unregister_dict_to_class,
)
from .server import Daemon, serve
from .uri import URI

__all__ = [
    "URI",
    "BatchProxy",
    "Daemon",
    "Executor",
    "Future",
    "NameWatcher",
    "Proxy",
    "asyncproxy",
    "batch",
    "__version__",
    "behavior",
    "callback",
    "config",
    "current_context",
    "errors",
    "excepthook",
    "expose",
    "get_remote_traceback",
    "idempotent",
    "locateNS",
    "locate_ns",
    "oneway",
    "register_class_to_dict",
    "register_dict_to_class",
    "resolve",
    "serve",
    "start_ns",
    "start_ns_loop",
    "type_meta",
    "unregister_class_to_dict",
    "unregister_dict_to_class",
    "util",
]
