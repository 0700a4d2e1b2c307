"""One DEALER connection shared by many threads; replies matched to calls by call id.

zmq sockets are not thread-safe, so at any moment one thread, the *leader*, uses the socket:
it sends, then waits for replies and hands each reply to the thread waiting for it. Another
thread that wants to call meanwhile queues its frames, wakes the leader (a ``Waker`` fd in the
leader's poll) and waits on its own event. When the leader's own reply has come it hands the role
to a waiting thread. A single-threaded caller therefore never pays a thread hand-off, and many
threads pipeline their calls over the one connection.

The hot path is kept to what a raw pyzmq client does: send, then one blocking receive on the
DEALER alone (``FAST_WAIT_MS``). Only a call that takes longer, or a leader with others queued
behind it, moves to the full poll that also watches the waker and the connection's state.

The pure parts live beside it: the pending calls and the futures' deadlines in
:mod:`zpyro.pending`, what the socket monitor's events mean in :mod:`zpyro.linkstate`.

Knowing the connection's state: a socket monitor tracks the connection. A call in flight when
the connection drops fails with ``ConnectionClosedError``; a connection refused, or not made
within ``connect_timeout``, fails the calls waiting on it with ``CommunicationError``
(``SecurityError`` for a failed CURVE handshake) and the socket is closed, which drops what it
had queued, so no call runs late after its caller gave up. Oneway calls that need room may go
once the handshake is done.

Why not ``ZMQ_IMMEDIATE`` without a monitor, which would save a new connection two sockets (it
was tried): when the peer closes the connection just after replying (a daemon stopped by the
call it answers, as Pyro programs do), libzmq drops an IMMEDIATE connection's pipe at once,
with the reply still unread in it; the caller got ConnectionClosedError for a call that ran and
answered (1 run in 6 under load).

A connection never reconnects by itself: the proxy makes a new one (see ``StaleConnection``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import errors, wire
from .config import config
from .linkstate import LinkState, StaleConnection
from .pending import Callback, CallTable, Pending, in_result_callback
from .sockets import MONITOR_EVENTS, can_read, dealer, poll, recv_frames, send_frames
from .waker import Waker

log = logging.getLogger("zpyro.connection")

__all__ = ["Connection", "StaleConnection"]

FAST_WAIT_MS = 2  # the leader's first, cheap wait: DEALER only (covers most calls)
POLL_SLICE_MS = 250  # then it re-checks deadlines and the connection state at least this often
RECONNECT_NEVER_MS = 3_600_000  # (see _open: not -1)
REAPER_IDLE_SECONDS = 5.0  # a reaper thread with no futures to lead for retires after this
FLUSH_LINGER_MS = 200  # a released proxy's goodbye (session release) still gets out
PEER_GONE_WAIT = 1.0  # how long a send that found no peer waits for the monitor to say why
PEEK_MASK = 15  # a oneway caller reads what came (credit, notices) every 16 calls
_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)


class Connection:
    def __init__(
        self,
        endpoint: str,
        connect_timeout: float,
        server_key: bytes | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self._server_key = server_key
        self._waker: Waker | None = None  # made when first needed (_ensure_waker)
        self._mutex = threading.Lock()
        self._calls = CallTable(config.MAX_PENDING_CALLS, self._mutex, endpoint)
        self._pending = self._calls.pending  # (the same dict: the fast path uses it directly)
        # room for oneway calls (zpyro.credit); the proxy reads window and attention directly
        self.credit = self._calls.credit
        self._open()
        self._leader = False
        self._outbox: deque[list[Any]] = deque()
        self._waiting: deque[Pending] = deque()  # threads blocked in call(), oldest first
        self._woken = False  # the waker is readable (or about to be): no need to write again
        self._ids = itertools.count(1)
        self._closed: str | None = None  # why, once closed
        self._closed_as: type[BaseException] = errors.ConnectionClosedError
        self._sockets_closed = False
        self._reaper_wanted: threading.Event | None = None  # made by the first future
        self._reaper: threading.Thread | None = None
        self._linger_ms = 0
        self._unsent_id = 0  # the call whose send just found no peer (see _send)
        self.resend_unsent = False  # see _closed_error (set for the connection to a broker pair)

    def _open(self) -> None:
        """Make the DEALER and its monitor.

        No background reconnects in practice: a lost or refused connection closes, and the next
        call makes a new one (each retry of an idle proxy whose daemon is gone would put an
        event in its monitor, which only a calling thread reads). But not reconnect_ivl -1:
        without a reconnect to come, libzmq drops the connection's pipe at once when the peer
        goes -- with a reply still unread in it (a daemon stopped by the call it answered). A
        reconnect an hour away keeps the pipe, and the reply, until this side closes.
        """
        sock, monitor = dealer(
            self.endpoint,
            self._server_key,
            errors.CommunicationError,
            MONITOR_EVENTS,
            rcvtimeo=FAST_WAIT_MS,
            reconnect_ivl=RECONNECT_NEVER_MS,
        )
        assert monitor is not None
        self._sock = sock
        self._monitor = monitor
        self._sent = False  # a first message went out (the connect deadline runs from then)
        self._state = LinkState(
            self.endpoint, self.connect_timeout, self._server_key is not None, time.monotonic()
        )
        # oneway calls may go once nothing can vanish unseen: after the handshake (inproc: at once)
        self.credit.open = self._state.handshaken
        # what the leader polls (made when first needed): replies, other threads' calls, the
        # monitor
        self._items: list[tuple[Any, int]] | None = None

    # -- public -----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def secure(self) -> bool:
        """A CURVE connection."""
        return self._server_key is not None

    def next_call_id(self) -> int:
        call_id = next(self._ids) & wire.MAX_CALL_ID
        return call_id or next(self._ids) & wire.MAX_CALL_ID

    def call(self, frames: list[Any], call_id: int, timeout: float | None) -> wire.Message:
        """Send a request and wait for its reply (TimeoutError/ConnectionClosedError otherwise)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            if self._closed is not None:
                raise self._closed_error()
            if len(self._pending) >= self._calls.max_pending:
                self._calls.check_room()
            lead = not self._leader
            if lead:
                self._leader = True
                pend = Pending(False)
            else:
                pend = Pending(True)
                self._pending[call_id] = pend
                self._waiting.append(pend)
                self._outbox.append(frames)
                wake = self._wake_needed()
        if lead:
            try:
                self._check_closed()
                self._pending[call_id] = pend
                if not self._send(frames):
                    self._check_closed()  # (raises: nothing of the call went out)
                self._lead(pend, deadline)
            finally:
                if not pend.done:
                    self._pending.pop(call_id, None)
                self._handover()
        else:
            if wake:
                self._wake()
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
            if self._reaper_wanted is None:
                self._reaper_wanted = threading.Event()
            if self._closed is not None:
                closed = self._closed_error()
            else:
                closed = None
                self._calls.check_room()
                lead = not self._leader
                if lead:
                    self._leader = True
                else:
                    self._calls.add_future(call_id, pend)
                    self._outbox.append(frames)
                    wake = self._wake_needed()
        if closed is not None:
            raise closed  # (as call() does: the proxy retries a StaleConnection on a new one)
        if lead:
            try:
                self._check_closed()  # (raises before anything is registered or sent)
                with self._mutex:
                    self._calls.add_future(call_id, pend)
                self._send(frames)  # (not sent: the future has failed with the reason)
            finally:
                self._handover()  # wakes the reaper: futures are outstanding now
        elif wake:
            self._wake()
        if self._reaper is None:
            self._start_reaper()

    def _ensure_waker(self) -> Waker:
        """The waker (mutex held): made on first need -- a thread that has to wake the leader,
        or a leader about to poll -- and the poll items made again with it."""
        waker = self._waker
        if waker is None:
            waker = self._waker = Waker()
            self._items = None
        return waker

    def _wake(self) -> None:
        waker = self._waker
        if waker is not None:
            waker.wake()

    def _poll_items(self) -> list[tuple[Any, int]]:
        items: list[tuple[Any, int]] = [(self._sock, _POLLIN)]
        if self._waker is not None:
            items.append((self._waker.fileno(), _POLLIN))
        items.append((self._monitor, _POLLIN))
        return items

    def _wake_needed(self) -> bool:
        """Whether to write to the waker (mutex held): once until the leader has drained it, so
        a burst of queued calls costs one write and one wake-up, not one each."""
        self._ensure_waker()
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
        wanted = self._reaper_wanted
        assert wanted is not None  # (made by the future that started this thread)
        while True:
            woken = wanted.wait(REAPER_IDLE_SECONDS)
            with self._mutex:
                wanted.clear()
                if self._closed is not None or (not woken and not self._calls.futures):
                    self._reaper = None
                    return
                if self._leader or not self._calls.futures:
                    continue  # the leader delivers; it wakes us when it lets go
                self._leader = True
            try:
                self._lead(None, None)
            finally:
                self._handover()

    def send_oneway(
        self, frames: list[Any], room: bool = False, timeout: float | None = None
    ) -> None:
        """Send without waiting for any reply.

        With `room` (a user's oneway call, not the proxy's own housekeeping) the call first
        needs room (:mod:`zpyro.credit`): the connection's handshake done, so a refused
        connection raises instead of swallowing the call, and a credit when the daemon grants
        credit. Without room it waits, up to `timeout`, leading the connection to read the
        credit that comes back.
        """
        credit = self.credit
        wait = False
        with self._mutex:
            if self._closed is not None:  # (the proxy's own message: no notice taken)
                raise self._closed_error(notice=room)
            if room:  # (SenderCredit.take, inline: this is the oneway hot path)
                if credit.open and credit.room > 0:
                    credit.room -= 1
                else:
                    wait = True
            if not wait:
                lead = not self._leader
                if lead:
                    self._leader = True
                else:
                    self._outbox.append(frames)
                    wake = self._wake_needed()
        if wait:
            self._await_room(timeout)
            with self._mutex:  # (a credit is ours now: send as above)
                lead = not self._leader
                if lead:
                    self._leader = True
                else:
                    self._outbox.append(frames)
                    wake = self._wake_needed()
        if not lead:
            if wake:
                self._wake()
            return
        held = int(room)  # our credit, until the call is sent (or given back)
        try:
            self._check_closed(
                held, notice=room
            )  # a connection that closed unseen would swallow the call
            if not self._send(frames):
                self._check_closed(held, notice=room)
            held = 0
            if not credit.room & PEEK_MASK and can_read(self._sock):
                self._recv_all()  # now and then: credit, and notices for the next call
        except errors.ZPyroError:
            raise  # (_check_closed gave the credit back)
        except BaseException:
            if held:  # not sent after all: its credit is not used
                with self._mutex:
                    credit.grant(held)
            raise
        finally:
            self._handover()

    def set_credit_window(self, window: int | None) -> None:
        """The daemon's credit window for oneway calls (its metadata); None: it grants none."""
        with self._mutex:
            credit = self._calls.credit
            if (window or None) != credit.window:
                credit.set_window(window)
                if self._calls.room_waiters:
                    self._calls.wake_room_waiters()

    def has_room(self) -> bool:
        """Whether a oneway call would go out now without waiting (a hint: others may race)."""
        credit = self._calls.credit
        return credit.open and credit.room > 0 and self._closed is None

    def take_notice(self) -> errors.ZPyroError | None:
        """What the next call on this proxy must raise about earlier oneway calls, once."""
        with self._mutex:
            return self._calls.take_notice()

    def _await_room(self, timeout: float | None) -> None:
        """Wait until a oneway call may go and take its credit; raises when it may not.

        The waiting thread leads the connection if nobody does (it reads the CREDIT messages and
        the monitor's handshake event itself), else waits to be woken or handed the lead.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        calls = self._calls
        while True:
            with self._mutex:
                if self._closed is not None:
                    raise self._closed_error()
                if calls.credit.take():
                    return
                lead = not self._leader
                if not lead and in_result_callback():
                    # the thread reading replies runs this callback: it cannot wait for itself
                    raise errors.CommunicationError(
                        f"no room at {self.endpoint} for a oneway call made inside a result "
                        "callback (the call was not sent): make it from another thread"
                    )
                pend = Pending(waiting=not lead)
                key = calls.add_room_waiter(pend)
                if lead:
                    self._leader = True
                else:
                    self._waiting.append(pend)
            if lead:
                try:
                    self._check_closed()  # (drains the monitor: the handshake may open it)
                    if not pend.done:
                        self._lead(pend, deadline)
                finally:
                    self._let_go(pend, key)
            else:
                self._follow(pend, key, deadline)
            if not pend.done:
                with self._mutex:
                    calls.forget_room_waiter(key)
                if pend.done:  # woken just now after all
                    continue
                if self._closed is not None:
                    raise self._closed_as(self._closed)
                raise errors.TimeoutError(
                    f"no room at {self.endpoint} for a oneway call within {timeout} s: the "
                    "daemon is still busy with earlier ones (the call was not sent)"
                )
            if pend.error is not None:
                raise pend.error

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
            self._waiting.clear()
            self._calls.fail_all(errors.ConnectionClosedError(reason))
            if self._reaper_wanted is not None:
                self._reaper_wanted.set()  # an idle reaper ends now, not in REAPER_IDLE_SECONDS
            if self._leader:
                # the leader owns the sockets right now; it closes them when it lets go
                self._ensure_waker().wake()
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
                self._calls.deliver(recv_frames(self._sock))
            except zmq.Again:
                pass
            if pend.done:
                return
        calls = self._calls
        while (not pend.done if pend is not None else bool(calls.futures)) and self._closed is None:
            if self._outbox:
                self._flush_outbox()
            monitor = self._monitor
            slice_ms = POLL_SLICE_MS
            if calls.deadlines:
                calls.expire(time.monotonic())
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                slice_ms = min(slice_ms, int(remaining * 1000) + 1)
            items = self._items
            if items is None:
                with self._mutex:
                    self._ensure_waker()
                    items = self._items = self._poll_items()
            ready = poll(items, slice_ms)
            for item, _ in ready:
                if item is self._sock:
                    self._recv_all()
                elif item is monitor:
                    self._drain_monitor()
                else:
                    self._woken = False  # before draining: a later wake must write again
                    self._waker.drain()  # type: ignore[union-attr]  # (in the items: made)
            overdue = self._state.overdue(time.monotonic(), bool(self._pending))
            if overdue is not None:
                self._give_up(overdue)

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
                    if self._calls.futures and self._reaper_wanted is not None:
                        self._reaper_wanted.set()  # futures still out: the reaper leads now
                    return
                items = list(self._outbox)
                self._outbox.clear()
            for frames in items:
                self._send(frames)
        for frames in leftover:
            try:
                if not self._send(frames):
                    break
            except zmq.ZMQError:
                break
        self._close_sockets()

    def _flush_outbox(self) -> None:
        while True:
            try:
                frames = self._outbox.popleft()
            except IndexError:
                return
            if not self._send(frames):
                return  # closed: the calls still queued have failed with it

    def _send(self, frames: list[Any]) -> bool:
        """Queue a message on the DEALER (leader only); False when the connection turned out
        closed, and nothing went out.

        With no HWM (sndhwm=0) a send never blocks, but a DEALER without any peer would block
        for good: after libzmq dropped the connection (it never reconnects), perhaps before its
        monitor event could be read. So no send blocks (NOBLOCK): one that finds no peer closes
        the connection, with the monitor's reason."""
        if not self._sent:
            self._sent = True
            self._state.sending(time.monotonic())
        try:
            if len(frames) <= 3:
                send_frames(self._sock, frames, True, _NOBLOCK)  # our own small frames: lean
            else:  # out-of-band buffers: checked, sent without a copy
                self._sock.send_multipart(frames, _NOBLOCK, copy=False)
        except zmq.Again:  # nothing went out: that call fails as never sent (_give_up)
            self._unsent_id = wire.peek_call_id(frames)
            try:
                self._peer_gone()
            finally:
                self._unsent_id = 0
            return False
        return True

    def _peer_gone(self) -> None:
        """The monitored DEALER has no peer left: close, with the reason the monitor gives
        (waited for, bounded: its event may still be on the way), else as a closed connection."""
        deadline = time.monotonic() + PEER_GONE_WAIT
        while self._closed is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._monitor.poll(int(remaining * 1000) + 1):
                break
            self._drain_monitor()
        if self._closed is None:
            self._give_up(errors.ConnectionClosedError(f"connection to {self.endpoint} closed"))

    def _recv_all(self) -> None:
        sock, deliver = self._sock, self._calls.deliver
        while can_read(sock):
            deliver(recv_frames(sock, zmq.NOBLOCK))

    # -- connection state -------------------------------------------------------------------------

    def _drain_monitor(self) -> None:
        monitor, state = self._monitor, self._state
        assert monitor is not None
        while can_read(monitor):
            info = recv_monitor_message(monitor, zmq.NOBLOCK)
            if info["event"] == zmq.EVENT_CLOSED and self._closed is not None:
                continue  # (our own close)
            ended = state.on_event(info["event"], info.get("value"), bool(self._pending))
            if ended is not None:
                self._give_up(ended)
        if state.handshaken and not self._calls.credit.open and self._closed is None:
            with self._mutex:  # oneway calls may go out now: none can vanish unseen any more
                self._calls.credit.open = True
                self._calls.wake_room_waiters()

    def _check_closed(self, held: int = 0, notice: bool = True) -> None:
        """As a new leader, before sending: read what the monitor said while nobody led (it
        concerns only calls already pending). A connection refused while nobody used it has
        sent nothing of this call (StaleConnection: the proxy tries again on a new one); one
        that was made and is lost now fails this call with ConnectionClosedError, as in Pyro."""
        if can_read(self._monitor):
            self._drain_monitor()
        if self._closed is not None:
            with self._mutex:
                if held:  # the caller's own credit: that call is not sent, it is not unconfirmed
                    self._calls.credit.grant(held)
                raise self._closed_error(notice)  # e.g. a refused handshake: no use retrying

    def _closed_error(self, notice: bool = True) -> BaseException:
        """What a call on this closed connection raises (mutex held): why it closed, with the
        count of oneway calls that may have been lost with it, once (the notice).

        A call it never sent: a connection refused before any call waited gives StaleConnection
        (the proxy sends the call on a new one). One that was made and is lost gives
        ConnectionClosedError, as in Pyro (what the daemon held for the proxy is gone) -- except
        with `resend_unsent` (a broker pair's: the call goes to the broker that took over)."""
        assert self._closed is not None
        if notice and self._calls.lost is not None:
            lost = self._calls.take_notice()
            if lost is not None:
                return lost
        if self.resend_unsent and issubclass(self._closed_as, errors.ConnectionClosedError):
            return StaleConnection(self._closed)  # a broker pair's: sent to the one that took over
        return self._closed_as(self._closed)

    def _give_up(self, exc: BaseException) -> None:
        """Fail the calls in flight and close: the socket and what it queued are dropped.

        Oneway calls whose credit had not come back may have been lost with it: the proxy's
        next call says so (the notice), rather than carry on as if they had all run."""
        if not self._sockets_closed:
            # replies that arrived before the loss was seen still answer their calls (say, a
            # daemon's reply to the call that stopped it: it comes just before the connection
            # goes, and may be read after the loss is)
            try:
                self._recv_all()
            except zmq.ZMQError:
                pass
        with self._mutex:
            self._waiting.clear()
            if self._closed is None:  # first: a failed call's callback sees the connection closed
                self._closed = str(exc)
                self._closed_as = type(exc)
                if self._calls.credit.unconfirmed:  # (the notice is made when asked for)
                    self._calls.lost = str(exc)
                    self._calls.credit.attention = True
            # calls still queued here were never sent: they may go again on a new connection
            unsent = {wire.peek_call_id(frames) for frames in self._outbox}
            unsent.add(self._unsent_id)  # (a send that found no peer, or 0)
            self._calls.fail_all(exc, unsent, self._closed_error(notice=False))
            if self._reaper_wanted is not None:  # an idle reaper ends now, not after
                self._reaper_wanted.set()  # REAPER_IDLE_SECONDS

    def _close_sockets(self) -> None:
        if self._sockets_closed:
            return
        self._sockets_closed = True
        self._close_dealer(self._linger_ms)
        if self._waker is not None:
            self._waker.close()

    def _close_dealer(self, linger_ms: int = 0) -> None:
        """Close the DEALER, its monitor stopped first (see the README: ZeroMQ traps)."""
        try:
            self._sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self._monitor.close(linger=0)
        self._sock.close(linger=linger_ms)
