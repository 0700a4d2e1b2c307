"""Finding objects by name: ``locate_ns`` and ``resolve``.

The name server is the object ``Pyro.NameServer`` that the broker (``zpyro-broker``) serves.
Name-server proxies are kept per location and shared (proxies are thread-safe), so resolving a
``PYRONAME:`` costs one round trip on a connection that is already open. Importing this module
installs ``resolve`` as the resolver of ``PYRONAME:``/``PYROMETA:`` proxies (the client layer
below cannot import it). ``zpyro.namewatch`` keeps a live copy of the names.

The rest of Pyro's ``naming`` -- ``startNS``, Pyro5's ``lookup`` with ``delay_time``, ... -- is in
:mod:`zpyro.naming.pyro`, and ``python -m zpyro.naming`` starts the name server (``zpyro-ns``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from .. import client, errors
from ..config import config
from ..security import hmac_refusal
from ..uri import URI, host_port
from ..wire import NAMESERVER_ID
from .pyro import (
    __getattr__,  # noqa: F401 - the module-level hook: Pyro's name-server classes
    lookup,
    main,
    start_ns,
    start_ns_loop,
    startNS,
    startNSloop,
    type_meta,
    yplookup,
)

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
    """The name server's ``host:port`` (default config NS_HOST:NS_PORT).

    A broker pair has two: `host` may list addresses, comma-separated, each ``HOST`` (on `port`)
    or ``HOST:PORT`` (``"h1,h2"``, ``"h1:9090,h2:9190"``, ``"[::1]:9090,[::1]:9190"``); the result
    is the same list, each with its port (``h1:9090,h2:9190``).
    A unix-socket or inproc location (``./u:PATH``, as Pyro's nsc ``-u`` makes it) is the whole
    location.
    """
    if host and host.startswith(("./u:", "./inproc:")):
        return host
    port = port or config.NS_PORT
    hosts = [h.strip() for h in (host or config.NS_HOST).split(",") if h.strip()]
    return ",".join(_with_port(h, port) for h in hosts) or host_port(config.NS_HOST, port)


def _with_port(host: str, port: int) -> str:
    if host.startswith("[") and "]:" in host or host.count(":") == 1:
        return host  # [ipv6]:port, host:port
    return host_port(host.strip("[]"), port)


def locate_ns(
    host: str | None = None,
    port: int | None = None,
    broadcast: bool = False,
    hmac_key: bytes | str | None = None,
) -> Any:
    """A proxy for the name server at host:port (default config NS_HOST:NS_PORT), checked alive.

    For a broker pair, `host` lists both (see ``ns_location``): the proxy talks to the active one
    and follows it. Raises NamingError when nothing answers within CONNECT_TIMEOUT. (`broadcast`
    is accepted for Pyro compatibility; zpyro never broadcasts. Pyro4's `hmac_key` is refused:
    use CURVE.)
    """
    if hmac_key is not None:
        raise errors.SecurityError(hmac_refusal("locateNS(hmac_key=...)"))
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


def resolve(uri: str | URI, delay_time: float = 0.0, hmac_key: bytes | str | None = None) -> URI:
    """The PYRO: URI for a PYRO:, PYRONAME: or PYROMETA: URI (the latter two ask the name
    server, waiting up to `delay_time` -- default config NS_LOOKUP_DELAY -- for a match).

    Pyro4's `hmac_key` (Pyro4's second argument) is refused: use CURVE."""
    if isinstance(delay_time, (bytes, str)):  # Pyro4's resolve(uri, hmac_key)
        hmac_key = delay_time
    if hmac_key is not None:
        raise errors.SecurityError(hmac_refusal("resolve(hmac_key=...)"))
    uri = URI(uri)
    if uri.protocol == "PYRO":
        return uri
    if uri.protocol == "PYRONAME":
        found = _ask(uri.location, lambda ns: lookup(ns, uri.object, delay_time=delay_time))
        return URI(found)
    tags = sorted(uri.metadata)
    matches = _ask(
        uri.location,
        lambda ns: yplookup(ns, tags, None, return_metadata=False, delay_time=delay_time),
    )
    if not matches:
        raise errors.NamingError(f"no object carries all of the metadata {', '.join(tags)}")
    return URI(random.choice(sorted(matches.values())))


client.set_resolver(resolve)
