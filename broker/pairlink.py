"""The sockets between the two brokers of a pair, apart from the ones clients use.

Each broker binds a PULL (its *pair endpoint*, ``--pair``) and connects a PUSH to its peer's
(``--peer``): what a broker says goes out on its PUSH and arrives on the peer's PULL, so the
heartbeats never wait behind calls queued on the call port. A message is two frames,
``wire.PAIR_SIGNATURE`` and a JSON object with a ``kind`` (docs/BROKER.md, "Broker pair").

The PUSH sends only over a finished connection (``immediate``) and never blocks: a message the
peer cannot take now is dropped and :meth:`send` says so (heartbeats come again; names are sent
again in full when the two meet anew). ZMTP heartbeats drop a connection to a peer that went
silent, so nothing stale is kept for it. With CURVE the two share one key pair (clients expect
one server key): the PULL is a CURVE server that lets in that key only (a caller who knows the
public key must not speak for the peer), the PUSH a client with that same key pair.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import zmq

from zpyro import errors, wire
from zpyro.security import Keys, apply_server
from zpyro.sockets import apply_heartbeat, bind, connect, context

__all__ = ["PairLink", "pair_endpoint"]

log = logging.getLogger("zpyro.broker.pair")

SEND_HWM = 10_000  # messages queued for a slow peer before send() reports a drop


def pair_endpoint(text: str) -> str:
    """``HOST:PORT`` -> ``tcp://HOST:PORT``; a full endpoint (``tcp://``, ``ipc://``) as it is."""
    if "://" in text:
        return text
    if not text or ":" not in text:
        raise errors.CommunicationError(f"a pair address is HOST:PORT or an endpoint, not {text!r}")
    return f"tcp://{text}"


class PairLink:
    def __init__(self, listen: str, peer: str, keys: Keys | None = None) -> None:
        ctx = context()
        self.inbox = ctx.socket(zmq.PULL)
        self.outbox = ctx.socket(zmq.PUSH)
        self.peer = pair_endpoint(peer)
        try:
            for sock in (self.inbox, self.outbox):
                sock.linger = 0
                apply_heartbeat(sock)
            self.outbox.immediate = 1
            self.outbox.sndhwm = SEND_HWM
            if keys is not None:
                apply_server(self.inbox, ctx, keys, allowed_keys={keys[0]})
                self.outbox.curve_publickey, self.outbox.curve_secretkey = keys
                self.outbox.curve_serverkey = keys[0]
            self.endpoint = bind(self.inbox, pair_endpoint(listen), errors.CommunicationError)
            connect(self.outbox, self.peer)
        except zmq.ZMQError as exc:
            self.close()
            raise errors.CommunicationError(f"cannot set up the pair link to {peer}: {exc}")
        except BaseException:
            self.close()
            raise

    def send(self, kind: str, body: dict[str, Any]) -> bool:
        """Send one message to the peer; False when it was dropped (no connection, or full)."""
        frame = json.dumps({"kind": kind, **body}, separators=(",", ":")).encode()
        try:
            self.outbox.send_multipart([wire.PAIR_SIGNATURE, frame], zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def recv(self) -> dict[str, Any] | None:
        """The next message from the peer, None when there is none; a malformed one is logged
        and dropped (the next message is looked at on the next call)."""
        try:
            frames = self.inbox.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None
        try:
            if len(frames) != 2 or frames[0] != wire.PAIR_SIGNATURE:
                raise ValueError("not a pair message")
            body = json.loads(frames[1])
            if not isinstance(body, dict) or body.get("kind") not in wire.PAIR_KINDS:
                raise ValueError(
                    f"unknown kind {body.get('kind') if isinstance(body, dict) else body!r}"
                )
        except ValueError as exc:
            log.warning("malformed message on the pair link dropped: %s", exc)
            return {}
        return body

    def close(self, linger_ms: int = 0) -> None:
        self.inbox.close(linger=0)
        self.outbox.close(linger=linger_ms)
