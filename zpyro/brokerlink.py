"""A brokered daemon's connection to its broker: READY, heartbeats, noticing a new broker.

The daemon binds nothing: it connects this DEALER out to the broker's ROUTER. What the broker
forwards arrives as ``[route, signature, header, ...]``, which is exactly what a ROUTER hands a
daemon (``[peer, signature, header, ...]``), so the daemon's request loop serves it unchanged and
its replies find their way back through the broker. Control messages have an empty route. The
owner thread of the daemon's sockets calls ``tick`` and ``on_control``; they return frames for it
to send, so this class never touches the socket after setting it up, except to dial the broker
anew when it has been silent (``tick``, in that same thread). See docs/BROKER.md.
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
from .security import server_public
from .sockets import can_read, dealer
from .uri import URI, endpoint_to_location, host_port

log = logging.getLogger("zpyro.brokerlink")

BYE_LINGER_MS = 200  # a closing daemon's BYE still gets out


def broker_endpoint(broker: str | bool) -> str:
    """`broker=True` -> the configured name server; else a tcp:// endpoint or host:port."""
    if broker is True:
        return f"tcp://{host_port(config.NS_HOST, config.NS_PORT)}"
    if not isinstance(broker, str) or not broker:
        raise errors.DaemonError(f"broker must be True or 'tcp://host:port', not {broker!r}")
    if "://" in broker:
        return broker
    if broker.upper().startswith("PYRO"):
        endpoint = URI(broker).endpoint
        if endpoint is None:
            raise errors.DaemonError(f"broker URI {broker!r} has no location")
        return endpoint
    return f"tcp://{broker}"


class BrokerLink:
    def __init__(self, broker: str | bool, describe: Callable[[], dict[str, Any]]) -> None:
        self.endpoint = broker_endpoint(broker)
        self.location = endpoint_to_location(self.endpoint)
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
        self.attached = threading.Event()  # set once the broker has taken our READY

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
        epoch, known = info.get("epoch"), bool(info.get("known", True))
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

    def close(self, bye: bool) -> None:
        if bye:
            try:
                self.socket.send_multipart(self.bye(), zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        self.socket.close(linger=BYE_LINGER_MS if bye else 0)

    def _control(self, kind: int, payload: bytes = b"") -> list[Any]:
        return [b"", *wire.encode(kind, 0, wire.JSON_ID if payload else 0, 0, "", "", payload)]
