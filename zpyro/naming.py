"""Finding objects by name: ``locate_ns`` and ``resolve``.

The name server is the object ``Pyro.NameServer`` that the broker (``zpyro-broker``) serves.
Name-server proxies are kept per location and shared (proxies are thread-safe), so resolving a
``PYRONAME:`` costs one round trip on a connection that is already open. Importing this module
installs ``resolve`` as the resolver of ``PYRONAME:``/``PYROMETA:`` proxies (the client layer
below cannot import it). ``zpyro.namewatch`` keeps a live copy of the names.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from . import client, errors
from .config import config
from .uri import URI, host_port
from .wire import NAMESERVER_ID

_shared: dict[str, Any] = {}  # location -> shared name-server Proxy
_shared_lock = threading.Lock()


def ns_location(host: str | None, port: int | None) -> str:
    """The name server's ``host:port`` (default config NS_HOST:NS_PORT).

    A broker pair has two: `host` may list addresses, comma-separated, each ``HOST`` (on `port`)
    or ``HOST:PORT`` (``"h1,h2"``, ``"h1:9090,h2:9190"``, ``"[::1]:9090,[::1]:9190"``); the result
    is the same list, each with its port (``h1:9090,h2:9190``).
    """
    port = port or config.NS_PORT
    hosts = [h.strip() for h in (host or config.NS_HOST).split(",") if h.strip()]
    return ",".join(_with_port(h, port) for h in hosts) or host_port(config.NS_HOST, port)


def _with_port(host: str, port: int) -> str:
    if host.startswith("[") and "]:" in host or host.count(":") == 1:
        return host  # [ipv6]:port, host:port
    return host_port(host.strip("[]"), port)


def locate_ns(host: str | None = None, port: int | None = None, broadcast: bool = False) -> Any:
    """A proxy for the name server at host:port (default config NS_HOST:NS_PORT), checked alive.

    For a broker pair, `host` lists both (see ``ns_location``): the proxy talks to the active one
    and follows it. Raises NamingError when nothing answers within CONNECT_TIMEOUT. (`broadcast`
    is accepted for Pyro compatibility; zpyro never broadcasts.)
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


def _shared_ns(location: str) -> Any:
    """A name-server proxy for resolving, opened once per location and reused."""
    with _shared_lock:
        proxy = _shared.get(location)
    if proxy is None:
        proxy = locate_ns(location)
        with _shared_lock:
            proxy = _shared.setdefault(location, proxy)
    return proxy


def _ask(location: str | None, question: Callable[[Any], Any]) -> Any:
    """Ask the (shared) name server at `location` (None: the configured one); asked once more
    if its connection broke: the proxy connects anew by itself (and, for a broker pair, to the
    active one). The shared proxy is never released here: other threads may be using it."""
    ns = _shared_ns(location or ns_location(None, None))
    try:
        return question(ns)
    except errors.CommunicationError:
        return question(ns)


def resolve(uri: str | URI, delay_time: float = 0.0) -> URI:
    """The PYRO: URI for a PYRO:, PYRONAME: or PYROMETA: URI (the latter two ask the name server).

    A name not (yet) registered is asked for again until `delay_time` seconds have passed
    (default config NS_LOOKUP_DELAY, 0: no waiting), as Pyro5 does: a client started before
    its server finds it once the server is up.
    """
    uri = URI(uri)
    if uri.protocol == "PYRO":
        return uri
    deadline = time.monotonic() + (delay_time or config.NS_LOOKUP_DELAY)
    while True:
        try:
            return _resolve_once(uri)
        except (errors.NamingError, errors.TimeoutError):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            time.sleep(min(remaining, LOOKUP_RETRY_INTERVAL))


LOOKUP_RETRY_INTERVAL = 0.2  # seconds between lookups of a name that is not there yet


def _resolve_once(uri: URI) -> URI:
    if uri.protocol == "PYRONAME":
        found = _ask(uri.location, lambda ns: ns.lookup(uri.object))
        return URI(found)
    tags = sorted(uri.metadata)
    matches = _ask(uri.location, lambda ns: ns.list(metadata_all=tags, return_metadata=False))
    if not matches:
        raise errors.NamingError(f"no object carries all of the metadata {', '.join(tags)}")
    return URI(random.choice(sorted(matches.values())))


def type_meta(obj: Any) -> set[str]:
    """Pyro's class metadata tags for an object or class (``class:module.Name`` for its MRO)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return {f"class:{k.__module__}.{k.__qualname__}" for k in cls.__mro__ if k is not object}


client.set_resolver(resolve)
