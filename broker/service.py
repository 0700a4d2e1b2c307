"""The broker's event loop: one ROUTER for callers and daemons, one PUB for announcements.

One thread owns both sockets (``run``, or ``serve_ready`` called from someone else's loop);
``stop`` from any thread or a signal handler wakes it.
Calls for the broker's own objects (``Pyro.NameServer``, ``Pyro.Daemon``) are served inline by a
zpyro ``Dispatcher``; calls for pooled objects are forwarded frame for frame, payload untouched,
to the daemon ``broker/pools.py`` picks. See docs/BROKER.md for the messages.
What the daemons say and are told is in ``broker/daemons.py``, what is done with the callers'
messages (handshakes, calls routed to pools, failures and credit) in ``broker/callerside.py``,
what a pair adds in ``broker/paired.py`` (all three mixed in here); the sockets are set up in
``broker/binding.py``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import zmq

from zpyro import errors, wire
from zpyro.admission import FrontDoor
from zpyro.config import config, size_limit
from zpyro.credit import FLUSH_INTERVAL, CreditLedger, RefusalLog, window_for
from zpyro.dispatch import Dispatcher
from zpyro.metadata import through_broker
from zpyro.objects import ObjectRegistry
from zpyro.security import client_key_of
from zpyro.sockets import poll, recv_noting, send_frames, tcp_endpoint
from zpyro.uri import endpoint_to_location, host_port
from zpyro.wire import DAEMON_OBJECT_ID, JSON_ID, NAMESERVER_ID

from .announcer import Announcer
from .binding import BrokerSockets, bind_broker
from .callers import Callers
from .callerside import CallerSide
from .daemons import BrokeredDaemons
from .nameserver import NameServer
from .pair import BrokerPair
from .paired import PairedBroker, Takeover
from .pools import Pools
from .registry import Registry
from .status import BrokerDaemonObject
from .storage import default_storage_spec, open_storage
from .waiting import Waiting

log = logging.getLogger("zpyro.broker")

BIG_FRAME = 65536  # frames from this size on are sent without a copy
_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
RECV_BATCH = 256  # messages taken per poll before timers are looked at again


class Broker(PairedBroker, BrokeredDaemons, CallerSide):
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
        bound = bind_broker(
            host,
            port,
            pub_port,
            unixsocket,
            self.max_message_size,
            curve_secret_key,
            curve_allowed_clients,
        )
        try:
            self._take_sockets(bound, nathost, natport, unixsocket)
            self._open_storage(storage)
        except Exception:
            bound.close()
            raise
        self._loop_thread: int | None = None  # the thread that serves (the last one that did)
        self._next_tick = 0.0
        self._next_flush = 0.0
        self._serve_own_objects()
        self._route_calls(config.BROKER_MAX_QUEUE if max_queue is None else max_queue)
        self._stopping = False
        self._closed = False
        self._on_caller = self._from_caller  # a broker of a pair that is not active: refuses
        self.pair: BrokerPair | None = None
        self._takeover = Takeover(self.max_queue)
        if pair_role is not None:
            listen = pair_listen or tcp_endpoint(host, port + 2 if port else 0)
            self._pair_up(pair_role, pair_peer, listen)
        self._admit = FrontDoor(
            self.max_message_size,
            "the broker",
            self.dispatcher.error_reply,
            self._reply,
            log,
            pong=self._pong if self.pair is not None else None,
        ).admit

    def _take_sockets(
        self, bound: BrokerSockets, nathost: str | None, natport: int | None, unixsocket: str | None
    ) -> None:
        """The sockets bound, where they are bound, and where clients reach them."""
        self._sockets = bound  # (closed together)
        self.router, self.pub, self._door = bound.router, bound.pub, bound.door
        self._door_id = bound.door.identity
        self.secure = bound.keys is not None
        self.pub_endpoint = bound.pub_endpoint
        self.location = endpoint_to_location(bound.endpoint)  # where it is bound
        self.pub_location = endpoint_to_location(bound.pub_endpoint)
        self.nat_location: str | None = None  # where clients reach it, when that differs
        if nathost and unixsocket:
            raise ValueError("nathost is for tcp: a unix socket is reached by its path")
        if nathost:
            self.nat_location = host_port(nathost, natport or self.location.rsplit(":", 1)[1])

    def _open_storage(self, storage: str | None) -> None:
        # None: the default file, named after the port actually bound (port 0: a free one)
        storage = storage or default_storage_spec(int(self.location.rsplit(":", 1)[1]))
        self.storage = open_storage(storage)
        self.storage_spec = storage

    def _serve_own_objects(self) -> None:
        """The name server and the broker's Pyro.Daemon, served inline by a Dispatcher, and the
        announcements of what changes."""
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

    def _route_calls(self, max_queue: int) -> None:
        """What calls for pooled objects go through: the pools, the callers' oneway credit and
        the callers themselves."""
        self.max_queue = max_queue
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
        self._last_key: bytes | None = None  # CURVE key of the message being handled

    def _pair_up(self, role: str, peer: str | None, listen: str) -> None:
        """A broker of a pair starts inactive: it refuses calls and announces nothing until the
        pair makes it the active one (broker/paired.py)."""
        try:
            self._join_pair(role, peer, listen, self._sockets.keys)
        except BaseException:
            self.close()
            raise
        self._on_caller = self._from_caller_inactive
        self.announcer.muted = True  # announcements come from the active broker only

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
        # a caller's oneway credit is the broker's; its size limit the smaller one
        return through_broker(meta, self.credit.window, self.max_message_size)

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
        self._sockets.close()

    def _tick(self, now: float) -> None:
        self.announcer.alive()
        if self.pair is not None:
            self.pair.tick(now)
            for client, body in self._takeover.expired(now):
                self._from_caller(client, body)  # no daemon came for it: answered as usual
        self._expire_daemons(now)

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

    # -- sending ----------------------------------------------------------------------------------

    def _error_to(
        self, client: bytes, call_id: int, exc: BaseException, serializer_id: int = JSON_ID
    ) -> None:
        self._send([client, *self.dispatcher.error_reply(call_id, exc, serializer_id)])

    def _reply(self, peer: bytes, frames: list[Any]) -> None:
        self._send([peer, *frames])

    def _send(self, frames: list[Any]) -> None:
        try:
            # small frames are cheaper copied than wrapped; a big buffer frame goes zero-copy
            send_frames(self.router, frames, len(frames[-1]) < BIG_FRAME)
        except zmq.ZMQError as exc:  # ROUTER_MANDATORY: that peer is gone
            log.info("message to departed peer %s dropped: %s", frames[0].hex(), exc)


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
