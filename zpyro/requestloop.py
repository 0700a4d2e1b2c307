"""A daemon's request loop: who owns the sockets, which thread runs a call, how replies go out.

Leader/followers (see the README's design section):

* One thread at a time owns the sockets (the *I/O owner*). It receives a call and, when the
  method is not known to be slow, runs it right there: no thread hand-off, so a short call costs
  little more than a raw DEALER/ROUTER round trip.
* A *standby* thread watches the owner. If an inline call runs longer than a few milliseconds the
  standby takes the sockets over and goes on serving; the old owner finishes its call, hands the
  reply to the new owner through the reply queue, and retires. Nobody waits behind a long call.
* Methods seen to be slow (:mod:`zpyro.slowmethods`), and ``async def`` ones, go straight to a
  bounded worker pool. Workers never touch sockets: they queue the reply and wake the owner.

No thread is tied to a connection: a thousand idle proxies cost a thousand ROUTER peers and
nothing else. A message meets the front door (:mod:`zpyro.admission`) before anything else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from time import perf_counter as _clock
from typing import Any

import zmq

from . import errors, wire
from .admission import FrontDoor
from .brokerlink import BrokerLink
from .clients import Clients
from .config import config
from .credit import FLUSH_INTERVAL, CreditLedger, RefusalLog
from .dispatch import DEFERRED, Dispatcher
from .gatekeeper import Gatekeeper, Validate
from .idlepeers import IdlePeers
from .objects import ObjectRegistry
from .peers import PeerWatch, recv_new_fd
from .security import ROUTE_KEY_MARK, client_key_of
from .slowmethods import SLOW_CALL, SlowMethods
from .sockets import (
    can_read,
    context,
    flush_before_exit,
    poll,
    recv_frames,
    recv_noting,
    send_frames,
)
from .waker import BackDoor, Waker
from .wire import DAEMON_OBJECT_ID, STREAM_NEXT
from .workers import WorkerPool

log = logging.getLogger("zpyro.server")

WATCH_INTERVAL = 0.005  # standby checks the owner this often; takeover after 1-2 intervals
SWEEP_EVERY = 200  # standby intervals between sweeps of abandoned streams (~1 s)
EVENTS_BATCH = 1024  # messages one events() call takes before handing back to the host loop
FLUSH_EVERY = max(1, round(FLUSH_INTERVAL / WATCH_INTERVAL))  # standby intervals, credit flushes

_LOST = object()  # _serve's result when another thread took the sockets over
_SWITCH = object()  # a loop's result when the other loop must take over (a peer watch started)


def _recv_now(router: zmq.Socket[bytes]) -> list[bytes]:
    return recv_frames(router, _NOBLOCK)


_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)


class RequestLoop:
    """Serves the messages of one ROUTER (or of a brokered daemon's DEALER, `link`)."""

    def __init__(
        self,
        router: zmq.Socket[bytes],
        dispatcher: Dispatcher,
        registry: ObjectRegistry,
        max_message_size: int,
        threads: int,
        release_client: Callable[[bytes], None],
        link: BrokerLink | None = None,
        curve: bool = False,
        validate: Validate | None = None,
        housekeeping: Callable[[], None] | None = None,
        idle_limit: float = 0.0,
        credit: CreditLedger | None = None,
        multiplex: bool = False,
    ) -> None:
        self.router = router
        # Pyro's SERVERTYPE "multiplex": every call runs in the loop's thread, one at a time
        # (no takeover, no worker pool; async def methods still run on the daemon's loop)
        self.multiplex = multiplex
        self.dispatcher = dispatcher
        self.registry = registry
        self.clients: Clients = dispatcher.clients
        self._hooked = self.clients.hooked  # every caller needs a record (gate, clientDisconnect)
        self._housekeeping = housekeeping  # Pyro's Daemon.housekeeping(), about once a second
        door = FrontDoor(max_message_size, "this daemon", dispatcher.error_reply, self.reply, log)
        self._admit = door.admit
        self._release_client = release_client
        self.link = link
        self._curve = curve  # note the callers' CURVE keys (for current_context)
        self._mutex = threading.Lock()
        self._owner: int | None = None  # ident of the thread owning the sockets
        self._inline_seq = 0
        self._inline_active = False
        self._taken_over = 0  # inline calls still running after a takeover
        self._slow = SlowMethods(dispatcher.is_coroutine)
        self._to_pool = self._slow.to_pool  # (read directly on every call)
        self.outbox: deque[list[Any]] = deque()  # replies from other threads: [ident, *frames]
        self.inbox: deque[list[Any]] = deque()  # calls held for their handshake, to serve now
        # How other threads wake the owner: a direct daemon's owner blocks in a receive on its
        # ROUTER, woken by a message through the back door; a brokered daemon's owner polls its
        # DEALER and a waker (and the heartbeat's timer).
        self.door = BackDoor(router, context()) if link is None else None
        self.waker = Waker() if link is not None else None
        self.stop = threading.Event()
        self._loop_done = threading.Event()
        self._loop_done.set()
        self._loop_condition: Callable[[], bool] = lambda: True
        self._max_threads = threads
        self.max_queue = config.DAEMON_MAX_QUEUE
        self._pool = WorkerPool(config.THREADPOOL_SIZE_MIN, threads, self.max_queue, "zpyro-daemon")
        self._gate = Gatekeeper(
            dispatcher, validate, self.reply, self.queue_reply, self._pool.submit, self._resume
        )
        if link is not None:  # a handshake answered here carries what the broker gives callers
            self._gate.metadata = lambda object_id: link.brokered(dispatcher.metadata(object_id))
        self.credit = credit  # what this daemon owes its oneway callers (None: brokered)
        self._next_flush = 0.0  # (events() mode: when to flush owed credit next)
        self._refusals = RefusalLog(log)
        # Pyro's COMMTIMEOUT on a daemon: clients silent that long are dropped (their
        # connections closed), as Pyro's daemon does
        self._idle: IdlePeers | None = None
        if idle_limit > 0 and link is None:
            self._idle = IdlePeers(idle_limit, time.monotonic())
        # A direct daemon notes the connection of each client's first message (its address:
        # current_context.client_sock_addr). It also watches them go (the ROUTER's monitor)
        # when something needs that (_watch_wanted): `watch` is then the same PeerWatch,
        # monitored; the thread that serves starts the monitor (_want_watch).
        self.notes = PeerWatch(router, monitored=False) if link is None else None
        self.watch: PeerWatch | None = None
        self._want_watch = False
        self.clients.on_tracking = self.update_noting
        self._noting = False
        self.update_noting()

    @property
    def idle(self) -> bool:
        """No thread serves (the loop is not running)."""
        return self._owner is None

    def address(self, peer: bytes) -> Any:
        """A caller's address (None through a broker: the broker holds the connections)."""
        return None if self.notes is None else self.notes.address(peer)

    def update_noting(self) -> None:
        """Receive with metadata: CURVE keys, a direct daemon's clients' connections; and start
        the monitor when something needs it. (Any thread: the registry changed.)"""
        watched = self._watch_wanted()
        self._noting = self._curve or self.notes is not None
        if watched and self.watch is None and not self._want_watch:
            self._want_watch = True
            self.wake()  # the thread that serves starts the watch

    def _watch_wanted(self) -> bool:
        """A direct daemon watches its clients' connections when something needs to know of
        them: session-mode classes (drop the sessions of the gone), Pyro's validateHandshake
        and clientDisconnect (a record per caller, released when it goes), tracked resources
        (current_context.track_resource: closed when their client goes), COMMTIMEOUT (close
        the idle). (Each caller's address (current_context.client_sock_addr) needs only
        `notes`, read from its first message: ~0.1 µs a message with the C accelerator, where
        the monitor's poll per message costs ~1-2 µs.)"""
        if self.link is not None:
            return False
        clients = self.clients
        return (
            self._hooked or clients.tracking or self._idle is not None or self.registry.has_sessions
        )

    def _start_watch(self) -> None:
        """The thread that serves: start watching the clients' connections."""
        self._want_watch = False
        if self.watch is None and self.notes is not None:
            self.notes.start_monitor()
            self.watch = self.notes

    def prepare_for_host(self) -> None:
        """A host loop asks what to poll: start a wanted peer watch now, if nobody serves; and
        a descriptor to bring the host loop back for messages events() left for its next turn."""
        if self._owner is None:
            if self._want_watch:
                self._start_watch()
            if self.waker is None:
                self.waker = Waker()

    def wake(self) -> None:
        """Make the thread that serves look at the outbox and the flags (any thread)."""
        if self.door is not None:
            self.door.wake()
        elif self.waker is not None:
            self.waker.wake()

    # -- the loop -------------------------------------------------------------------------------

    def run(self, loop_condition: Callable[[], bool]) -> None:
        """Serve until shutdown() or until loop_condition() returns False."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner is not None:
                raise errors.DaemonError("the request loop is already running")
            self._owner = me
            self._loop_done.clear()
            self.stop.clear()
            self._loop_condition = loop_condition
        self._start_standby()
        if self._serve(me) is _LOST:
            # another thread serves now; this one (the user's) waits for the loop's end
            self._loop_done.wait()

    def _serve(self, me: int) -> object:
        """The owner's loop. Returns _LOST when the sockets were taken over, else None.

        A direct daemon's owner blocks in a receive on its ROUTER (RCVTIMEO: the loop
        condition's period), the cheapest way to wait for a message; other threads wake it
        through the back door. A brokered daemon, or one with a peer watch (Pyro's hooks,
        COMMTIMEOUT, session-mode classes), polls instead: one poll per message on everything
        it watches, which returns at once when a message waits (no readiness check of its
        own, no ``zmq.Again``: a raised exception costs more).
        """
        poll_ms = int(config.POLL_TIMEOUT * 1000)
        outcome: object = None
        try:
            self.router.rcvtimeo = poll_ms
            if self._want_watch:
                self._start_watch()
            outcome = _SWITCH
            while outcome is _SWITCH:  # (from receiving to polling when a peer watch starts)
                if self.door is not None and self.watch is None:
                    outcome = self._receive_loop(me)
                else:
                    outcome = self._poll_loop(me, poll_ms)
        except zmq.ZMQError as exc:
            # ETERM: the process is exiting (sockets.flush_before_exit), nothing left to serve
            # (zmq.ContextTerminated from pyzmq, a plain ZMQError from the C accelerator)
            if exc.errno != zmq.ETERM:  # pragma: no cover - a bug; log it loudly
                log.exception("daemon request loop failed")
        except Exception:  # pragma: no cover - a bug; log it loudly rather than die silently
            log.exception("daemon request loop failed")
        if outcome is _LOST:
            return _LOST
        with self._mutex:
            self._owner = None
            self.stop.set()
        self.send_outbox()
        self._loop_done.set()
        return None

    def _receive_loop(self, me: int) -> object:
        """Serve by blocking receives on the ROUTER: None when done, _LOST, or _SWITCH."""
        router = self.router
        door = self.door
        assert door is not None
        process = self._process
        stop = self.stop
        while not stop.is_set():
            if not self._loop_condition():
                return None
            try:
                frames = self._recv(router, 0) if self._noting else recv_frames(router)
            except zmq.Again:  # RCVTIMEO: time to look at the loop condition again
                continue
            if frames[0] == door.identity:
                woken = self._woken(me)
                if woken is not None:
                    return woken
            elif process(frames, me) is _LOST:
                return _LOST
        return None

    def _poll_loop(self, me: int, poll_ms: int) -> object:
        """Serve by polling everything watched: None when done, or _LOST."""
        link = self.link
        router = self.router
        door = self.door
        idle = self._idle
        items = self._poll_items()
        clock = time.monotonic
        next_beat = 0.0
        stop = self.stop
        while not stop.is_set():
            if not self._loop_condition():
                return None
            timeout = poll_ms
            if link is not None:  # wake in time for the next heartbeat
                now = clock()
                if now >= next_beat:
                    self._heartbeat(link)
                    next_beat = link.next_ping
                timeout = min(poll_ms, int((next_beat - now) * 1000) + 1)
            if idle is not None:  # and for the next look for idle clients
                timeout = min(timeout, self._drop_idle(idle, poll_ms))
            for sock, _ in poll(items, timeout):
                if sock is router:
                    frames = self._recv(router, _NOBLOCK) if self._noting else _recv_now(router)
                    if door is not None and frames[0] == door.identity:
                        woken = self._woken(me)
                        if woken is _LOST:
                            return _LOST
                        if woken is _SWITCH:
                            items = self._poll_items()  # the peer watch started
                    elif self._process(frames, me) is _LOST:
                        return _LOST
                elif self.watch is not None and sock is self.watch.monitor:
                    self._peers_gone()
                else:  # the waker
                    assert self.waker is not None
                    self.waker.drain()
                    self.send_outbox()
                    if self.inbox and self._serve_inbox(me) is _LOST:
                        return _LOST
        return None

    def _poll_items(self) -> list[tuple[Any, int]]:
        """What the polling loop watches: queued replies first (they finish calls), then the
        peer watch, then new messages."""
        items: list[tuple[Any, int]] = []
        if self.waker is not None:
            items.append((self.waker.fileno(), _POLLIN))
        if self.watch is not None and self.watch.monitor is not None:
            items.append((self.watch.monitor, _POLLIN))
        items.append((self.router, _POLLIN))
        return items

    def _woken(self, me: int) -> object:
        """A wake through the back door: replies queued, calls held for a handshake settled
        now, or a flag to look at. _SWITCH when a peer watch started (its monitor must be
        polled from now on), _LOST when a held call lost the sockets, else None."""
        assert self.door is not None
        self.door.woken()
        started = False
        if self._want_watch:
            self._start_watch()
            started = True
        self.send_outbox()
        if self.inbox and self._serve_inbox(me) is _LOST:
            return _LOST
        return _SWITCH if started else None

    def _process(self, frames: list[bytes], me: int, pooled: bool = False) -> object:
        """Handle one incoming message; inline, or via the pool when `pooled` or slow."""
        ident = frames[0]
        if self.link is not None:
            if not ident:  # from the broker itself
                epoch = self.link.epoch
                control = self.link.on_control(frames[1:])
                if control is not None:
                    self.reply(b"", control[1:])
                if epoch is not None and self.link.epoch != epoch:
                    # a new broker: the callers of the old one are gone, with their connections
                    self.clients.release_all()
                return None
            if self.link.secure and ident[:1] == ROUTE_KEY_MARK:  # the caller's CURVE key
                self.dispatcher.remember_key(ident, ident[1:41])
        msg = self._admit(ident, frames[1:])
        if msg is None:  # answered at the door
            return None
        idle = self._idle
        if idle is not None:
            idle.recent.add(ident)
        if msg.flags & wire.FLAG_HANDSHAKE:
            self._gate.handshake(ident, msg)
            return None
        if self._hooked and self._gate.keeps_out(ident, frames, msg):
            return None
        if idle is not None and (not msg.flags & wire.FLAG_ONEWAY or msg.flags & wire.FLAG_META):
            idle.started(ident)  # not idle while it runs: Pyro's timeout is for the next request
        key = (msg.object_id, msg.method)
        if pooled and msg.object_id == DAEMON_OBJECT_ID and msg.method != STREAM_NEXT:
            # cheap: answer right here (not a stream fetch: it may wait for the next item)
            reply = self._handle(ident, msg)
            if reply is not None:
                self.reply(ident, reply)
            return None
        pool = self._to_pool.get(key)
        if pool is None:  # first call of this method
            pool = self._slow.first_call(key)
        if self.multiplex and not pooled:
            pool = False
        if pooled or pool:
            # a oneway call with credit was promised room: its bound is the credit
            bounded = not msg.flags & wire.FLAG_CREDIT or self.credit is None
            if not self._pool.submit(self._run_pooled, ident, msg, not pooled, bounded=bounded):
                self._busy(ident, msg)
            return None
        # inline. Only this thread writes these two; the standby reads them under the mutex,
        # and a stale read just postpones a takeover by one interval.
        self._inline_seq += 1
        self._inline_active = True
        started = _clock()
        try:
            answer = self.dispatcher.handle(ident, msg)
        finally:
            with self._mutex:
                still_owner = self._owner == me
                if still_owner:
                    self._inline_active = False
                else:  # the flag is the new owner's now (its own inline call may be running)
                    self._taken_over -= 1
        took = _clock() - started
        if took > SLOW_CALL or not still_owner or self._slow.streaks:
            self._slow.ran_inline(key, took, not still_owner)
        if not isinstance(answer, list):  # None (no reply due) or DEFERRED
            return None if still_owner else _LOST
        if still_owner:
            self.reply(ident, answer)
            return None
        self.queue_reply(ident, answer)
        return _LOST

    def _busy(self, ident: bytes, msg: wire.Message) -> None:
        """The worker pool's queue is full: refuse the call, with an error to its caller."""
        busy = errors.DaemonError(
            f"daemon busy: {self.max_queue} calls already wait for a worker "
            "(config DAEMON_MAX_QUEUE)"
        )
        what = f"call {msg.object_id}.{msg.method} from {ident.hex()}"
        self._refusals.refused(time.monotonic(), what, busy)
        self.reply(ident, self.dispatcher.error_reply(msg.call_id, busy, msg.serializer_id))

    def _run_pooled(self, ident: bytes, msg: wire.Message, learn: bool = False) -> None:
        started = time.perf_counter()
        reply = self._handle(ident, msg)
        if learn:
            self._slow.ran_pooled((msg.object_id, msg.method), time.perf_counter() - started)
        if reply is not None:
            self.queue_reply(ident, reply)

    def _handle(self, ident: bytes, msg: wire.Message) -> list[Any] | None:
        reply = self.dispatcher.handle(ident, msg)
        return None if reply is DEFERRED else reply  # type: ignore[return-value]

    # -- standby: takes the sockets over from an owner stuck in a long call ---------------------

    def _start_standby(self) -> None:
        threading.Thread(target=self._standby, name="zpyro-daemon-standby", daemon=True).start()

    def _standby(self) -> None:
        me = threading.get_ident()
        seen = -1
        sweeps = 0
        streams = self.dispatcher.streams
        while not self.stop.wait(WATCH_INTERVAL):
            sweeps += 1
            if sweeps % SWEEP_EVERY == 0:
                self._sweep(streams)
            if sweeps % FLUSH_EVERY == 0:
                self.flush_credit()
            with self._mutex:
                if self._owner is None:
                    return
                if not self._inline_active:
                    seen = -1
                    continue
                if seen != self._inline_seq:
                    seen = self._inline_seq
                    continue
                if self._taken_over >= self._max_threads or self.multiplex:
                    continue  # every thread is busy in a long call (or one at a time it is)
                self._owner = me
                self._inline_active = False
                self._taken_over += 1
            # this thread serves now; a fresh standby watches it
            self._start_standby()
            self._serve(me)
            return

    def _sweep(self, streams: Any) -> None:
        """The standby's periodic work: abandoned remote iterators, Pyro's housekeeping()."""
        if streams is not None:
            streams.sweep()
        if self._housekeeping is not None:
            try:
                self._housekeeping()
            except Exception:
                log.exception("the daemon's housekeeping() raised")

    # -- sending and receiving --------------------------------------------------------------------

    def reply(self, ident: bytes, frames: list[Any]) -> None:
        """Send on the ROUTER (owner thread only)."""
        if self._idle is not None:
            self._idle.answered(ident)
        try:
            if len(frames) <= 3:  # our own small frames: the lean path
                send_frames(self.router, [ident, *frames])
            else:  # out-of-band buffers: checked, sent without a copy
                self.router.send_multipart([ident, *frames], copy=False)
        except zmq.ZMQError as exc:
            # ROUTER_MANDATORY: the client went away; nobody is left to tell
            log.info("reply to departed client %s dropped: %s", ident.hex(), exc)

    def flush_credit(self) -> None:
        """Any thread: grant the credit owed to callers for a while (zpyro.credit)."""
        if self.credit is not None and self.credit.owed:
            for client, count in self.credit.due():
                self.queue_reply(client, wire.credit_frames(count))

    def queue_reply(self, ident: bytes, frames: list[Any]) -> None:
        """Hand a reply to the owner thread (any thread)."""
        self.outbox.append([ident, *frames])
        self.wake()

    def send_outbox(self) -> None:
        outbox = self.outbox
        while outbox:
            try:
                item = outbox.popleft()
            except IndexError:
                break
            self.reply(item[0], item[1:])

    def _recv(self, router: zmq.Socket[bytes], flags: int) -> list[bytes]:
        """Receive one message, noting what only its frames tell: the connection a new peer
        came on (to see it go, to tell its address) and, with CURVE, the caller's public key
        (for current_context)."""
        notes = self.notes
        gone: Sequence[bytes] = ()  # peers whose descriptor came back for a new one
        if self._curve:
            data, last = recv_noting(router, flags)
            key = client_key_of(last)
            if key is not None:
                self.dispatcher.remember_key(data[0], key)
            if notes is not None:
                gone = notes.note(data[0], last)
        elif notes is not None:
            data, fd = recv_new_fd(router, notes.known, flags)
            if fd is not None:
                gone = notes.note_fd(data[0], fd)
        else:
            return recv_frames(router, flags)
        for peer in gone:
            self._release_client(peer)
        return data

    def _resume(self, held: list[list[Any]]) -> None:
        """Any thread: calls held for a handshake that is settled now, for the owner to serve."""
        self.inbox.extend(held)
        self.wake()

    def _serve_inbox(self, me: int, pooled: bool = False) -> object:
        """Owner thread: serve the calls held for a handshake that is settled now."""
        while self.inbox:
            try:
                frames = self.inbox.popleft()
            except IndexError:
                break
            if self._process(frames, me, pooled) is _LOST:
                return _LOST
        return None

    def _peers_gone(self) -> None:
        """Owner thread: release what clients that disconnected without goodbye held."""
        assert self.watch is not None
        for peer in self.watch.gone():
            log.debug("client %s went away: releasing its sessions and streams", peer.hex())
            if self._idle is not None:
                self._idle.forget(peer)
            self._release_client(peer)

    def _drop_idle(self, idle: IdlePeers, poll_ms: int) -> int:
        """Owner thread: when due, close the connections of clients idle for COMMTIMEOUT (their
        state is released when the monitor reports them gone); the poll timeout until the next
        look."""
        now = time.monotonic()
        if self.watch is None:  # (not started yet: the thread that serves starts it)
            return poll_ms
        if now >= idle.next_sweep:
            self._peers_gone()  # first: a descriptor of a gone client may be reused already
            for peer in idle.sweep(now):
                if self.watch.drop(peer):
                    log.info(
                        "client %s idle for %.3g s (COMMTIMEOUT): dropped", peer.hex(), idle.limit
                    )
        return min(poll_ms, int((idle.next_sweep - now) * 1000) + 1)

    def _heartbeat(self, link: BrokerLink) -> None:
        """Owner thread only: PING the broker when due (it answers with its epoch)."""
        ping = link.tick(time.monotonic())
        if ping is not None:
            self.reply(b"", ping[1:])

    # -- event-loop integration -----------------------------------------------------------------

    def events(self, ready: Any) -> None:
        """Process what is ready without blocking (see Daemon.events): every call runs on the
        worker pool, so the host loop never blocks."""
        items = ready.keys() if isinstance(ready, dict) else ready
        socks = {item[0] if isinstance(item, tuple) else item for item in items}
        if self.link is not None:
            self._heartbeat(self.link)
        if self._want_watch:
            self._start_watch()
        if self._idle is not None:
            self._drop_idle(self._idle, 0)
        now = time.monotonic()
        if now >= self._next_flush:
            self._next_flush = now + FLUSH_INTERVAL
            self.flush_credit()
        if self.waker is not None and self.waker.fileno() in socks:
            self.waker.drain()
        if self.watch is not None:
            # drained at every turn, even when the host loop does not poll the monitor: an
            # unread monitor that fills up blocks libzmq's I/O thread (every socket stalls)
            self._peers_gone()
        self.send_outbox()
        if self.inbox:  # calls held for a handshake settled since
            self._serve_inbox(-1, pooled=True)
        router = self.router
        door = self.door
        # zmq's descriptor is edge-triggered: a host loop's select() wakes once for many
        # messages, so all that wait are taken now; past a bound, the waker (one of
        # `sockets`) brings the host loop back for the rest
        for _ in range(EVENTS_BATCH):
            if not can_read(router):
                return
            frames = self._recv(router, _NOBLOCK) if self._noting else _recv_now(router)
            if door is not None and frames[0] == door.identity:
                door.woken()
                if self._want_watch:
                    self._start_watch()
                self.send_outbox()
                self._serve_inbox(-1, pooled=True)
                continue
            self._process(frames, -1, pooled=True)
        if can_read(router) and self.waker is not None:
            self.waker.wake()

    # -- stopping -------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the loop (from any thread, also from inside a served call)."""
        self.stop.set()
        self.wake()

    def wait_stopped(self) -> None:
        """After shutdown(): wait (bounded) for the loop to end, unless called from inside it."""
        if threading.get_ident() != self._owner:
            self._loop_done.wait(5.0)

    def drain_workers(self) -> None:
        """Let the worker pool finish (bounded); their replies are queued."""
        self._pool.shutdown(timeout=2.0)

    def close(self) -> None:
        """Send what is still queued if no thread serves any more, then close the sockets (a
        brokered daemon says BYE first when it can)."""
        idle = self._owner is None
        if idle:
            self.send_outbox()
        if self.link is not None:
            self.link.close(bye=idle)
        else:
            if self.notes is not None:
                self.notes.close()  # the monitor stops before its socket closes
            if self.door is not None:
                self.door.close()
            # the last replies (say, to the call that asked the daemon to stop) still go out:
            # libzmq sends them from its I/O thread, for at most 0.5 s (a gone peer waits nobody)
            self.router.close(linger=500)
            flush_before_exit(0.5)
        if self.waker is not None:
            self.waker.close()
