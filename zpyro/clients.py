"""A daemon's clients as Pyro's connection hooks see them.

Pyro hands its hooks one ``conn`` object per client connection: ``validateHandshake(conn,
data)``, ``clientDisconnect(conn)``, ``current_context.client`` (with ``tracked_resources``).
zpyro has no socket per client: a client is its connection identity (the ROUTER's peer id, or
on a brokered daemon the caller's route through the broker). :class:`ClientConnection` stands
in for Pyro's conn, made on first need, so a daemon that uses none of the hooks keeps nothing
per client.

A daemon whose ``validateHandshake`` is overridden is *gated*: a client's calls are served only
after its handshake passed (docs/PROTOCOL.md, "Handshake"). Calls that arrive while the
handshake is still being validated (the broker sends a caller's handshake to a daemon right
before its first call there) are held and handed back when it is settled.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, NoReturn

from .errors import CommunicationError, HandshakeError

log = logging.getLogger("zpyro.server")

_NEW, _PENDING, _VALID, _REFUSED = range(4)
PARKED = object()  # Clients.admit: the message is held until the handshake is settled

NO_HANDSHAKE = (
    "connection rejected: no handshake was made on this connection, and this daemon validates "
    "every connection's handshake (connect again)"
)


class ClientConnection:
    """One client connection (Pyro's ``conn``): hashable, the same object for all its calls."""

    __slots__ = ("identity", "sock_addr", "tracked_resources", "_state", "_refusal", "_parked")

    def __init__(self, identity: bytes, sock_addr: Any = None) -> None:
        self.identity = identity  # the ROUTER's peer id, or a brokered caller's route
        self.sock_addr = sock_addr  # (host, port) for tcp, a path or '' for ipc; None unknown
        # resources closed when the client goes (current_context.track_resource); weak, as Pyro
        self.tracked_resources: weakref.WeakSet[Any] = weakref.WeakSet()
        self._state = _NEW
        self._refusal: BaseException | None = None
        self._parked: list[list[Any]] = []

    @property
    def sock(self) -> NoReturn:
        raise AttributeError(
            "zpyro has no socket per client connection (ZeroMQ owns the sockets): use "
            "current_context.client_sock_addr for the client's address"
        )

    def close_resources(self) -> None:
        """Close what is still tracked, as Pyro does when a connection goes (errors logged)."""
        for resource in list(self.tracked_resources):
            try:
                resource.close()
            except Exception as exc:
                log.warning("closing tracked resource %r of a departed client: %s", resource, exc)
        self.tracked_resources.clear()

    def __repr__(self) -> str:
        return f"<zpyro.ClientConnection {self.identity.hex()} from {self.sock_addr!r}>"


class Clients:
    """identity -> ClientConnection, for one daemon; thread-safe."""

    def __init__(
        self,
        address: Callable[[bytes], Any],
        on_disconnect: Callable[[ClientConnection], None] | None = None,
        gated: bool = False,
    ) -> None:
        self._address = address  # identity -> the peer's address (or None)
        self._on_disconnect = on_disconnect
        self.gated = gated
        # every client needs a record from its first message on: the gate's state, or the
        # conn clientDisconnect gets (the same object its other hooks saw)
        self.hooked = gated or on_disconnect is not None
        self._conns: dict[bytes, ClientConnection] = {}
        self._lock = threading.Lock()
        # a resource was tracked (current_context.track_resource): the daemon must see its
        # client go, goodbye or not (on_tracking: the daemon starts watching)
        self.tracking = False
        self.on_tracking: Callable[[], None] | None = None

    def start_tracking(self) -> None:
        if not self.tracking:
            self.tracking = True
            if self.on_tracking is not None:
                self.on_tracking()

    def __len__(self) -> int:
        return len(self._conns)

    def address(self, identity: bytes) -> Any:
        return self._address(identity)

    def connection(self, identity: bytes) -> ClientConnection:
        """The client's record, made now if it has none yet."""
        conn = self._conns.get(identity)
        if conn is None:
            with self._lock:
                conn = self._conns.get(identity)
                if conn is None:
                    conn = self._conns[identity] = ClientConnection(
                        identity, self._address(identity)
                    )
        return conn

    # -- the gate -------------------------------------------------------------------------------

    def admit(self, identity: bytes, frames: list[Any]) -> object:
        """A call from `identity` (hooked daemons): None to serve it, PARKED when held for its
        handshake, or the exception to refuse it with."""
        conn = self._conns.get(identity)
        if conn is not None and conn._state == _VALID:
            return None
        if not self.gated:
            self.connection(identity)
            return None
        with self._lock:
            conn = self._conns.get(identity)
            if conn is None or conn._state == _NEW:
                return HandshakeError(NO_HANDSHAKE)
            if conn._state == _PENDING:
                conn._parked.append(frames)
                return PARKED
            if conn._state == _VALID:
                return None
            return conn._refusal

    def begin_handshake(self, identity: bytes) -> ClientConnection:
        """A handshake arrived: until it is settled, the client's calls are held."""
        conn = self.connection(identity)
        with self._lock:
            conn._state = _PENDING
        return conn

    def settle(self, conn: ClientConnection, refusal: BaseException | None) -> list[list[Any]]:
        """The handshake's verdict (None: valid); returns the calls held meanwhile."""
        if refusal is not None and not isinstance(refusal, CommunicationError):
            refusal = HandshakeError(f"connection rejected: {refusal}")
        with self._lock:
            conn._state = _VALID if refusal is None else _REFUSED
            conn._refusal = refusal
            parked, conn._parked = conn._parked, []
            if self._conns.get(conn.identity) is not conn:  # released meanwhile
                return []
        return parked

    # -- departures -----------------------------------------------------------------------------

    def release(self, identity: bytes) -> None:
        """The client went away: clientDisconnect(conn) (if it was admitted), then its tracked
        resources closed."""
        with self._lock:
            conn = self._conns.pop(identity, None)
        if conn is None:
            return
        # as Pyro: a connection whose handshake never passed was never connected
        if self._on_disconnect is not None and (not self.gated or conn._state == _VALID):
            try:
                self._on_disconnect(conn)
            except Exception:
                log.exception("clientDisconnect(%r) raised", conn)
        conn.close_resources()

    def release_all(self) -> None:
        for identity in list(self._conns):
            self.release(identity)
