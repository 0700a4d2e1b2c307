"""The broker's callers as their daemons need to know them: their handshakes and their going.

* A caller's connection handshake for a pool whose daemons validate handshakes is kept and
  passed on to each daemon of the pool before the caller's first call there
  (:mod:`broker.handshakes`).
* A caller whose connection closes without a goodbye (its process died, say) is noticed with
  the same peer watch a daemon uses (:class:`zpyro.peers.PeerWatch`): its daemons are told, as
  if it had sent ``release_session``, so they drop its session instances and streams and call
  their ``clientDisconnect``.
"""

from __future__ import annotations

from typing import Any

import zmq

from zpyro import wire
from zpyro.peers import PeerWatch, recv_noting_new
from zpyro.serializers import BY_ID
from zpyro.wire import DAEMON_OBJECT_ID, JSON_ID, RELEASE_SESSION

from .handshakes import Handshakes


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
    def __init__(self, router: zmq.Socket[bytes]) -> None:
        self.watch = PeerWatch(router)
        self.handshakes = Handshakes()

    @property
    def monitor(self) -> zmq.Socket[bytes]:
        return self.watch.monitor

    def recv(self, router: zmq.Socket[bytes]) -> list[bytes]:
        """One message (zmq.Again when there is none); a new peer's connection is noted."""
        frames, last = recv_noting_new(router, self.watch.known)
        if last is not None:
            self.note(frames[0], last)
        return frames

    def note(self, peer: bytes, frame: Any) -> list[bytes]:
        """Note a peer's connection from its message's frame; peers found gone meanwhile."""
        return self.watch.note(peer, frame) if peer not in self.watch.known else []

    def gone(self) -> list[bytes]:
        """Peers whose connections closed (callers and daemons alike)."""
        return self.watch.gone()

    def forget(self, route: bytes) -> None:
        self.handshakes.forget(route)

    def close(self) -> None:
        self.watch.close()
