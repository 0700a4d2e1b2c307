"""The broker's event loop: one ROUTER for callers and daemons, one PUB for announcements.

One thread owns both sockets (``run``); ``stop`` from any thread or a signal handler wakes it.
Calls for the broker's own objects (``Pyro.NameServer``, ``Pyro.Daemon``) are served inline by a
zpyro ``Dispatcher``; calls for pooled objects are forwarded frame for frame, payload untouched,
to the daemon ``broker/pools.py`` picks. See docs/BROKER.md for the messages.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import zmq

from zpyro import announce, errors, wire
from zpyro.admission import FrontDoor
from zpyro.config import config
from zpyro.dispatch import Dispatcher
from zpyro.objects import ObjectRegistry
from zpyro.security import (
    ROUTE_KEY_MARK,
    apply_server,
    client_key_of,
    server_keys,
    warn_if_exposed,
)
from zpyro.sockets import (
    apply_heartbeat,
    bind,
    context,
    recv_frames,
    recv_noting,
    send_frames,
    tcp_endpoint,
)
from zpyro.uri import endpoint_to_location
from zpyro.waker import BackDoor
from zpyro.wire import DAEMON_OBJECT_ID, JSON_ID, NAMESERVER_ID

from .announcer import Announcer
from .nameserver import NameServer
from .pools import AttachedDaemon, Call, Pool, Pools
from .registry import Registry, check_name
from .status import BrokerDaemonObject
from .storage import open_storage

log = logging.getLogger("zpyro.broker")

BIG_FRAME = 65536  # frames from this size on are sent without a copy


class Broker:
    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        pub_port: int | None = None,
        storage: str = "memory",
        max_queue: int = 10_000,
        max_message_size: int | None = None,
        curve_secret_key: str | None = None,
        curve_allowed_clients: str | None = None,
    ) -> None:
        host = host or config.NS_HOST
        port = config.NS_PORT if port is None else port
        pub_port = config.NS_PUB_PORT if pub_port is None else pub_port
        self.max_message_size = max_message_size or config.MAX_MESSAGE_SIZE
        self.epoch = int.from_bytes(os.urandom(6), "big")  # new at every start
        ctx = context()
        self.router = ctx.socket(zmq.ROUTER)
        self.pub = ctx.socket(zmq.PUB)
        door: BackDoor | None = None
        try:
            self.router.linger = 0
            self.router.router_mandatory = 1  # a reply to a gone peer raises: we log it
            self.router.sndhwm = 0  # forwarded calls and replies are never dropped for HWM
            self.router.rcvhwm = 0
            apply_heartbeat(self.router)
            self.router.maxmsgsize = self.max_message_size + 65536
            self.pub.linger = 0
            keys = server_keys(curve_secret_key)
            if keys is not None:  # callers, daemons and subscribers all need our public key
                apply_server(self.router, ctx, keys, curve_allowed_clients)
                apply_server(self.pub, ctx, keys, curve_allowed_clients)
            self.secure = keys is not None
            warn_if_exposed(host, "broker", self.secure)
            door = BackDoor(self.router, ctx)  # (before anyone else can connect)
            endpoint = bind(self.router, tcp_endpoint(host, port), errors.CommunicationError)
            self.pub_endpoint = bind(
                self.pub, tcp_endpoint(host, pub_port), errors.CommunicationError
            )
        except Exception:
            if door is not None:
                door.close()
            self.router.close(linger=0)
            self.pub.close(linger=0)
            raise
        self._door = door
        self.location = endpoint_to_location(endpoint)
        self.pub_location = endpoint_to_location(self.pub_endpoint)
        self.storage_spec = storage
        self.storage = open_storage(storage)
        self.announcer = Announcer(self.pub.send_multipart, self.epoch)
        self.nameserver = NameServer(
            Registry(), self.storage, self.announcer, f"PYRO:{NAMESERVER_ID}@{self.location}"
        )
        self.objects = ObjectRegistry()
        self.objects.add(self.nameserver, NAMESERVER_ID)
        # the broker's Pyro.Daemon: what a proxy asks any daemon when it connects (a departed
        # proxy's release_session is passed on to the daemons by _from_caller)
        self.objects.add(
            BrokerDaemonObject(self.metadata, self._registered, self._info, self._pools_picture),
            DAEMON_OBJECT_ID,
        )
        self.dispatcher = Dispatcher(
            self.objects,
            config.SERIALIZERS_ACCEPTED,
            True,
            self.max_message_size,
            config.OOB_THRESHOLD,
        )
        self._admit = FrontDoor(
            self.max_message_size, "the broker", self.dispatcher.error_reply, self._reply, log
        ).admit
        self.pools = Pools(max_queue, config.HEARTBEAT_TIMEOUT)
        self._stopping = False
        self._closed = False
        self._last_key: bytes | None = None  # CURVE key of the message being handled

    @property
    def uri(self) -> str:
        return f"PYRO:{NAMESERVER_ID}@{self.location}"

    def metadata(self, object_id: str) -> dict[str, Any]:
        if object_id in (NAMESERVER_ID, DAEMON_OBJECT_ID):
            return self.dispatcher.metadata(object_id)
        meta = self.pools.metadata(object_id)
        if meta is None:
            raise errors.DaemonError(f"unknown object {object_id!r}: no daemon serves it")
        meta = dict(meta)
        meta["max_message_size"] = min(
            self.max_message_size, int(meta.get("max_message_size", self.max_message_size))
        )
        return meta

    def _registered(self) -> list[str]:
        return sorted([*self.objects.ids(), *self.pools.pools])

    def _pools_picture(self) -> dict[str, Any]:
        return {"epoch": self.epoch, **self.pools.describe(time.monotonic())}

    def _info(self) -> str:
        return (
            f"zpyro broker at {self.location}, epoch {self.epoch}: {len(self.pools.daemons)} "
            f"daemons, {len(self.pools.pools)} pooled objects"
        )

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until stop().

        The loop blocks in a receive on the ROUTER (RCVTIMEO: the tick interval), the
        cheapest way to wait for a message; stop() wakes it through the ROUTER's back door.
        """
        interval = max(0.05, config.HEARTBEAT_INTERVAL)
        next_tick = time.monotonic()
        router = self.router
        router.rcvtimeo = int(interval * 1000)
        door = self._door.identity
        on_message = self._on_message
        clock = time.monotonic
        while not self._stopping:
            now = clock()
            if now >= next_tick:
                try:
                    self._tick(now)
                except Exception:  # as for messages: log a bug, keep serving
                    log.exception("error in the broker's periodic work")
                next_tick = now + interval
            try:
                frames = self._recv_curve() if self.secure else recv_frames(router)
            except zmq.Again:  # RCVTIMEO: time for the tick
                continue
            if frames[0] == door:  # stop() (or any other thread) woke us
                self._door.woken()
                continue
            try:
                on_message(frames)
            except Exception:  # a bug must not take the broker down: log and go on
                log.exception("error handling a message from %s", frames[0].hex())

    def _recv_curve(self) -> list[bytes]:
        """Receive one message and note the sender's CURVE public key (passed on to daemons)."""
        data, last = recv_noting(self.router)
        key = client_key_of(last)
        self._last_key = key
        if key is not None:
            self.dispatcher.remember_key(data[0], key)  # for the name server's own calls
        return data

    def _route(self, client: bytes) -> bytes:
        """What a daemon sees as the caller: its identity, led by its CURVE key when secure
        (docs/BROKER.md), so the daemon's current_context knows who is calling."""
        if not self.secure:
            return client
        return ROUTE_KEY_MARK + (self._last_key or b"\0" * 40) + client

    def _caller(self, route: bytes) -> bytes:
        return route[41:] if self.secure else route

    def stop(self) -> None:
        """Ask the loop to end (any thread, also a signal handler)."""
        self._stopping = True
        self._door.wake(blocking=False)  # (a signal handler must not wait for a lock)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.storage.close()
        self._door.close()
        self.router.close(linger=0)
        self.pub.close(linger=0)

    def _tick(self, now: float) -> None:
        self.announcer.alive()
        for ident in self.pools.expired(now):
            log.warning(
                "daemon %s silent for over %.1f s: declared dead",
                ident.hex(),
                self.pools.heartbeat_timeout,
            )
            self._drop_daemon(ident, "no heartbeat")

    # -- messages ---------------------------------------------------------------------------------

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) >= 2 and frames[1] == wire.SIGNATURE:
            self._from_caller(frames[0], frames[1:])
        elif len(frames) >= 4 and frames[2] == wire.SIGNATURE:
            self._from_daemon(frames[0], frames[1], frames[2:])
        else:
            why = _why_bad(frames[1:])
            log.warning("undecodable message from %s dropped: %s", frames[0].hex(), why)
            if len(frames) >= 2:  # answer what looks like a caller's frames, as a daemon does
                self._error_to(frames[0], wire.peek_call_id(frames[1:]), why)

    def _from_caller(self, client: bytes, body: list[bytes]) -> None:
        msg = self._admit(client, body)
        if msg is None:  # answered at the door
            return
        if msg.object_id == DAEMON_OBJECT_ID and msg.method == "release_session":
            # the proxy is gone: every daemon drops the session instances and streams it held
            # (its replies, DONE for a call not in flight, are dropped as unknown)
            for ident in list(self.pools.daemons):
                self._send([ident, client, *body])
        if msg.object_id in (NAMESERVER_ID, DAEMON_OBJECT_ID):
            reply = self.dispatcher.handle(client, msg)
            if isinstance(reply, list):
                self._send([client, *reply])
            return
        oneway = bool(msg.flags & wire.FLAG_ONEWAY) and not msg.flags & wire.FLAG_META
        call = Call(
            self._route(client),
            msg.call_id,
            msg.object_id,
            msg.method,
            body,
            oneway=oneway,
            retry=not msg.flags & wire.FLAG_BATCH,
        )
        try:
            daemon = self.pools.submit(call)
        except errors.ZPyroError as exc:
            log.info("call %s.%s refused: %s", msg.object_id, msg.method, exc)
            if not oneway:
                self._error_to(client, msg.call_id, exc, msg.serializer_id)
            return
        if daemon is not None:
            self._forward(daemon.ident, call)

    def _from_daemon(self, ident: bytes, route: bytes, body: list[bytes]) -> None:
        header = body[1]
        kind = header[0] if header else 0
        now = time.monotonic()
        if route:  # a reply (or DONE) for a caller
            known = self.pools.seen(ident, now)
            call = self.pools.finished(ident, route, wire.peek_call_id(body))
            if call is None:
                log.debug("late or unknown reply from daemon %s dropped", ident.hex())
            elif kind != wire.DONE:
                self._send([self._caller(route), *body])
            if known:
                for queued in self.pools.fill(ident):
                    self._forward(ident, queued)
            return
        if kind == wire.PING:
            known = self.pools.seen(ident, now)
            pong = {"epoch": self.epoch, "known": known}
            self._control(ident, wire.PONG, pong)
        elif kind == wire.READY:
            self._attach(ident, body, now)
        elif kind == wire.BYE:
            self._drop_daemon(ident, "closed")
        else:
            log.warning("unexpected control message kind %d from daemon %s", kind, ident.hex())

    def _attach(self, ident: bytes, body: list[bytes], now: float) -> None:
        try:
            info = json.loads(bytes(body[2]))
            objects = info["objects"]
            if not isinstance(objects, dict) or not all(
                isinstance(k, str) and isinstance(v, dict) for k, v in objects.items()
            ):
                raise ValueError("objects must map object ids to metadata")
            for object_id, meta in objects.items():
                _check_pooled(object_id, meta)
            capacity = int(info.get("capacity", 1))
            listed = [check_name(x) for x in info.get("listed", ())]  # as ns.register does
            tags = {str(k): [str(t) for t in v] for k, v in dict(info.get("tags", {})).items()}
            pid = int(info.get("pid", 0))
        except Exception as exc:
            log.warning("malformed READY from daemon %s ignored: %s", ident.hex(), exc)
            return
        before = self.pools.daemons.get(ident)
        old_listed = set(before.listed) if before is not None else set()
        new, opened, closed = self.pools.attach(ident, now, capacity, objects, listed, tags, pid)
        daemon = self.pools.daemons[ident]
        for object_id in sorted(daemon.listed - old_listed):
            try:
                self.nameserver.add_lease(
                    object_id,
                    f"PYRO:{object_id}@{self.location}",
                    daemon.tags.get(object_id, frozenset()),
                )
            except errors.ZPyroError as exc:  # e.g. an id that is no valid name: still routable
                log.warning(
                    "daemon %s: %r not named in the name server: %s", ident.hex(), object_id, exc
                )
        self._close_pools(closed, "its daemon stopped serving it")
        if new:
            log.info(
                "daemon %s (pid %d) joined: %s, capacity %d",
                ident.hex(),
                pid,
                ", ".join(sorted(objects)),
                capacity,
            )
            self.announcer.publish(
                announce.DAEMON_JOINED,
                {"daemon": ident.hex(), "names": sorted(objects), "capacity": daemon.capacity},
            )
        self._control(ident, wire.PONG, {"epoch": self.epoch, "known": True})
        del opened  # pools opened need nothing more: their first calls simply arrive
        for queued in self.pools.fill(ident):
            self._forward(ident, queued)

    def _drop_daemon(self, ident: bytes, reason: str) -> None:
        daemon, closed, orphans = self.pools.detach(ident)
        if daemon is None:
            return
        log.info("daemon %s left (%s)", ident.hex(), reason)
        self.announcer.publish(
            announce.DAEMON_LEFT,
            {"daemon": ident.hex(), "names": sorted(daemon.objects), "reason": reason},
        )
        self._close_pools(closed, f"its last daemon went away ({reason})")
        for call in orphans:
            self._rescue(daemon, call, reason)

    def _rescue(self, daemon: AttachedDaemon, call: Call, reason: str) -> None:
        """A call in flight on a daemon that went away: run it elsewhere only if idempotent."""
        meta = daemon.objects.get(call.object_id) or {}
        if call.retry and call.method in meta.get("idempotent", ()):
            try:
                target = self.pools.requeue(call)
            except errors.ZPyroError as exc:
                self._fail(call, exc)
                return
            log.info("re-dispatching idempotent %s.%s", call.object_id, call.method)
            if target is not None:
                self._forward(target.ident, call)
            return
        self._fail(
            call,
            errors.ConnectionClosedError(
                f"the daemon running {call.object_id}.{call.method} went away ({reason}); "
                "the call may or may not have run"
            ),
        )

    def _close_pools(self, closed: list[Pool], why: str) -> None:
        for pool in closed:
            self.nameserver.drop_lease(pool.object_id)
            for call in pool.queue:
                self._fail(
                    call, errors.CommunicationError(f"no daemon serves {pool.object_id!r}: {why}")
                )
            pool.queue.clear()

    # -- sending ----------------------------------------------------------------------------------

    def _forward(self, daemon: bytes, call: Call) -> None:
        self._send([daemon, call.client, *call.frames])

    def _fail(self, call: Call, exc: BaseException) -> None:
        if not call.oneway:
            self._error_to(
                self._caller(call.client), call.call_id, exc, _serializer_id(call.frames)
            )

    def _error_to(
        self, client: bytes, call_id: int, exc: BaseException, serializer_id: int = JSON_ID
    ) -> None:
        self._send([client, *self.dispatcher.error_reply(call_id, exc, serializer_id)])

    def _reply(self, peer: bytes, frames: list[Any]) -> None:
        self._send([peer, *frames])

    def _control(self, daemon: bytes, kind: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self._send([daemon, b"", *wire.encode(kind, 0, JSON_ID, 0, "", "", payload)])

    def _send(self, frames: list[Any]) -> None:
        try:
            # small frames are cheaper copied than wrapped; a big buffer frame goes zero-copy
            send_frames(self.router, frames, len(frames[-1]) < BIG_FRAME)
        except zmq.ZMQError as exc:  # ROUTER_MANDATORY: that peer is gone
            log.info("message to departed peer %s dropped: %s", frames[0].hex(), exc)


def _check_pooled(object_id: str, meta: dict[str, Any]) -> None:
    """What a READY may offer (ValueError if not): an id that can travel (no lone surrogate) and
    is not the broker's own -- a pool named Pyro.NameServer would take the name server's name
    away when it closed -- and an idempotent list the broker can read when the daemon dies."""
    object_id.encode()  # UnicodeEncodeError is a ValueError
    if object_id == NAMESERVER_ID or object_id.partition(":")[0] == DAEMON_OBJECT_ID:
        raise ValueError(f"{object_id!r} is the broker's own object")
    idempotent = meta.get("idempotent", [])
    if not isinstance(idempotent, list) or not all(isinstance(m, str) for m in idempotent):
        raise ValueError(f"{object_id!r}: idempotent must be a list of method names")


def _serializer_id(frames: list[Any]) -> int:
    header = frames[1]
    return header[2] if len(header) > 2 else JSON_ID


def _why_bad(body: list[bytes]) -> errors.ProtocolError:
    """What is wrong with frames that are not a message (a wrong version, say), as a daemon says."""
    try:
        wire.decode(body)
    except errors.ProtocolError as exc:
        return exc
    return errors.ProtocolError("not a zpyro message")
