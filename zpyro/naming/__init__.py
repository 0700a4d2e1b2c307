"""Finding objects by name: ``locate_ns`` and ``resolve``; and the name server itself, as
Pyro's ``naming`` module offers it (``startNS``, ``startNSloop``, ``python -m zpyro.naming``).

The name server is the object ``Pyro.NameServer`` that the broker (``zpyro-broker``) serves.
Name-server proxies are kept per location and shared (proxies are thread-safe), so resolving a
``PYRONAME:`` costs one round trip on a connection that is already open. Importing this module
installs ``resolve`` as the resolver of ``PYRONAME:``/``PYROMETA:`` proxies (the client layer
below cannot import it). ``zpyro.namewatch`` keeps a live copy of the names.

``startNS`` runs the broker in this process; its code is the broker's (``broker.inprocess``),
imported when first used, so a plain ``import zpyro`` does not load the broker.

``delay_time`` (and config ``NS_LOOKUP_DELAY``): a lookup waits that long for the name to be
registered. The name server itself holds the call until the names change (no polling).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from .. import client, errors
from ..config import config
from ..uri import URI, host_port
from ..wire import NAMESERVER_ID

__all__ = [
    "locate_ns",
    "locateNS",
    "resolve",
    "lookup",
    "yplookup",
    "type_meta",
    "start_ns",
    "start_ns_loop",
    "startNS",
    "startNSloop",
    "main",
]

_shared: dict[str, Any] = {}  # location -> shared name-server Proxy
_shared_lock = threading.Lock()


def ns_location(host: str | None, port: int | None) -> str:
    """The name server's ``host:port`` (default config NS_HOST:NS_PORT); a `host` that is a
    unix-socket or inproc location (``./u:PATH``, as Pyro's nsc ``-u`` makes it) is the whole
    location."""
    host = host or config.NS_HOST
    if host.startswith(("./u:", "./inproc:")):
        return host
    return host_port(host, port or config.NS_PORT)


def locate_ns(host: str | None = None, port: int | None = None, broadcast: bool = False) -> Any:
    """A proxy for the name server at host:port (default config NS_HOST:NS_PORT), checked alive.

    Raises NamingError when nothing answers within CONNECT_TIMEOUT. (`broadcast` is accepted for
    Pyro compatibility; zpyro never broadcasts.)
    """
    uri = f"PYRO:{NAMESERVER_ID}@{ns_location(host, port)}"
    proxy = client.Proxy(uri)
    proxy._pyroTimeout = config.CONNECT_TIMEOUT or None
    try:
        proxy.ping()
    except errors.CommunicationError as exc:
        proxy._pyroRelease()
        raise errors.NamingError(f"failed to locate the name server at {uri}: {exc}") from None
    proxy._pyroTimeout = config.COMMTIMEOUT or None
    return proxy


locateNS = locate_ns  # Pyro4 name


def _shared_ns(host: str | None, port: int | None) -> Any:
    """A name-server proxy for resolving, opened once per location and reused."""
    location = ns_location(host, port)
    with _shared_lock:
        proxy = _shared.get(location)
    if proxy is None:
        proxy = locate_ns(host, port)
        with _shared_lock:
            proxy = _shared.setdefault(location, proxy)
    return proxy


def _ask(host: str | None, port: int | None, question: Callable[[Any], Any]) -> Any:
    """Ask the (shared) name server; one retry on a fresh proxy if its connection broke."""
    try:
        return question(_shared_ns(host, port))
    except errors.CommunicationError:
        with _shared_lock:
            stale = _shared.pop(ns_location(host, port), None)
        if stale is not None:
            stale._pyroRelease()
        return question(_shared_ns(host, port))


def resolve(uri: str | URI, delay_time: float = 0.0) -> URI:
    """The PYRO: URI for a PYRO:, PYRONAME: or PYROMETA: URI (the latter two ask the name
    server, waiting up to `delay_time` -- default config NS_LOOKUP_DELAY -- for a match)."""
    uri = URI(uri)
    if uri.protocol == "PYRO":
        return uri
    host, port = (uri.location, None) if uri.sockpath or uri.inproc else (uri.host, uri.port)
    if uri.protocol == "PYRONAME":
        found = _ask(host, port, lambda ns: lookup(ns, uri.object, delay_time=delay_time))
        return URI(found)
    tags = sorted(uri.metadata)
    matches = _ask(
        host,
        port,
        lambda ns: yplookup(ns, tags, None, return_metadata=False, delay_time=delay_time),
    )
    if not matches:
        raise errors.NamingError(f"no object carries all of the metadata {', '.join(tags)}")
    return URI(random.choice(sorted(matches.values())))


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
    if name in ("BroadcastServer", "MemoryStorage", "SqlStorage", "DbmStorage"):
        raise AttributeError(
            f"zpyro.naming has no {name}: zpyro never broadcasts (clients find the name server "
            "by NS_HOST/NS_PORT), and storage is chosen by name (storage='memory' or 'sql:FILE')"
        )
    raise AttributeError(f"module 'zpyro.naming' has no attribute {name!r}")


client.set_resolver(resolve)
