"""The name server inside the caller's process: Pyro's ``startNS`` and its ``NameServerDaemon``.

It is the broker itself (pools, announcements, lookups that wait), served by whichever thread
calls ``requestLoop`` -- or by the caller's own ``select`` loop through ``sockets`` and
``events``, as Pyro's event-loop examples do. Nothing ever broadcasts: clients find it by its
host and port (``NS_HOST``/``NS_PORT``), as they find a ``zpyro-broker``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from zpyro import errors
from zpyro.config import config
from zpyro.security import refuse_hmac
from zpyro.uri import URI, endpoint_to_location
from zpyro.wire import NAMESERVER_ID

from .nameserver import NameServer
from .service import Broker

__all__ = ["NameServerDaemon", "start_ns", "storage_spec"]

log = logging.getLogger("zpyro.broker.inprocess")


def storage_spec(storage: str | None) -> str:
    """Pyro's ``-s``/``storage=`` as a broker storage: ``memory``, ``sql:FILE`` (= ``sqlite:``)."""
    if not storage or storage == "memory":
        return "memory"
    kind, _, path = storage.partition(":")
    if kind in ("sql", "sqlite") and path:
        return f"sqlite:{path}"
    if kind == "dbm":
        raise ValueError("storage dbm: is not supported (it cannot keep metadata): use sql:FILE")
    raise ValueError(f"invalid storage type {storage!r}: use memory or sql:FILE")


class NameServerDaemon:
    """The in-process name server: ``nameserver`` (the NameServer object), ``requestLoop``,
    ``shutdown``, ``close``, and ``sockets``/``events`` for a loop of the caller's own."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        unixsocket: str | None = None,
        nathost: str | None = None,
        natport: int | None = None,
        storage: str | None = None,
        pub_port: int | None = None,
        curve_secret_key: str | None = None,
        curve_allowed_clients: str | None = None,
    ) -> None:
        port = config.NS_PORT if port is None else port
        if pub_port is None:  # next to a well-known port; anywhere free next to a free one
            pub_port = config.NS_PUB_PORT if port else 0
        self.broker = Broker(
            host or config.HOST,
            port,
            pub_port,
            storage_spec(storage),
            curve_secret_key=curve_secret_key,
            curve_allowed_clients=curve_allowed_clients,
            unixsocket=unixsocket,
            nathost=nathost,
            natport=natport,
        )
        self.nameserver: NameServer | None = self.broker.nameserver
        self.locationStr = self.broker.location
        self.natLocationStr = self.broker.nat_location
        self._lock = threading.Lock()
        self._serving = 0  # threads inside requestLoop / events (at most one at a time)
        self._stopped = threading.Event()
        self._stopped.set()
        self._closed = False

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def uri(self) -> URI:
        """The name server's URI as clients use it (the NAT address when there is one)."""
        return URI(self.broker.uri)

    @property
    def pub_location(self) -> str:
        """Where the announcements are published (``host:port`` or ``./u:path``)."""
        return self.broker.pub_location

    def uriFor(self, obj: Any = NAMESERVER_ID, nat: bool = True) -> URI:
        """The URI of the name server (the only object this daemon serves by itself)."""
        if obj not in (NAMESERVER_ID, self.nameserver):
            raise errors.DaemonError(f"unknown object {obj!r}: the name server daemon serves only")
        location = self.broker.advertised if nat else self.broker.location
        return URI(f"PYRO:{NAMESERVER_ID}@{location}")

    uri_for = uriFor

    def bound_ip(self) -> str:
        """The address the name server is bound to (Pyro prints it), or a unix-socket note."""
        endpoint = cast(bytes, self.broker.router.last_endpoint).decode()
        if not endpoint.startswith("tcp://"):
            return "Unix domain socket"
        location = endpoint_to_location(endpoint)
        return str(URI(f"PYRO:x@{location}").host)

    # -- serving -----------------------------------------------------------------------------------

    def requestLoop(self, loopCondition: Callable[[], bool] | None = None) -> None:
        """Serve in this thread until ``shutdown()`` (or `loopCondition()` is false)."""
        self._enter()
        try:
            self.broker.run(loopCondition)
        finally:
            self._leave()

    def request_loop(self, loop_condition: Callable[[], bool] | None = None) -> None:
        self.requestLoop(loop_condition)

    @property
    def sockets(self) -> list[Any]:
        """What a loop of the caller's own waits on (the broker's zmq sockets)."""
        return self.broker.sockets

    def events(self, ready: Any = None) -> None:
        """Handle whatever has arrived, without blocking (`ready` may be anything: all of this
        daemon's sockets are looked at; a zmq socket's fd only signals edges)."""
        self._enter()
        try:
            self.broker.serve_ready()
        finally:
            self._leave()

    def shutdown(self) -> None:
        """End ``requestLoop`` (from any thread, also from a signal handler)."""
        self.broker.stop()

    def close(self) -> None:
        """Stop serving (waits, bounded, for a ``requestLoop`` in another thread to end) and
        release the sockets and the storage."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.broker.stop()
        if not self._stopped.wait(max(5.0, 4 * config.POLL_TIMEOUT)):
            log.warning("the name server loop did not stop; closing its sockets anyway")
        self.broker.close()
        self.nameserver = None

    def __enter__(self) -> NameServerDaemon:
        if self._closed:
            raise errors.DaemonError("this name server daemon is closed")
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _enter(self) -> None:
        with self._lock:
            if self._closed:
                raise errors.DaemonError("this name server daemon is closed")
            if self._serving:
                raise errors.DaemonError("the name server is already being served by a thread")
            self._serving += 1
            self._stopped.clear()

    def _leave(self) -> None:
        with self._lock:
            self._serving -= 1
            self._stopped.set()


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
) -> tuple[URI, NameServerDaemon, None]:
    """Pyro's ``startNS``: ``(uri, daemon, None)``; serve it with ``daemon.requestLoop()`` (a
    thread) or ``sockets``/``events``. There is never a broadcast server: zpyro never
    broadcasts (`enableBroadcast`, `bchost`, `bcport` change nothing, and say so in the log)."""
    refuse_hmac(hmac)
    if enableBroadcast or bchost or bcport:
        log.info("no broadcast server: zpyro never broadcasts (clients use NS_HOST/NS_PORT)")
    daemon = NameServerDaemon(host, port, unixsocket, nathost, natport, storage)
    return daemon.uri, daemon, None
