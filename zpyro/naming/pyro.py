"""Pyro's ``naming`` beyond locating and resolving (all of it is ``zpyro.naming.X`` too).

* Pyro5's ``lookup``/``yplookup`` helpers with ``delay_time`` (and config ``NS_LOOKUP_DELAY``):
  the name server itself holds such a call until the name is registered (no polling);
* ``type_meta``: Pyro's class tags;
* ``startNS``/``startNSloop`` (Pyro5: ``start_ns``/``start_ns_loop``), ``main`` (``zpyro-ns``)
  and the classes ``NameServer``/``NameServerDaemon``: the broker, run in this process. Its code
  is imported when first used, so a plain ``import zpyro`` does not load the broker.
"""

from __future__ import annotations

from typing import Any

from ..config import config
from ..configrules import NO_AUTOCLEAN
from ..uri import URI


def lookup(
    nameserver: Any, name: str, return_metadata: bool = False, delay_time: float = 0.0
) -> Any:
    """Pyro5's ``nameserver.lookup``: ``nameserver.lookup(name)``, waiting up to `delay_time`
    seconds (default config NS_LOOKUP_DELAY) for the name to be registered."""
    delay = delay_time or config.NS_LOOKUP_DELAY
    if not delay:
        return nameserver.lookup(name, return_metadata)
    return nameserver.lookup(name, return_metadata, delay_time=delay)


def yplookup(
    nameserver: Any,
    meta_all: Any = None,
    meta_any: Any = None,
    return_metadata: bool = True,
    delay_time: float = 0.0,
) -> Any:
    """Pyro5's ``nameserver.yplookup``: the names carrying the tags, waiting up to `delay_time`
    seconds (default config NS_LOOKUP_DELAY) for at least one."""
    delay = delay_time or config.NS_LOOKUP_DELAY
    if not delay:
        return nameserver.yplookup(meta_all, meta_any, return_metadata)
    return nameserver.yplookup(meta_all, meta_any, return_metadata, delay_time=delay)


def type_meta(class_or_object: Any, prefix: str = "class:") -> set[str]:
    """Pyro's class metadata tags for an object or class: ``class:module.Name`` for each class
    of its MRO that is not a builtin."""
    cls = class_or_object if isinstance(class_or_object, type) else type(class_or_object)
    return {
        f"{prefix}{k.__module__}.{k.__name__}" for k in cls.__mro__ if k.__module__ != "builtins"
    }


# -- the name server in this process (the broker's code, loaded when first used) -----------------


def start_ns(
    host: str | None = None,
    port: int | None = None,
    enableBroadcast: bool = True,  # Pyro's keyword names
    bchost: str | None = None,
    bcport: int | None = None,
    unixsocket: str | None = None,
    nathost: str | None = None,
    natport: int | None = None,
    storage: str | None = None,
    hmac: Any = None,
) -> tuple[URI, Any, None]:
    """Pyro's ``startNS``: a name server (the broker) in this process, not yet serving:
    ``(uri, daemon, None)``. Serve it with ``daemon.requestLoop()`` in a thread, or from your
    own loop with ``daemon.sockets``/``daemon.events()``. zpyro never broadcasts, so the third
    item (Pyro's broadcast server) is always None. Default port NS_PORT (0: a free one),
    storage ``memory`` (or ``sql:FILE``)."""
    from zpyro.broker.inprocess import start_ns as start

    started: tuple[URI, Any, None] = start(
        host, port, enableBroadcast, bchost, bcport, unixsocket, nathost, natport, storage, hmac
    )
    return started


def start_ns_loop(
    host: str | None = None,
    port: int | None = None,
    enableBroadcast: bool = True,  # Pyro's keyword names
    bchost: str | None = None,
    bcport: int | None = None,
    unixsocket: str | None = None,
    nathost: str | None = None,
    natport: int | None = None,
    storage: str | None = None,
    hmac: Any = None,
) -> None:
    """Pyro's ``startNSloop``: start a name server here, print Pyro's lines (``URI = ...``) and
    serve until it is shut down (Ctrl-C)."""
    from zpyro.broker.pyro_ns import start_ns_loop as loop

    loop(host, port, enableBroadcast, bchost, bcport, unixsocket, nathost, natport, storage, hmac)


startNS = start_ns  # Pyro4 names
startNSloop = start_ns_loop


def main(args: list[str] | None = None) -> int:
    """The ``zpyro-ns`` command (Pyro4's ``naming.main``)."""
    from zpyro.broker.pyro_ns import main as command

    code: int = command(args)
    return code


def __getattr__(name: str) -> Any:
    """Pyro's name-server classes, from the broker when asked for."""
    if name == "NameServer":
        from zpyro.broker.nameserver import NameServer

        return NameServer
    if name == "NameServerDaemon":
        from zpyro.broker.inprocess import NameServerDaemon

        return NameServerDaemon
    if name == "AutoCleaner":
        raise AttributeError(f"zpyro.naming has no AutoCleaner (NS_AUTOCLEAN): {NO_AUTOCLEAN}")
    if name in ("BroadcastServer", "MemoryStorage", "SqlStorage", "DbmStorage"):
        raise AttributeError(
            f"zpyro.naming has no {name}: zpyro never broadcasts (clients find the name server "
            "by NS_HOST/NS_PORT), and storage is chosen by name (storage='memory' or 'sql:FILE')"
        )
    raise AttributeError(f"module 'zpyro.naming' has no attribute {name!r}")
