"""The broker's callers as their daemons need to know them: their handshakes and their going.

* A caller's connection handshake for a pool whose daemons validate handshakes is kept and
  passed on to each daemon of the pool before the caller's first call there
  (:mod:`broker.handshakes`).
* A caller leaves by its ``release_session``, or its connection closes without one (its process
  died, say), noticed with the same peer watch a daemon uses (:class:`zpyro.peers.PeerWatch`).
  Either way :meth:`Callers.release` is the one place that lets it go: its daemons are told
  (they drop its session instances and streams and call their ``clientDisconnect``), its kept
  handshake, session affinity (broker/sessions.py) and owed credit are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import zmq

from zpyro import wire
from zpyro.credit import CreditLedger
from zpyro.peers import PeerWatch, recv_new_fd
from zpyro.security import ROUTE_KEY_MARK
from zpyro.serializers import BY_ID
from zpyro.wire import DAEMON_OBJECT_ID, JSON_ID, RELEASE_SESSION

from .handshakes import Handshakes
from .pools import Pools

_NOBLOCK = int(zmq.NOBLOCK)


def release_frames() -> list[Any]:
    """A oneway ``Pyro.Daemon.release_session()``, as a departing proxy sends it."""
    payload, _ = BY_ID[JSON_ID].dumps([[], {}])
    return wire.encode(
        wire.CALL, wire.FLAG_ONEWAY, JSON_ID, 0, DAEMON_OBJECT_ID, RELEASE_SESSION, payload
    )


def replay_frames(body: list[Any], msg: wire.Message) -> list[Any]:
    """A caller's handshake as the broker passes it on: oneway, call id 0, data untouched."""
    header = wire.encode_header(
        msg.kind, msg.flags | wire.FLAG_ONEWAY, msg.serializer_id, 0, msg.object_id, msg.method
    )
    return [body[0], header, *body[2:]]


class Callers:
    def __init__(
        self,
        router: zmq.Socket[bytes],
        pools: Pools,
        credit: CreditLedger,
        send: Callable[[list[Any]], None],
        client_keys: dict[bytes, bytes],
        secure: bool,
    ) -> None:
        self.watch = PeerWatch(router)
        self.handshakes = Handshakes()
        self._pools = pools
        self._credit = credit
        self._send = send
        self._client_keys = client_keys  # CURVE: connection identity -> key (the broker's)
        self._secure = secure  # routes carry the caller's CURVE key (docs/BROKER.md)

    @property
    def monitor(self) -> zmq.Socket[bytes]:
        assert self.watch.monitor is not None  # (monitored from the start)
        return self.watch.monitor

    def recv(self, router: zmq.Socket[bytes]) -> list[bytes]:
        """One message (zmq.Again when there is none); a new peer's connection is noted."""
        frames, fd = recv_new_fd(router, self.watch.known, _NOBLOCK)
        if fd is not None:
            self.departed(self.watch.note_fd(frames[0], fd))
        return frames

    def note(self, peer: bytes, frame: Any) -> list[bytes]:
        """Note a peer's connection from its message's frame; peers found gone meanwhile."""
        return self.watch.note(peer, frame)

    def gone(self) -> list[bytes]:
        """Peers whose connections closed (callers and daemons alike)."""
        return self.watch.gone()

    def departed(self, peers: list[bytes]) -> None:
        """Peers whose connections closed: the callers among them are released."""
        for peer in peers:
            if peer in self._pools.daemons:
                continue  # a daemon: its heartbeats tell
            if self._secure:
                key = self._client_keys.pop(peer, None) or b"\0" * 40
                self.release(ROUTE_KEY_MARK + key + peer)
            else:
                self.release(peer)

    def release(self, route: bytes) -> None:
        """A caller left (its route: as its daemons know it): every daemon drops what it held
        (their replies, DONE for a call not in flight, are dropped as unknown), its calls to
        session-mode pools are free to start new sessions, nothing is owed to it."""
        self.handshakes.forget(route)
        frames = release_frames()
        for ident in list(self._pools.daemons):
            self._send([ident, route, *frames])
        self._pools.sessions.release(route)
        self._credit.forget(route[41:] if self._secure else route)

    def close(self) -> None:
        self.watch.close()
