"""Where a request goes: names from a live NameWatcher copy, one shared aio.Proxy per URI.

No name-server round trip per request: the names come from ``zpyro.NameWatcher``, which the
broker's announcements keep current. Each URI gets one ``zpyro.aio.Proxy``, shared by every
request for it; its calls are pipelined on one connection. A proxy whose name moved elsewhere
is released once the calls it may still carry have had their time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import zpyro
from zpyro import aio, announce, errors
from zpyro.config import config
from zpyro.naming import ns_location
from zpyro.wire import DAEMON_OBJECT_ID

log = logging.getLogger("zpyro.gateway")

BROKER_DAEMON = DAEMON_OBJECT_ID  # the broker's own object answers pools() (docs/BROKER.md)
_RETRY_START = 2.0  # seconds between tries to reach the name server before the first snapshot
_SWEEP_SECONDS = 30.0  # how often proxies of URIs no name points to any more are looked for
_UNUSED_GRACE = 60.0  # at least this long unreferenced (and past the call timeout) before release


class NotReady(errors.CommunicationError):
    """The gateway has no copy of the names yet: the name server has not been reached."""


class Targets:
    """Names -> URIs (from the watcher) -> shared proxies."""

    def __init__(
        self,
        ns_host: str | None,
        ns_port: int | None,
        ns_pub_port: int | None,
        timeout: float | None,
        serializer: str,
        on_event: Callable[[announce.Announcement], Any] | None = None,
    ) -> None:
        self.ns_host = ns_host or config.NS_HOST
        self.ns_port = ns_port or config.NS_PORT
        # None: the watcher's default (NS_PUB_PORT; a broker pair's brokers say their own)
        self.ns_pub_port = ns_pub_port
        self.timeout = timeout
        self.serializer = serializer
        self._on_event = on_event
        self._watcher: zpyro.NameWatcher | None = None
        self._uris: dict[str, str] = {}  # name -> uri text; emptied on every announcement
        self._proxies: dict[str, aio.Proxy] = {}  # uri text -> its one shared proxy
        self._unused_since: dict[str, float] = {}  # uri text -> when no name pointed to it
        self._started: asyncio.Task[None] | None = None
        self.first_attempt = asyncio.Event()  # set once the name server was tried (either way)
        self._closing = False
        self.last_alive: float | None = None  # monotonic time of the last broker.alive
        self.start_error: str | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin reaching the name server in the background (idempotent; needs a running loop)."""
        if self._started is None and not self._closing:
            self._started = asyncio.get_running_loop().create_task(self._start_watcher())

    async def _start_watcher(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            watcher = zpyro.NameWatcher(
                self.ns_host, self.ns_port, self.ns_pub_port, on_event=self._announced
            )
            try:
                await loop.run_in_executor(None, watcher.start)
            except Exception as exc:  # not reachable yet: say so in 503s, try again
                self.start_error = f"{type(exc).__name__}: {exc}"
                log.warning("name server at %s not reachable: %s", self.location, exc)
                self.first_attempt.set()
                await asyncio.sleep(_RETRY_START)
                continue
            if self._closing:
                watcher.close()
                return
            self._watcher, self.start_error = watcher, None
            self.last_alive = time.monotonic()
            log.info("names from the name server at %s (epoch %s)", self.location, watcher.epoch)
            self.first_attempt.set()
            break
        while not self._closing:
            await asyncio.sleep(_SWEEP_SECONDS)
            self.sweep(time.monotonic())

    async def close(self) -> None:
        self._closing = True
        if self._started is not None and not self._started.done():
            self._started.cancel()
        watcher, self._watcher = self._watcher, None
        proxies, self._proxies = list(self._proxies.values()), {}
        loop = asyncio.get_running_loop()
        if watcher is not None:
            await loop.run_in_executor(None, watcher.close)
        for proxy in proxies:
            proxy._pyroRelease()

    def _announced(self, ann: announce.Announcement) -> None:
        """Watcher thread: the copy changed (or was re-taken): forget the URIs looked up."""
        if ann.kind == announce.BROKER_ALIVE:
            self.last_alive = time.monotonic()
        self._uris = {}  # a rebind: the loop thread reads either the old or the new dict
        if self._on_event is not None:
            self._on_event(ann)

    # -- names ------------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return ns_location(self.ns_host, self.ns_port)  # (a broker pair: both addresses)

    @property
    def ready(self) -> bool:
        return self._watcher is not None

    def watcher(self) -> zpyro.NameWatcher:
        watcher = self._watcher
        if watcher is None:
            why = f" ({self.start_error})" if self.start_error else ""
            raise NotReady(f"the name server at {self.location} has not been reached yet{why}")
        return watcher

    def uri_of(self, name: str) -> str:
        """The URI registered as `name`; NamingError when unknown, NotReady before a snapshot."""
        uris = self._uris  # this dict: a change meanwhile replaces it, dropping what we add
        uri = uris.get(name)
        if uri is None:
            uri = uris[name] = str(self.watcher().lookup(name))
        return uri

    def names(self, exposed: re.Pattern[str] | None) -> dict[str, tuple[str, set[str]]]:
        return {
            name: entry
            for name, entry in self.watcher().names().items()
            if exposed is None or exposed.match(name)
        }

    # -- proxies ----------------------------------------------------------------------------------

    def proxy(self, uri: str) -> aio.Proxy:
        proxy = self._proxies.get(uri)
        if proxy is None:
            proxy = self._proxies[uri] = aio.Proxy(uri)
            proxy._pyroSerializer = self.serializer
            proxy._pyroTimeout = self.timeout
        return proxy

    def sweep(self, now: float) -> int:
        """Release proxies no name has pointed to for a while (a name moved, a daemon left);
        the calls such a proxy may still carry have had their time by then. How many went."""
        watcher = self._watcher
        if watcher is None:
            return 0
        used = {uri for uri, _ in watcher.names().values()}
        grace = max(_UNUSED_GRACE, self.timeout or 0.0)
        released = 0
        for uri in list(self._proxies):
            if uri in used or uri.startswith(f"PYRO:{BROKER_DAEMON}@"):
                self._unused_since.pop(uri, None)
                continue
            since = self._unused_since.setdefault(uri, now)
            if now - since >= grace:
                self._proxies.pop(uri)._pyroRelease()
                del self._unused_since[uri]
                released += 1
        return released

    async def connected(self, uri: str) -> aio.Proxy:
        """The shared proxy for `uri`, connected and with its metadata."""
        proxy = self.proxy(uri)
        await proxy._pyroConnect()
        return proxy

    async def broker_pools(self) -> dict[str, Any]:
        """The broker's ``Pyro.Daemon.pools()`` (the name server is the broker)."""
        proxy = await self.connected(f"PYRO:{BROKER_DAEMON}@{self.location}")
        pools: dict[str, Any] = await proxy.pools()
        return pools
