"""The broker's event loop: one ROUTER for callers and daemons, one PUB for announcements.

One thread owns both sockets (``run``, or ``serve_ready`` called from someone else's loop);
``stop`` from any thread or a signal handler wakes it.
Calls for the broker's own objects (``Pyro.NameServer``, ``Pyro.Daemon``) are served inline by a
zpyro ``Dispatcher``; calls for pooled objects are forwarded frame for frame, payload untouched,
to the daemon ``broker/pools.py`` picks. See docs/BROKER.md for the messages.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import zmq

from zpyro import announce, errors, wire
from zpyro.admission import FrontDoor
from zpyro.config import NO_SIZE_LIMIT, config, size_limit
from zpyro.credit import FLUSH_INTERVAL, CreditLedger, RefusalLog, window_for
from zpyro.dispatch import Dispatcher
from zpyro.gatekeeper import answer_handshake
from zpyro.objects import ObjectRegistry
from zpyro.security import (
    ROUTE_KEY_MARK,
    apply_server,
    client_key_of,
    server_keys,
    warn_if_exposed,
)
from zpyro.sockets import (
    MAXMSGSIZE_MARGIN,
    apply_heartbeat,
    bind,
    context,
    poll,
    recv_noting,
    send_frames,
    tcp_endpoint,
)
from zpyro.uri import endpoint_to_location, host_port
from zpyro.waker import BackDoor
from zpyro.wire import DAEMON_OBJECT_ID, JSON_ID, NAMESERVER_ID, RELEASE_SESSION

from .announcer import Announcer
from .callers import Callers, replay_frames
from .nameserver import NameServer
from .pair import BrokerPair
from .paired import PairedBroker, Takeover
from .pools import AttachedDaemon, Call, Pool, Pools
from .registry import Registry, check_name
from .status import BrokerDaemonObject
from .storage import default_storage_spec, open_storage
from .waiting import Waiting

log = logging.getLogger("zpyro.broker")

BIG_FRAME = 65536  # frames from this size on are sent without a copy
_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
RECV_BATCH = 256  # messages taken per poll before timers are looked at again


class Broker(PairedBroker):
    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        pub_port: int | None = None,
        storage: str | None = "memory",
        max_queue: int | None = None,
        max_message_size: int | None = None,
        curve_secret_key: str | None = None,
        curve_allowed_clients: str | None = None,
        unixsocket: str | None = None,
        nathost: str | None = None,
        natport: int | None = None,
        pair_role: str | None = None,
        pair_peer: str | None = None,
        pair_listen: str | None = None,
    ) -> None:
        """Bind and set up (``run`` serves). `unixsocket`: the ROUTER on ``ipc://PATH`` and the
        PUB on ``ipc://PATH.pub`` instead of tcp. `nathost`/`natport`: the address put in URIs
        when clients reach this broker through NAT (natport 0 or None: the bound port)."""
        host = host or config.NS_HOST
        port = config.NS_PORT if port is None else port
        pub_port = config.NS_PUB_PORT if pub_port is None else pub_port
        # 0 means no limit, as in Pyro (None: config MAX_MESSAGE_SIZE)
        self.max_message_size = size_limit(
            config.MAX_MESSAGE_SIZE if max_message_size is None else max_message_size
        )
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
            if self.max_message_size < NO_SIZE_LIMIT:
                self.router.maxmsgsize = self.max_message_size + MAXMSGSIZE_MARGIN
            self.pub.linger = 0
            keys = server_keys(curve_secret_key)
            if keys is not None:  # callers, daemons and subscribers all need our public key
                apply_server(self.router, ctx, keys, curve_allowed_clients)
                apply_server(self.pub, ctx, keys, curve_allowed_clients)
            self.secure = keys is not None
            door = BackDoor(self.router, ctx)  # (before anyone else can connect)
            if unixsocket:
                endpoints = (f"ipc://{unixsocket}", f"ipc://{unixsocket}.pub")
            else:
                warn_if_exposed(host, "broker", self.secure)
                endpoints = (tcp_endpoint(host, port), tcp_endpoint(host, pub_port))
            endpoint = bind(self.router, endpoints[0], errors.CommunicationError)
            self.pub_endpoint = bind(self.pub, endpoints[1], errors.CommunicationError)
        except Exception:
            if door is not None:
                door.close()
            self.router.close(linger=0)
            self.pub.close(linger=0)
            raise
        self._door = door
        self._door_id = door.identity
        self.location = endpoint_to_location(endpoint)  # where it is bound
        self.pub_location = endpoint_to_location(self.pub_endpoint)
        self.nat_location: str | None = None  # where clients reach it, when that differs
        if nathost and unixsocket:
            self.router.close(linger=0)
            self.pub.close(linger=0)
            self._door.close()
            raise ValueError("nathost is for tcp: a unix socket is reached by its path")
        if nathost:
            self.nat_location = host_port(nathost, natport or self.location.rsplit(":", 1)[1])
        try:  # None: the default file, named after the port actually bound (port 0: a free one)
            storage = storage or default_storage_spec(int(self.location.rsplit(":", 1)[1]))
            self.storage = open_storage(storage)
        except Exception:
            self.router.close(linger=0)
            self.pub.close(linger=0)
            self._door.close()
            raise
        self.storage_spec = storage
        self._loop_thread: int | None = None  # the thread that serves (the last one that did)
        self._next_tick = 0.0
        self._next_flush = 0.0
        self.announcer = Announcer(self._publish, self.epoch)
        self.nameserver = NameServer(Registry(), self.storage, self.announcer, self.uri)
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
            run_coroutine=_no_waiting_in_batches,
        )
        self.dispatcher.compress = config.COMPRESSION
        # lookups with delay_time wait here for the names to change (broker/waiting.py)
        self.waiting = Waiting(self._reply)
        self.dispatcher.defer = self.waiting.park
        self._names_seen = self.announcer.seq
        self._admit = FrontDoor(
            self.max_message_size, "the broker", self.dispatcher.error_reply, self._reply, log
        ).admit
        self.max_queue = config.BROKER_MAX_QUEUE if max_queue is None else max_queue
        self.pools = Pools(self.max_queue, config.HEARTBEAT_TIMEOUT)
        # oneway flow control (zpyro/credit.py): the broker grants its callers credit, and gives
        # it back as their oneway calls finish (the daemons' DONE) or fail
        self.credit = CreditLedger(window_for(config.ONEWAY_CREDIT, self.max_queue))
        self.dispatcher.credit_window = self.credit.window
        self.dispatcher.quiet_reply = self.credit.granted  # (oneway calls to its own objects)
        self._refusals = RefusalLog(log)
        # their handshakes, and their going (what is released then)
        self.callers = Callers(
            self.router,
            self.pools,
            self.credit,
            self._send,
            self.dispatcher.client_keys,
            self.secure,
        )
        self._stopping = False
        self._closed = False
        self._last_key: bytes | None = None  # CURVE key of the message being handled
        self._on_caller = self._from_caller  # a broker of a pair that is not active: refuses
        self.pair: BrokerPair | None = None
        self._takeover = Takeover(self.max_queue)
        if pair_role is not None:
            listen = pair_listen or tcp_endpoint(host, port + 2 if port else 0)
            try:
                self._join_pair(pair_role, pair_peer, listen, keys)
            except BaseException:
                self.close()
                raise
            self._on_caller = self._from_caller_inactive
            self.announcer.muted = True  # announcements come from the active broker only
        self._admit = FrontDoor(
            self.max_message_size,
            "the broker",
            self.dispatcher.error_reply,
            self._reply,
            log,
            pong=self._pong if self.pair is not None else None,
        ).admit

    @property
    def uri(self) -> str:
        """The name server's URI as clients use it (the NAT address when there is one)."""
        return f"PYRO:{NAMESERVER_ID}@{self.advertised}"

    @property
    def advertised(self) -> str:
        """The location put in URIs: the NAT address when given, else the bound one."""
        return self.nat_location or self.location

    def metadata(self, object_id: str) -> dict[str, Any]:
        if object_id in (NAMESERVER_ID, DAEMON_OBJECT_ID):
            return self.dispatcher.metadata(object_id)
        meta = self.pools.metadata(object_id)
        if meta is None:
            raise errors.DaemonError(f"unknown object {object_id!r}: no daemon serves it")
        meta = dict(meta)
        limit = min(self.max_message_size, size_limit(int(meta.get("max_message_size", 0))))
        meta["max_message_size"] = limit if limit < NO_SIZE_LIMIT else 0  # 0: no limit
        meta[wire.META_CREDIT] = self.credit.window  # a caller's oneway credit is the broker's
        return meta

    def _registered(self) -> list[str]:
        return sorted([*self.objects.ids(), *self.pools.pools])

    def _pools_picture(self) -> dict[str, Any]:
        return {"epoch": self.epoch, **self.pools.describe(time.monotonic())}

    def _info(self) -> str:
        pair = "" if self.pair is None else f", {self.pair.role} of a pair, {self.pair.state}"
        return (
            f"zpyro broker at {self.location}, epoch {self.epoch}{pair}: "
            f"{len(self.pools.daemons)} daemons, {len(self.pools.pools)} pooled objects"
        )

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, loop_condition: Callable[[], bool] | None = None) -> None:
        """Serve until stop() (or until `loop_condition()` is false, checked every
        POLL_TIMEOUT).

        The loop polls the ROUTER and the monitor that tells callers gone (and the pair's
        socket: never behind queued calls), then takes what waits on the ROUTER in a batch.
        stop() and other threads wake it through the ROUTER's back door.
        """
        self._loop_thread = threading.get_ident()
        pair_inbox = None if self.pair is None else self.pair.link.inbox
        router = self.router
        monitor = self.callers.monitor
        items: list[tuple[Any, int]] = [(router, _POLLIN), (monitor, _POLLIN)]
        if pair_inbox is not None:
            items.insert(0, (pair_inbox, _POLLIN))
        waiting = self.waiting
        clock = time.monotonic
        while not self._stopping and (loop_condition is None or loop_condition()):
            now = clock()
            due = min(self._next_tick, self._next_flush, waiting.next_deadline())
            if now >= due:
                self._timers(now)
                due = min(self._next_tick, self._next_flush, waiting.next_deadline())
            wait_ms = max(1, math.ceil((due - now) * 1000))
            if loop_condition is not None:
                wait_ms = min(wait_ms, math.ceil(config.POLL_TIMEOUT * 1000))
            try:
                ready = dict(poll(items, wait_ms))
                if router in ready:
                    self._receive(RECV_BATCH)
            except zmq.ZMQError as exc:  # (the C accelerator's receive: a plain ZMQError)
                if exc.errno == zmq.ETERM:
                    return  # the process is exiting (zpyro.sockets.flush_before_exit)
                raise
            if monitor in ready:
                self.callers.departed(self.callers.gone())
            if pair_inbox is not None and pair_inbox in ready:
                self._pair_messages()
            if self._names_seen != self.announcer.seq:
                self._wake_waiting()

    def serve_ready(self) -> None:
        """Handle what has arrived, without blocking: for a broker polled by another loop (its
        ``sockets``). Drains the ROUTER (its fd only signals edges; wakes from other threads
        come through it too) and does the periodic work that is due."""
        self._loop_thread = threading.get_ident()
        self._timers(time.monotonic())
        while self._receive(RECV_BATCH) == RECV_BATCH or self._readable():
            pass
        if self.pair is not None:
            self._pair_messages()
        # drained at every turn: an unread monitor that fills up stalls libzmq's I/O thread
        self.callers.departed(self.callers.gone())
        self._wake_waiting()

    def _pair_messages(self) -> None:
        assert self.pair is not None
        try:
            self.pair.on_messages(time.monotonic())
        except Exception:
            log.exception("error handling a message from the pair's peer")

    def _readable(self) -> bool:
        """More has arrived on the ROUTER (asked, not waited for)."""
        return bool(cast(int, self.router.get(zmq.EVENTS)) & zmq.POLLIN)

    @property
    def sockets(self) -> list[Any]:
        """What another loop polls for this broker: the ROUTER, the monitor that tells callers
        gone (and the pair's socket)."""
        pair = [] if self.pair is None else [self.pair.link.inbox]
        return [self.router, self.callers.monitor, *pair]

    def _timers(self, now: float) -> None:
        if now >= self._next_tick:
            try:
                self._tick(now)
            except Exception:  # as for messages: log a bug, keep serving
                log.exception("error in the broker's periodic work")
            self._next_tick = now + max(0.05, config.HEARTBEAT_INTERVAL)
        if now >= self._next_flush:  # credit owed to oneway callers for a while
            for client, count in self.credit.due():
                self._send([client, *wire.credit_frames(count)])
            self._next_flush = now + FLUSH_INTERVAL
        self.waiting.expire(now)

    def _receive(self, limit: int) -> int:
        """Handle up to `limit` messages that have arrived; how many there were."""
        router = self.router
        for count in range(limit):
            try:  # (asking first with can_read would cost more than one Again a batch)
                frames = self._recv_curve(_NOBLOCK) if self.secure else self.callers.recv(router)
            except zmq.Again:
                return count
            self._handle(frames)
        return limit

    def _handle(self, frames: list[bytes]) -> None:
        """One message from the ROUTER: a wake through the back door, or a peer's."""
        if frames[0] == self._door_id:  # stop() (or another thread) woke us
            self._door.woken()
            return
        try:
            self._on_message(frames)
        except Exception:  # a bug must not take the broker down: log and go on
            log.exception("error handling a message from %s", frames[0].hex())

    def _wake_waiting(self) -> None:
        """Names changed since the waiting lookups last looked: they look again."""
        if self._names_seen != self.announcer.seq:
            self._names_seen = self.announcer.seq
            if self.waiting:
                self.waiting.changed()

    def _publish(self, frames: list[bytes]) -> None:
        """The announcer's sender (called under its lock, so one thread at a time): a change
        made outside the serving thread (the in-process name server) wakes that thread, for
        the lookups waiting on it."""
        self.pub.send_multipart(frames)
        if self._loop_thread not in (None, threading.get_ident()):
            self._door.wake()

    def _recv_curve(self, flags: int = 0) -> list[bytes]:
        """Receive one message and note the sender's CURVE public key (passed on to daemons)."""
        data, last = recv_noting(self.router, flags)
        key = client_key_of(last)
        self._last_key = key
        if key is not None:
            self.dispatcher.remember_key(data[0], key)  # for the name server's own calls
        self.callers.departed(self.callers.note(data[0], last))
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
        self.waiting.close(errors.ConnectionClosedError("the name server stopped"))
        if self.pair is not None:
            self.pair.close()
        self.storage.close()
        self.callers.close()  # the monitor stops before its socket closes
        self._door.close()
        self.router.close(linger=0)
        self.pub.close(linger=0)

    def _tick(self, now: float) -> None:
        self.announcer.alive()
        if self.pair is not None:
            self.pair.tick(now)
            for client, body in self._takeover.expired(now):
                self._from_caller(client, body)  # no daemon came for it: answered as usual
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
            self._on_caller(frames[0], frames[1:])
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
        if msg.flags & wire.FLAG_HANDSHAKE:
            self._handshake(client, body, msg)
            return
        if msg.object_id == DAEMON_OBJECT_ID and msg.method == RELEASE_SESSION:
            # the proxy is gone: every daemon drops the session instances and streams it held
            self.callers.release(self._route(client))
        if msg.object_id in (NAMESERVER_ID, DAEMON_OBJECT_ID):
            handled = self.dispatcher.handle(client, msg)
            reply = handled if isinstance(handled, list) else None
            if self.pair is not None and self._held_by_pair(client, body, msg, reply):
                return
            if reply is not None:
                self._send([client, *reply])
            return
        self._submit(client, body, msg)

    def _handshake(self, client: bytes, body: list[bytes], msg: wire.Message) -> None:
        """A caller's connection handshake: a pool whose daemons validate handshakes gets it
        (and each of its daemons will, see broker/handshakes.py); else it is answered here."""
        object_id = msg.object_id
        own = object_id in (NAMESERVER_ID, DAEMON_OBJECT_ID)
        meta = None if own else self.pools.metadata(object_id)
        if meta is not None and meta.get("handshake"):
            route = self._route(client)
            self.callers.handshakes.remember(route, replay_frames(body, msg), msg.call_id)
            self._submit(client, body, msg)
            return
        if meta is None and not own and self._takeover.hold(client, body, True, time.monotonic()):
            return  # just took over (a pair): the pool's daemons may not have come yet
        reply = answer_handshake(self.dispatcher, msg, self.metadata)
        if reply is not None:
            self._send([client, *reply])

    def _submit(self, client: bytes, body: list[bytes], msg: wire.Message) -> None:
        """A call for a pooled object: to a daemon of its pool, or queued for one."""
        oneway = bool(msg.flags & wire.FLAG_ONEWAY) and not msg.flags & wire.FLAG_META
        call = Call(
            self._route(client),
            msg.call_id,
            msg.object_id,
            msg.method,
            body,
            oneway=oneway,
            retry=not msg.flags & wire.FLAG_BATCH,
            credited=oneway and bool(msg.flags & wire.FLAG_CREDIT),
        )
        try:
            daemon = self.pools.submit(call)
        except errors.ZPyroError as exc:
            unserved = msg.object_id not in self.pools.pools
            if self._takeover.hold(client, body, unserved, time.monotonic()):
                return  # just took over: its daemons may not have come yet
            what = f"call {msg.object_id}.{msg.method} from {client.hex()}"
            self._refusals.refused(time.monotonic(), what, exc)
            self._fail(call, exc)
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
            else:
                if kind != wire.DONE:  # (for a oneway call: a notice, e.g. refused at a gate)
                    self._send([self._caller(route), *body])
                if call.credited:  # its end, either way
                    self._credit_back(call)
            if known:
                for queued in self.pools.fill(ident):
                    self._forward(ident, queued)
            return
        if kind == wire.PING:
            known = self.pools.seen(ident, now)
            self._control(ident, wire.PONG, {**self._daemon_pong(known, now), **self._terms()})
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
            modes = {
                str(k): str(v) for k, v in dict(info.get(wire.READY_INSTANCE_MODES, {})).items()
            }
        except Exception as exc:
            log.warning("malformed READY from daemon %s ignored: %s", ident.hex(), exc)
            return
        before = self.pools.daemons.get(ident)
        old_listed = set(before.listed) if before is not None else set()
        new, opened, closed = self.pools.attach(
            ident, now, capacity, objects, listed, tags, pid, modes
        )
        daemon = self.pools.daemons[ident]
        for object_id in sorted(daemon.listed - old_listed):
            try:
                self.nameserver.add_lease(
                    object_id,
                    f"PYRO:{object_id}@{self.lease_location}",
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
        self._control(ident, wire.PONG, {**self._daemon_pong(True, now), **self._terms()})
        del opened  # pools opened need nothing more: their first calls simply arrive
        for queued in self.pools.fill(ident):
            self._forward(ident, queued)
        for client, held in self._takeover.release():
            self._from_caller(client, held)  # calls that waited for a pool after a takeover

    def _drop_daemon(self, ident: bytes, reason: str) -> None:
        daemon, closed, orphans = self.pools.detach(ident, f"went away ({reason})")
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
        for call in daemon.pinned:  # session calls that waited for it: they never ran
            self._fail(
                call,
                errors.ConnectionClosedError(
                    f"the session of this proxy with {call.object_id!r} is lost: daemon "
                    f"{ident.hex()}, which held it, went away ({reason}); the call did not run"
                ),
            )
        daemon.pinned.clear()

    def _rescue(self, daemon: AttachedDaemon, call: Call, reason: str) -> None:
        """A call in flight on a daemon that went away: run it elsewhere only if idempotent
        (and not bound to a session, which went with the daemon)."""
        meta = daemon.objects.get(call.object_id) or {}
        if call.session:
            self._fail(
                call,
                errors.ConnectionClosedError(
                    f"the session of this proxy with {call.object_id!r} is lost: daemon "
                    f"{daemon.ident.hex()}, which held it, went away ({reason}) while running "
                    f"{call.method}; the call may or may not have run"
                ),
            )
            return
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
        if self.callers.handshakes:  # the caller's handshake goes first where it has not been
            replay = self.callers.handshakes.replay(call.client, daemon, call.call_id)
            if replay is not None:
                self._send([daemon, call.client, *replay])
        self._send([daemon, call.client, *call.frames])

    def _fail(self, call: Call, exc: BaseException) -> None:
        """Tell the caller its call failed. A oneway call with credit gets its credit back and
        a notice (an ERROR flagged ONEWAY: the proxy's next call raises it); one without (an
        old proxy's) can only be logged."""
        caller = self._caller(call.client)
        if not call.oneway:
            self._error_to(caller, call.call_id, exc, wire.peek_serializer_id(call.frames))
            return
        log.warning("oneway call %s.%s failed: %s", call.object_id, call.method, exc)
        if call.credited:
            told = type(exc)(f"oneway call {call.object_id}.{call.method}: {exc}")
            notice = self.dispatcher.error_reply(
                call.call_id, told, wire.peek_serializer_id(call.frames), wire.FLAG_ONEWAY
            )
            self._send([caller, *notice])
            self._credit_back(call)

    def _credit_back(self, call: Call) -> None:
        """A oneway call with credit finished (or failed): its caller has room for one more."""
        caller = self._caller(call.client)
        count = self.credit.ran(caller)
        if count:
            self._send([caller, *wire.credit_frames(count)])

    def _error_to(
        self, client: bytes, call_id: int, exc: BaseException, serializer_id: int = JSON_ID
    ) -> None:
        self._send([client, *self.dispatcher.error_reply(call_id, exc, serializer_id)])

    def _reply(self, peer: bytes, frames: list[Any]) -> None:
        self._send([peer, *frames])

    def _terms(self) -> dict[str, Any]:
        """What a daemon's PONG tells it of the terms callers get through us: a daemon answering
        a handshake itself answers with the metadata we would give (zpyro/brokerlink.py)."""
        limit = self.max_message_size
        return {
            wire.META_CREDIT: self.credit.window,
            "max_message_size": limit if limit < NO_SIZE_LIMIT else 0,
        }

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


def _no_waiting_in_batches(coro: Coroutine[Any, Any, Any]) -> Any:
    """A lookup that would wait, inside a batch: the broker never blocks its loop for one."""
    coro.close()
    raise errors.NamingError("a lookup with delay_time cannot wait inside a batch")


def _why_bad(body: list[bytes]) -> errors.ProtocolError:
    """What is wrong with frames that are not a message (a wrong version, say), as a daemon says."""
    try:
        wire.decode(body)
    except errors.ProtocolError as exc:
        return exc
    return errors.ProtocolError("not a zpyro message")
