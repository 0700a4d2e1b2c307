"""One DEALER connection shared by many threads; replies matched to calls by call id.

zmq sockets are not thread-safe, so at any moment one thread, the *leader*, uses the socket:
it sends, then waits for replies and hands each reply to the thread waiting for it. Another
thread that wants to call meanwhile queues its frames, wakes the leader (a ``Waker`` fd in the
leader's poll) and waits on its own event. When the leader's own reply has come it hands the role
to a waiting thread. A single-threaded caller therefore never pays a thread hand-off, and many
threads pipeline their calls over the one connection.

The hot path is kept to what a raw pyzmq client does: send, then one blocking receive on the
DEALER alone (``FAST_WAIT_MS``). Only a call that takes longer, or a leader with others queued
behind it, moves to the full poll that also watches the waker and the socket monitor.

Safety without ZMQ_IMMEDIATE: a socket monitor tracks the connection. A call in flight when the
connection drops fails with ``ConnectionClosedError``; a connection refused, or not made within
``connect_timeout``, fails the calls waiting on it with ``CommunicationError`` and the socket is
closed, which drops what it had queued, so no call runs late after its caller gave up. A
connection never reconnects by itself (see ``StaleConnection``): the proxy makes a new one.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import errors, wire
from .config import config
from .security import apply_client
from .sockets import MONITOR_EVENTS, apply_heartbeat, can_read, context, recv_frames, send_frames
from .waker import Waker

log = logging.getLogger("zpyro.connection")

FAST_WAIT_MS = 2  # the leader's first, cheap wait: DEALER only (covers most calls)
POLL_SLICE_MS = 250  # then it re-checks deadlines and the connection state at least this often
REAPER_IDLE_SECONDS = 5.0
FLUSH_LINGER_MS = 200  # a released proxy's goodbye (session release) still gets out  # a reaper thread with no futures to lead for retires after this
_HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


Callback = Callable[[Any, Any], None]  # (reply Message | None, error | None)


class StaleConnection(errors.ConnectionClosedError):
    """The connection had closed before this call was sent: nothing of it went out, so the
    proxy retries it once on a new connection (the caller never sees this)."""


class Pending:
    """One call waiting for its reply: a blocked thread (event) or a future (callback)."""

    __slots__ = ("event", "reply", "error", "done", "promoted", "gone", "callback", "deadline")

    def __init__(
        self, waiting: bool, callback: Callback | None = None, deadline: float | None = None
    ) -> None:
        self.event = threading.Event() if waiting else None
        self.reply: wire.Message | None = None
        self.error: BaseException | None = None
        self.done = False
        self.promoted = False  # asked to become the leader
        self.gone = False  # its thread stopped waiting (timeout): never promote it
        self.callback = callback
        self.deadline = deadline

    def finish(self, reply: wire.Message | None, error: BaseException | None) -> None:
        self.reply = reply
        self.error = error
        self.done = True
        if self.event is not None:
            self.event.set()
        if self.callback is not None:
            try:
                self.callback(reply, error)
            except Exception:  # a future's own callbacks must not break the connection
                log.exception("result callback failed")


class Connection:
    def __init__(
        self, endpoint: str, connect_timeout: float, server_key: bytes | None = None
    ) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.max_pending = max(1, config.MAX_PENDING_CALLS)
        sock = context().socket(zmq.DEALER)
        try:
            sock.linger = 0
            sock.sndhwm = 0  # bounded by the callers' pending calls, not by silent blocking
            sock.rcvhwm = 0
            sock.rcvtimeo = FAST_WAIT_MS
            # No background reconnects: each retry of an idle proxy whose daemon is gone would
            # put an event in its monitor, which only a calling thread reads; a full monitor
            # blocks libzmq's I/O thread and with it every socket of the process. A lost or
            # refused connection closes instead, and the next call makes a new one.
            sock.reconnect_ivl = -1
            if endpoint.startswith("tcp://["):
                sock.ipv6 = 1
            apply_heartbeat(sock)
            self._curve = server_key is not None
            if server_key is not None:  # CURVE: only that server, and encrypted
                apply_client(sock, server_key)
            self._monitor = sock.get_monitor_socket(MONITOR_EVENTS)
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            raise errors.CommunicationError(f"cannot connect to {endpoint}: {exc}") from None
        self._sock = sock
        self._waker = Waker()
        self._poller = zmq.Poller()
        self._poller.register(sock, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        self._poller.register(self._waker.fileno(), zmq.POLLIN)
        self._mutex = threading.Lock()
        self._leader = False
        self._outbox: deque[list[Any]] = deque()
        self._pending: dict[int, Pending] = {}
        self._waiting: deque[Pending] = deque()  # threads blocked in call(), oldest first
        self._woken = False  # the waker is readable (or about to be): no need to write again
        self._ids = itertools.count(1)
        self._closed: str | None = None  # why, once closed
        self._closed_as: type[BaseException] = errors.ConnectionClosedError
        self._sockets_closed = False
        self._connected = False  # per the monitor
        self._handshaken = False  # the ZMTP (and CURVE) handshake completed
        self._connect_deadline: float | None = time.monotonic() + connect_timeout
        # a handshake that failed before any call waited: the next call fails with it at once
        self._handshake_failure: errors.ZPyroError | None = None
        self._async: set[int] = set()  # call ids of pending calls that no thread waits for
        self._deadlines: list[tuple[float, int]] = []  # heap of (deadline, call id) of futures
        self._reaper_wanted = threading.Event()
        self._reaper: threading.Thread | None = None
        self._linger_ms = 0

    # -- public -----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def next_call_id(self) -> int:
        call_id = next(self._ids) & wire.MAX_CALL_ID
        return call_id or next(self._ids) & wire.MAX_CALL_ID

    def call(self, frames: list[Any], call_id: int, timeout: float | None) -> wire.Message:
        """Send a request and wait for its reply (TimeoutError/ConnectionClosedError otherwise)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            if self._closed is not None:
                raise self._closed_as(self._closed)
            self._check_room()
            lead = not self._leader
            if lead:
                self._leader = True
                pend = Pending(waiting=False)
            else:
                pend = Pending(waiting=True)
                self._pending[call_id] = pend
                self._waiting.append(pend)
                self._outbox.append(frames)
                wake = self._wake_needed()
        if lead:
            try:
                # events from while nobody was leading concern only calls already pending
                self._check_monitor()
                self._stale_check()
                self._pending[call_id] = pend
                self._send(frames)
                self._lead(pend, deadline)
            finally:
                self._let_go(pend, call_id)
        else:
            if wake:
                self._waker.wake()
            self._follow(pend, call_id, deadline)
            with self._mutex:  # forget finished waiters (they finish mostly in order)
                waiting = self._waiting
                while waiting and (waiting[0].done or waiting[0].gone):
                    waiting.popleft()
        if not pend.done:
            self._pending.pop(call_id, None)
            if not pend.done:  # (it may have arrived just now after all)
                if self._closed is not None:
                    raise self._closed_as(self._closed)
                raise errors.TimeoutError(f"no reply within {timeout} s")
        if pend.error is not None:
            raise pend.error
        assert pend.reply is not None
        return pend.reply

    def submit(
        self, frames: list[Any], call_id: int, timeout: float | None, callback: Callback
    ) -> None:
        """Send a request whose reply is handed to `callback(reply, error)`; returns at once.

        Replies are read by whichever thread leads the connection; when no caller does, a
        reaper thread (started on demand, gone when idle) leads until every future is answered.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pend = Pending(waiting=False, callback=callback, deadline=deadline)
        wake = False
        with self._mutex:
            if self._closed is not None:
                closed = self._closed_as(self._closed)
            else:
                closed = None
                self._check_room()
                lead = not self._leader
                if lead:
                    self._leader = True
                else:
                    self._register_future(call_id, pend)
                    self._outbox.append(frames)
                    wake = self._wake_needed()
        if closed is not None:
            callback(None, closed)
            return
        if lead:
            try:
                self._check_monitor()
                self._stale_check()  # (raises before anything is registered or sent)
                with self._mutex:
                    self._register_future(call_id, pend)
                self._send(frames)
            finally:
                self._handover()  # wakes the reaper: futures are outstanding now
        elif wake:
            self._waker.wake()
        if self._reaper is None:
            self._start_reaper()

    def _check_room(self) -> None:
        """Bounded pending calls (mutex held): a runaway caller gets an error, not all the RAM."""
        if len(self._pending) >= self.max_pending:
            raise errors.CommunicationError(
                f"{len(self._pending)} calls already wait for replies on this connection "
                f"(MAX_PENDING_CALLS = {self.max_pending}); wait for some before sending more"
            )

    def _register_future(self, call_id: int, pend: Pending) -> None:
        """A future's call is pending from now on (mutex held)."""
        self._pending[call_id] = pend
        self._async.add(call_id)
        if pend.deadline is not None:
            if len(self._deadlines) > 2 * len(self._async) + 256:
                self._compact_deadlines()
            heapq.heappush(self._deadlines, (pend.deadline, call_id))

    def _compact_deadlines(self) -> None:
        """Drop the entries of answered futures (mutex held). They stay in the heap until their
        deadline, so a fast stream of futures with a long timeout would otherwise pile up
        millions. A copy is filtered (the leader may pop meanwhile) and swapped in."""
        live = [entry for entry in list(self._deadlines) if entry[1] in self._async]
        heapq.heapify(live)
        self._deadlines = live

    def _wake_needed(self) -> bool:
        """Whether to write to the waker (mutex held): once until the leader has drained it, so
        a burst of queued calls costs one write and one wake-up, not one each."""
        if self._woken:
            return False
        self._woken = True
        return True

    def _start_reaper(self) -> None:
        if self._reaper is None:
            with self._mutex:
                if self._reaper is None and self._closed is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="zpyro-connection-reaper", daemon=True
                    )
                    self._reaper.start()

    def _reap(self) -> None:
        """Lead while futures are outstanding and no caller thread leads."""
        while True:
            woken = self._reaper_wanted.wait(REAPER_IDLE_SECONDS)
            with self._mutex:
                self._reaper_wanted.clear()
                if self._closed is not None or (not woken and not self._async):
                    self._reaper = None
                    return
                if self._leader or not self._async:
                    continue  # the leader delivers; it wakes us when it lets go
                self._leader = True
            try:
                self._lead(None, None)
            finally:
                self._handover()

    def send_oneway(self, frames: list[Any]) -> None:
        """Send without waiting for any reply."""
        with self._mutex:
            if self._closed is not None:
                raise self._closed_as(self._closed)
            lead = not self._leader
            if lead:
                self._leader = True
            else:
                self._outbox.append(frames)
                wake = self._wake_needed()
        if not lead:
            if wake:
                self._waker.wake()
            return
        try:
            # a connection that closed unseen would swallow the call: find out before sending
            self._check_monitor()
            self._stale_check()
            self._send(frames)
        finally:
            self._handover()

    def __del__(self) -> None:
        # Stop the monitor before the garbage collector closes the two sockets in any order:
        # libzmq blocks its I/O thread on a monitor event for a monitor socket already closed.
        try:
            self.close("connection garbage collected")
        except Exception:
            pass

    def close(self, reason: str = "connection closed by the proxy", flush: bool = False) -> None:
        """Fail what is pending and close. With `flush`, what was just sent still goes out."""
        self._linger_ms = FLUSH_LINGER_MS if flush else 0
        with self._mutex:
            if self._closed is not None:
                return
            self._closed = reason
            self._fail_all(errors.ConnectionClosedError(reason))
            self._reaper_wanted.set()  # an idle reaper ends now, not REAPER_IDLE_SECONDS later
            if self._leader:
                # the leader owns the sockets right now; it closes them when it lets go
                self._waker.wake()
                return
            self._leader = True  # nobody may touch the sockets any more
        self._close_sockets()

    # -- leading ----------------------------------------------------------------------------------

    def _follow(self, pend: Pending, call_id: int, deadline: float | None) -> None:
        assert pend.event is not None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                with self._mutex:
                    pend.gone = True
                    promoted = pend.promoted and not pend.done
                if promoted:  # the role reached us just as we gave up: pass it on
                    pend.promoted = False
                    self._handover()
                return  # the caller sees not done -> TimeoutError
            pend.event.wait(remaining)
            if pend.done:
                return
            if pend.promoted:
                pend.promoted = False
                pend.event.clear()
                try:
                    self._lead(pend, deadline)
                finally:
                    self._let_go(pend, call_id)
                return

    def _lead(self, pend: Pending | None, deadline: float | None) -> None:
        """Operate the socket until `pend` is answered (None: until no future is outstanding),
        the deadline passes or the connection is closed."""
        if pend is not None and not self._outbox:
            # fast path: one blocking receive on the DEALER alone, like a raw pyzmq client
            try:
                self._deliver(recv_frames(self._sock))
            except zmq.Again:
                pass
        sock, monitor, wake_fd = self._sock, self._monitor, self._waker.fileno()
        while (not pend.done if pend is not None else bool(self._async)) and self._closed is None:
            if self._outbox:
                self._flush_outbox()
            slice_ms = POLL_SLICE_MS
            if self._deadlines:
                self._expire_futures()
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                slice_ms = min(slice_ms, int(remaining * 1000) + 1)
            ready = dict(self._poller.poll(slice_ms))
            if sock in ready:
                self._recv_all()
            if monitor in ready:
                self._drain_monitor()
            if wake_fd in ready:
                self._woken = False  # before draining: a later wake must write again
                self._waker.drain()
            self._check_connect_deadline()

    def _expire_futures(self) -> None:
        """Fail the futures whose deadline has passed (the heap's top is the earliest)."""
        deadlines = self._deadlines
        now = time.monotonic()
        while deadlines and deadlines[0][0] < now:
            _, call_id = heapq.heappop(deadlines)
            pend = self._pending.get(call_id)
            if pend is None or pend.callback is None or pend.deadline is None:
                continue  # answered already (or the id was reused by a sync call)
            if pend.deadline >= now:
                continue
            if self._pending.pop(call_id, None) is not None:
                self._async.discard(call_id)
                pend.finish(None, errors.TimeoutError("no reply within the timeout"))
        self._forget_deadlines()

    def _forget_deadlines(self) -> None:
        """No future outstanding: what is left in the heap belongs to answered ones."""
        if not self._async and self._deadlines:
            with self._mutex:  # a future being submitted right now keeps its entry
                if not self._async:
                    self._deadlines.clear()

    def _let_go(self, pend: Pending, call_id: int) -> None:
        """End a leader's turn: forget its own unanswered call, then hand the role over."""
        if not pend.done:
            self._pending.pop(call_id, None)
        self._handover()

    def _handover(self) -> None:
        """Give up the leader role: flush queued frames, then promote a waiting thread."""
        while True:
            with self._mutex:
                if self._closed is not None:
                    self._leader = True  # stays taken: the sockets are going away
                    # a flushing close still sends what was queued (a released proxy's goodbye,
                    # queued while a reaper led: else the daemon would keep its session)
                    leftover = list(self._outbox) if self._linger_ms else []
                    self._outbox.clear()
                    break
                if not self._outbox:
                    waiting = self._waiting
                    while waiting:
                        other = waiting.popleft()
                        if not other.done and not other.gone and not other.promoted:
                            other.promoted = True
                            other.event.set()  # type: ignore[union-attr]
                            return
                    self._leader = False
                    if self._async:
                        self._reaper_wanted.set()  # futures still out: the reaper leads now
                    return
                items = list(self._outbox)
                self._outbox.clear()
            for frames in items:
                self._send(frames)
        for frames in leftover:
            try:
                self._send(frames)
            except zmq.ZMQError:
                break
        self._close_sockets()

    def _flush_outbox(self) -> None:
        while True:
            try:
                frames = self._outbox.popleft()
            except IndexError:
                return
            self._send(frames)

    def _send(self, frames: list[Any]) -> None:
        if not self._connected and self._connect_deadline is None:
            self._connect_deadline = time.monotonic() + self.connect_timeout
        # no HWM (sndhwm=0): a DEALER send only queues, never blocks
        if len(frames) <= 3:
            send_frames(self._sock, frames)  # our own small frames: the lean path
        else:
            self._sock.send_multipart(frames, copy=False)  # out-of-band buffers: checked, no copy

    def _recv_all(self) -> None:
        sock = self._sock
        while can_read(sock):
            self._deliver(recv_frames(sock, zmq.NOBLOCK))

    def _deliver(self, frames: list[bytes]) -> None:
        try:
            msg = wire.decode(frames)
        except errors.ProtocolError as exc:
            # the call it answers (when its id can be read) fails with the reason: never a hang
            log.warning("undecodable reply from %s: %s", self.endpoint, exc)
            call_id = wire.peek_call_id(frames)
            broken = self._pending.pop(call_id, None) if call_id else None
            if broken is not None:
                if broken.callback is not None:
                    self._async.discard(call_id)
                broken.finish(None, errors.ProtocolError(f"undecodable reply: {exc}"))
            return
        pend = self._pending.pop(msg.call_id, None)
        if pend is not None:
            if pend.callback is not None:
                self._async.discard(msg.call_id)
                self._forget_deadlines()
            pend.finish(msg, None)
        elif msg.call_id == 0 and msg.kind == wire.ERROR:
            log.warning("daemon %s reported an error about an unreadable request", self.endpoint)
        else:
            log.debug("late reply for call %d dropped", msg.call_id)

    # -- connection state -------------------------------------------------------------------------

    def _check_monitor(self) -> None:
        if can_read(self._monitor):
            self._drain_monitor()

    def _drain_monitor(self) -> None:
        while can_read(self._monitor):
            info = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            event = info["event"]
            if event == zmq.EVENT_CONNECTED:
                self._connected = True
                self._connect_deadline = None
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._handshaken = True
            elif event == zmq.EVENT_DISCONNECTED:
                self._connected = False
                lost: errors.ZPyroError
                if self._handshaken:
                    lost = errors.ConnectionClosedError(f"connection to {self.endpoint} lost")
                else:  # dropped during the handshake: the peer refused how we talk
                    lost = self._handshake_error(None)
                self._give_up(lost, close=True)
            elif event == zmq.EVENT_CLOSED and not self._connected and self._closed is None:
                # the connect attempt failed (refused); libzmq will not try again
                refused = f"cannot connect to {self.endpoint}: refused"
                if self._pending:
                    self._give_up(errors.CommunicationError(refused), close=True)
                else:  # nobody waited: the next call simply tries a new connection
                    self._give_up(StaleConnection(refused), close=True)
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self._give_up(
                    errors.SecurityError(f"{self.endpoint} refused our credentials"), close=True
                )
            elif event & _HANDSHAKE_FAILED:
                failure = self._handshake_error(info.get("value"))
                if self._pending:
                    self._give_up(failure, close=True)
                else:
                    self._handshake_failure = failure

    def _stale_check(self) -> None:
        """After draining the monitor as a new leader: a connection that closed while nobody
        used it has sent nothing of this call, so the proxy may try again on a new one."""
        if self._closed is not None:
            if issubclass(self._closed_as, errors.ConnectionClosedError):
                raise StaleConnection(self._closed)
            raise self._closed_as(self._closed)  # e.g. a refused handshake: no use retrying

    def _handshake_error(self, value: Any) -> errors.ZPyroError:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return errors.SecurityError(
                f"{self.endpoint} uses another security mechanism (CURVE on one side only? "
                "set CURVE_SERVER_PUBLIC_KEY to the server's public key)"
            )
        if self._curve:
            return errors.SecurityError(
                f"CURVE handshake with {self.endpoint} failed (wrong server public key?)"
            )
        # e.g. the peer closed mid-handshake: a listener going away, or one that wants CURVE
        return errors.CommunicationError(
            f"handshake with {self.endpoint} failed (is it going away, or does it require CURVE?)"
        )

    def _check_connect_deadline(self) -> None:
        if self._handshake_failure is not None and not self._connected and self._pending:
            self._give_up(self._handshake_failure, close=True)
            return
        if (
            not self._connected
            and self._connect_deadline is not None
            and time.monotonic() > self._connect_deadline
            and self._pending
        ):
            self._give_up(
                errors.CommunicationError(
                    f"cannot connect to {self.endpoint} within {self.connect_timeout} s"
                ),
                close=True,
            )

    def _give_up(self, exc: BaseException, close: bool = False) -> None:
        """Fail the calls in flight; with `close`, also drop the socket and what it queued."""
        with self._mutex:
            self._fail_all(exc)
            if close and self._closed is None:
                self._closed = str(exc)
                self._closed_as = type(exc)

    def _fail_all(self, exc: BaseException) -> None:
        """Fail every pending call (mutex held)."""
        pending = list(self._pending.values())
        self._pending.clear()
        self._async.clear()
        self._deadlines.clear()
        self._waiting.clear()
        for pend in pending:
            pend.finish(None, exc)

    def _close_sockets(self) -> None:
        if self._sockets_closed:
            return
        self._sockets_closed = True
        try:
            self._sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self._monitor.close(linger=0)
        self._sock.close(linger=self._linger_ms)
        self._waker.close()
