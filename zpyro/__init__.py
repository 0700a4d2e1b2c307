"""zpyro: Pyro-style remote objects for Python, on ZeroMQ.

Port a Pyro program by changing its import: ``import zpyro as Pyro4``, or leave it as it is and
run ``zpyro.alias_as("Pyro4")`` first. Pyro4's module paths (``Pyro4.core``, ``.naming``,
``.errors``, ``.util``, ``.futures``, ``.constants``, ``.socketutil``, ``.message``) are
attributes after a plain ``import zpyro``.
"""

from __future__ import annotations

from . import (
    config as _config_module,
)
from . import (
    configuration,
    constants,
    core,
    errors,
    futures,
    message,
    naming,
    serializers,
    socketutil,
    util,
)
from .batch import BatchProxy, batch
from .blob import SerializedBlob
from .client import Proxy, asyncproxy
from .config import config
from .constants import VERSION as __version__
from .context import current_context
from .daemonobject import DaemonObject
from .errors import excepthook, get_remote_traceback
from .executor import Executor
from .exposure import behavior, callback, expose, idempotent, oneway
from .futures import Future, FutureResult
from .namewatch import NameWatcher
from .naming import locate_ns, locateNS, resolve, start_ns, start_ns_loop, type_meta
from .pyroalias import alias_as
from .serializers import (
    register_class_to_dict,
    register_dict_to_class,
    unregister_class_to_dict,
    unregister_dict_to_class,
)
from .server import Daemon, serve
from .uri import URI
from .util import SerializerBase

# settings the layers below the config cannot read themselves, kept in step with it


def _detailed_traceback(value: bool) -> None:
    errors.DETAILED = bool(value)


_config_module.watch("PICKLE_PROTOCOL_VERSION", serializers.PickleSerializer.set_protocol)
_config_module.watch("DETAILED_TRACEBACK", _detailed_traceback)

__all__ = [
    "URI",
    "BatchProxy",
    "Daemon",
    "DaemonObject",
    "Executor",
    "Future",
    "FutureResult",
    "NameWatcher",
    "Proxy",
    "SerializedBlob",
    "SerializerBase",
    "alias_as",
    "asyncproxy",
    "batch",
    "__version__",
    "behavior",
    "callback",
    "config",
    "configuration",
    "constants",
    "core",
    "current_context",
    "errors",
    "excepthook",
    "expose",
    "futures",
    "get_remote_traceback",
    "idempotent",
    "locateNS",
    "locate_ns",
    "message",
    "naming",
    "oneway",
    "register_class_to_dict",
    "register_dict_to_class",
    "resolve",
    "serve",
    "socketutil",
    "start_ns",
    "start_ns_loop",
    "type_meta",
    "unregister_class_to_dict",
    "unregister_dict_to_class",
    "util",
]
