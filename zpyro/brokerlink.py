"""A brokered daemon's connection to its broker: READY, heartbeats, noticing a new broker.

The daemon binds nothing: it connects this DEALER out to the broker's ROUTER. What the broker
forwards arrives as ``[route, signature, header, ...]``, which is exactly what a ROUTER hands a
daemon (``[peer, signature, header, ...]``), so the daemon's request loop serves it unchanged and
its replies find their way back through the broker. Control messages have an empty route. The
owner thread of the daemon's sockets calls ``tick`` and ``on_control``; they return frames for it
to send, so this class never touches the socket after setting it up, except to dial the broker
anew when it has been silent (``tick``, in that same thread). See docs/BROKER.md.

A broker pair (``broker="tcp://h1:p1,h2:p2"``, or learned from the PONGs of one of them): the
link is connected to one broker at a time. When a broker that is not active says which one is
(its PONG), the daemon moves there; when its broker goes silent, it moves to the next one (and
does not go back to the silent one for a heartbeat timeout). Either way it says READY at once,
so its pools form on the active broker. Its messages never make a passive broker take over:
only callers do (docs/BROKER.md, "Broker pair").
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from . import errors, wire
from .config import config
from .metadata import through_broker
from .naming import ns_location
from .security import server_public
from .sockets import can_read, connect, dealer
from .uri import URI, endpoint_to_location

log = logging.getLogger("zpyro.brokerlink")

BYE_LINGER_MS = 200  # a closing daemon's BYE still gets out


def broker_endpoints(broker: str | bool) -> list[str]:
    """`broker=True` -> the configured name server (NS_HOST may list a pair); else a tcp://
    endpoint, ``host:port``, a PYRO URI, or a pair of addresses ``host:port,host:port``."""
    if broker is True:
        broker = ns_location(None, None)
    if not isinstance(broker, str) or not broker:
        raise errors.DaemonError(f"broker must be True or 'tcp://host:port', not {broker!r}")
    if broker.upper().startswith("PYRO"):
        text = broker
    else:  # tcp://h1:p1,tcp://h2:p2 or h1:p1,h2:p2 (ipc://... stays whole: a path may hold ",")
        if "://" in broker and not broker.startswith("tcp://"):
            return [broker]
        text = "PYRO:x@" + ",".join(p.strip().removeprefix("tcp://") for p in broker.split(","))
    try:
        endpoints = URI(text).endpoints
    except errors.ZPyroError as exc:
        raise errors.DaemonError(f"bad broker address {broker!r}: {exc}") from None
    if not endpoints:
        raise errors.DaemonError(f"broker URI {broker!r} has no location")
    return list(endpoints)


class BrokerLink:
    def __init__(self, broker: str | bool, describe: Callable[[], dict[str, Any]]) -> None:
        self.endpoints = broker_endpoints(broker)  # a pair: both (more may be learned)
        self.endpoint = self.endpoints[0]  # the one connected to
        # where the daemon's objects live (URIs): every broker given
        self.location = ",".join(endpoint_to_location(e) for e in self.endpoints)
        self.identity = b"D" + os.urandom(16)
        self.route = self.identity.hex()  # how streams of this daemon are addressed
        self._describe = describe  # -> the READY payload
        # (no high-water marks: replies queue while the broker is away, never dropped)
        server_key = server_public()  # a CURVE broker: we are one of its clients
        self.secure = server_key is not None  # then routes carry callers' keys
        self.socket, _ = dealer(
            self.endpoint, server_key, errors.DaemonError, routing_id=self.identity
        )
        self.epoch: int | None = None
        self.interval = max(0.05, config.HEARTBEAT_INTERVAL)
        self.timeout = max(self.interval, config.HEARTBEAT_TIMEOUT)
        self._next_ping = 0.0
        self._last_heard = time.monotonic()
        self._lost = False
        self._next_redial = 0.0
        self._avoid: dict[str, float] = {}  # a pair: endpoint -> until when not to go back to it
        self.attached = threading.Event()  # set once the broker has taken our READY
        # what callers get through the broker (its PONG): its credit window, its size limit
        self.credit: int | None = None
        self.max_message_size = 0  # 0: no limit of its own

    # -- frames for the owner thread to send --------------------------------------------------------

    def ready(self) -> list[Any]:
        return self._control(wire.READY, json.dumps(self._describe()).encode())

    def bye(self) -> list[Any]:
        return self._control(wire.BYE)

    def done(self, msg: wire.Message) -> list[Any]:
        """For a call that sends no reply: tell the broker it finished (the route is added by
        the daemon's reply path, as for any reply)."""
        return wire.encode(wire.DONE, 0, 0, msg.call_id, "", "")

    def tick(self, now: float) -> list[Any] | None:
        """A PING when one is due (the broker's PONG tells us it is alive and its epoch)."""
        if now - self._last_heard > self.timeout:
            if len(self.endpoints) > 1:  # a pair: the other broker
                log.warning("broker %s silent for %.1f s", self.endpoint, self.timeout)
                self._avoid[self.endpoint] = now + self.timeout
                self._move(self._next_endpoint(), now)
            else:
                if not self._lost:
                    self._lost = True
                    log.warning(
                        "broker %s silent for %.1f s; still trying", self.endpoint, self.timeout
                    )
                self._redial(now)
        if now < self._next_ping:
            return None
        self._next_ping = now + self.interval
        return self._control(wire.PING)

    def _redial(self, now: float) -> None:
        """While the broker is silent, a fresh connection once per timeout (owner thread only).

        After a network cut libzmq reconnects by itself, but if the broker's side of the old
        connection has not timed out yet, its ROUTER ignores the new one (same routing id) for
        as long as the new one lives: we would never be heard again. Dialling anew after the
        old one is gone gets through. Only when nothing waits to be read: silent that long, the
        broker has declared us dead, so what the old pipe still queues is of no use to it.
        """
        if now < self._next_redial or can_read(self.socket):
            return
        self._next_redial = now + self.timeout
        try:
            self.socket.disconnect(self.endpoint)
        except zmq.ZMQError:
            pass  # not connected just now: connecting is all there is to do
        try:
            self.socket.connect(self.endpoint)
        except zmq.ZMQError as exc:  # next time, then; the request loop must go on
            log.warning("cannot dial broker %s again: %s", self.endpoint, exc)

    def _next_endpoint(self) -> str:
        at = self.endpoints.index(self.endpoint) if self.endpoint in self.endpoints else -1
        return self.endpoints[(at + 1) % len(self.endpoints)]

    def _move(self, endpoint: str, now: float) -> None:
        """Leave our broker for `endpoint` (owner thread only): BYE, connect, READY at once."""
        log.warning("moving from broker %s to %s", self.endpoint, endpoint)
        try:
            self.socket.send_multipart(self.bye(), zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # gone: it will notice our silence
        try:
            self.socket.disconnect(self.endpoint)
        except zmq.ZMQError:
            pass
        self.endpoint = endpoint
        self.epoch = None  # its PONG to our READY is the first answer again
        self._last_heard = now  # a full timeout for the new one
        try:
            connect(self.socket, endpoint)  # (an IPv6 one needs the socket told)
            self.socket.send_multipart(self.ready(), zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the next tick tries again
            log.warning("cannot reach broker %s: %s", endpoint, exc)

    def _follow(self, pair: Any, now: float) -> None:
        """A PONG said how the pair stands: learn its addresses; go where the active one is."""
        if not isinstance(pair, dict):
            return
        for location in pair.get("locations") or ():
            endpoint = f"tcp://{location}"
            if isinstance(location, str) and endpoint not in self.endpoints:
                self.endpoints.append(endpoint)
        active = pair.get("active")
        if pair.get("state") == wire.PAIR_ACTIVE or not isinstance(active, str) or not active:
            return
        target = f"tcp://{active}"
        if target != self.endpoint and self._avoid.get(target, 0.0) <= now:
            self._move(target, now)

    @property
    def next_ping(self) -> float:
        """When the next tick is due (time.monotonic())."""
        return self._next_ping

    def on_control(self, body: list[Any]) -> list[Any] | None:
        """A control message from the broker; frames to answer with, if any."""
        try:
            msg = wire.decode(body)
            info = json.loads(bytes(msg.payload)) if msg.payload else {}
        except (errors.ProtocolError, ValueError) as exc:
            log.warning("bad control message from broker %s: %s", self.endpoint, exc)
            return None
        self._last_heard = time.monotonic()
        if self._lost:
            self._lost = False
            log.warning("broker %s answers again", self.endpoint)
        if msg.kind != wire.PONG or not isinstance(info, dict):
            log.warning("unexpected control message kind %d from broker", msg.kind)
            return None
        if "pair" in info:
            endpoint = self.endpoint
            self._follow(info["pair"], self._last_heard)
            if self.endpoint != endpoint:
                return None  # moved: READY already sent to the active broker
        epoch, known = info.get("epoch"), bool(info.get("known", True))
        self._note_terms(info)
        if self.epoch is None and known:  # the answer to our first READY
            self.epoch = epoch
            self.attached.set()
            return None
        if epoch != self.epoch or not known:
            if self.epoch is not None:
                log.warning(
                    "broker %s restarted (epoch %s): registering again", self.endpoint, epoch
                )
            self.epoch = epoch
            return self.ready()
        self.attached.set()
        return None

    def _note_terms(self, info: dict[str, Any]) -> None:
        credit, limit = info.get(wire.META_CREDIT), info.get("max_message_size")
        self.credit = credit if type(credit) is int and credit > 0 else None
        self.max_message_size = limit if type(limit) is int and limit > 0 else 0

    def brokered(self, meta: dict[str, Any]) -> dict[str, Any]:
        """An object's metadata as its callers get it through the broker (what a handshake
        this daemon answers carries): the broker's credit window and size limit."""
        return through_broker(meta, self.credit, self.max_message_size)

    def close(self, bye: bool) -> None:
        if bye:
            try:
                self.socket.send_multipart(self.bye(), zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        self.socket.close(linger=BYE_LINGER_MS if bye else 0)

    def _control(self, kind: int, payload: bytes = b"") -> list[Any]:
        return [b"", *wire.encode(kind, 0, wire.JSON_ID if payload else 0, 0, "", "", payload)]
