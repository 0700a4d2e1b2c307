"""The calls of one connection that wait for replies. Pure: no sockets, no clock of its own.

:class:`CallTable` keeps the pending calls by call id, the deadlines of futures (a heap), and
the rules around them: a reply finishes its call and a reply nobody waits for any more (a late
reply after a timeout) is dropped; a future whose deadline has passed (``now`` is passed in)
fails with ``TimeoutError``; a lost connection fails every call at once. The connection
(``zpyro/connection.py``) feeds it the frames it receives and decides when to ask.

A blocked caller's own deadline is the connection's business (it stops waiting); only futures,
which no thread waits for, need the heap.

Oneway flow control (:mod:`zpyro.credit`) meets the table here too: a CREDIT message gives the
connection's :class:`~zpyro.credit.SenderCredit` more room and wakes the oneway callers waiting
for it (kept among the pending calls under negative keys, so a lost connection or a connect
timeout fails them like any call), and an ERROR flagged ONEWAY (a broker could not run a oneway
call) is kept as the *notice* the proxy's next call raises.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

from . import errors, wire
from .credit import SenderCredit
from .serializers import BY_ID

log = logging.getLogger("zpyro.connection")

Callback = Callable[[Any, Any], None]  # (reply Message | None, error | None)

_callbacks = threading.local()  # .active: this thread is running a future's result callback


def in_result_callback() -> bool:
    """Whether the current thread runs a future's result callback (it may not wait for room)."""
    return bool(getattr(_callbacks, "active", False))


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
            _callbacks.active = True
            try:
                self.callback(reply, error)
            except Exception:  # a future's own callbacks must not break the connection
                log.exception("result callback failed")
            finally:
                _callbacks.active = False


class CallTable:
    """Pending calls by call id, and the deadlines of the futures among them.

    `lock` is the connection's mutex: the methods marked "lock held" expect it taken, because
    the connection changes its own state together with the table's.
    """

    def __init__(self, max_pending: int, lock: threading.Lock, peer: str = "") -> None:
        self.max_pending = max(1, max_pending)
        self.pending: dict[int, Pending] = {}
        self.futures: set[int] = set()  # call ids of pending calls that no thread waits for
        self.deadlines: list[tuple[float, int]] = []  # heap of (deadline, call id) of futures
        self._lock = lock
        self._peer = peer  # for log lines
        self.credit = SenderCredit()  # room for oneway calls (the connection's mutex guards it)
        self.room_waiters: dict[int, Pending] = {}  # oneway callers waiting for room, by key
        self._room_keys = 0
        self.notice: errors.ZPyroError | None = None  # for the proxy's next call to raise
        self.notices = 0  # how many notices came (only the first is raised)
        self.lost: str | None = None  # why the connection was lost, if oneway calls went with it

    def check_room(self) -> None:
        """Bounded pending calls (lock held): a runaway caller gets an error, not all the RAM."""
        if len(self.pending) >= self.max_pending:
            raise errors.CommunicationError(
                f"{len(self.pending)} calls already wait for replies on this connection "
                f"(MAX_PENDING_CALLS = {self.max_pending}); wait for some before sending more"
            )

    def add_future(self, call_id: int, pend: Pending) -> None:
        """A future's call is pending from now on (lock held)."""
        self.pending[call_id] = pend
        self.futures.add(call_id)
        if pend.deadline is not None:
            if len(self.deadlines) > 2 * len(self.futures) + 256:
                self._compact()
            heapq.heappush(self.deadlines, (pend.deadline, call_id))

    def _compact(self) -> None:
        """Drop the entries of answered futures (lock held). They stay in the heap until their
        deadline, so a fast stream of futures with a long timeout would otherwise pile up
        millions. A copy is filtered (the leader may pop meanwhile) and swapped in."""
        live = [entry for entry in list(self.deadlines) if entry[1] in self.futures]
        heapq.heapify(live)
        self.deadlines = live

    def deliver(self, frames: list[Any]) -> None:
        """A reply came: finish its call. Late replies are dropped (logged)."""
        try:
            msg = wire.decode(frames)
        except errors.ProtocolError as exc:
            self._undecodable(frames, exc)
            return
        pend = self.pending.pop(msg.call_id, None)
        if pend is not None:
            if pend.callback is not None:
                self.futures.discard(msg.call_id)
                self.forget_deadlines()
            pend.finish(msg, None)
        elif msg.kind == wire.CREDIT:
            self._granted(msg)
        elif msg.call_id == 0 and msg.kind == wire.ERROR:
            log.warning("daemon %s reported an error about an unreadable request", self._peer)
        elif msg.kind == wire.ERROR:
            self._error_for_nobody(msg)
        else:
            log.debug("late reply for call %d dropped", msg.call_id)

    # -- oneway flow control ----------------------------------------------------------------------

    def add_room_waiter(self, pend: Pending) -> int:
        """A oneway caller waits for room (lock held); its key among the pending calls."""
        self._room_keys += 1
        key = -self._room_keys
        self.pending[key] = pend
        self.room_waiters[key] = pend
        return key

    def forget_room_waiter(self, key: int) -> None:
        self.pending.pop(key, None)
        self.room_waiters.pop(key, None)

    def wake_room_waiters(self) -> None:
        """There may be room now: the waiting oneway callers look again (lock held)."""
        waiters = list(self.room_waiters.items())
        self.room_waiters.clear()
        for key, pend in waiters:
            if self.pending.pop(key, None) is not None:
                pend.finish(None, None)

    def _granted(self, msg: wire.Message) -> None:
        try:
            count = int(bytes(msg.payload))
        except ValueError:
            log.warning("malformed CREDIT from %s dropped", self._peer)
            return
        with self._lock:
            self.credit.grant(count)
            if self.room_waiters:
                self.wake_room_waiters()

    def _error_for_nobody(self, msg: wire.Message) -> None:
        """An ERROR no call waits for: a notice about a oneway call (kept for the proxy's next
        call), or a late error (a call that timed out; a oneway call an old daemon refused)."""
        try:
            exc = errors.payload_to_exception(BY_ID[msg.serializer_id].loads(msg.payload))
        except Exception as bad:  # whatever the peer sent, it is only logged
            exc = errors.ProtocolError(f"unreadable error payload ({bad})")
        if msg.flags & wire.FLAG_ONEWAY and isinstance(exc, errors.ZPyroError):
            log.warning("oneway call %d to %s was not run: %s", msg.call_id, self._peer, exc)
            with self._lock:
                self.notices += 1
                if self.notice is None:
                    self.notice = exc
                    self.credit.attention = True
            return
        log.warning(
            "error for call %d from %s, which nobody waits for any more (a oneway call, or one "
            "that timed out): %s",
            msg.call_id,
            self._peer,
            exc,
        )

    def take_notice(self) -> errors.ZPyroError | None:
        """The notice for the next call to raise, once (lock held)."""
        if self.lost is not None and self.notice is None:
            unconfirmed = self.credit.unconfirmed
            if unconfirmed:
                self.notice = errors.ConnectionClosedError(
                    f"{self.lost}: {unconfirmed} oneway calls sent on it were not confirmed "
                    "(they may or may not have run)"
                )
                log.warning("%s", self.notice)
                self.notices = 1
            self.lost = None
        self.credit.attention = False
        notice, self.notice = self.notice, None
        if notice is not None and self.notices > 1:
            notice = type(notice)(f"{notice} (and {self.notices - 1} more such oneway calls)")
        self.notices = 0
        return notice

    def _undecodable(self, frames: list[Any], exc: errors.ProtocolError) -> None:
        """A reply that does not decode fails the call it answers, when its id can be read:
        never a hang until the timeout."""
        log.warning("undecodable reply from %s: %s", self._peer, exc)
        call_id = wire.peek_call_id(frames)
        pend = self.pending.pop(call_id, None) if call_id else None
        if pend is not None:
            if pend.callback is not None:
                self.futures.discard(call_id)
                self.forget_deadlines()
            pend.finish(None, errors.ProtocolError(f"undecodable reply: {exc}"))

    def expire(self, now: float) -> None:
        """Fail the futures whose deadline is before `now` (the heap's top is the earliest)."""
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] < now:
            _, call_id = heapq.heappop(deadlines)
            pend = self.pending.get(call_id)
            if pend is None or pend.callback is None or pend.deadline is None:
                continue  # answered already (or the id was reused by a sync call)
            if pend.deadline >= now:
                continue
            if self.pending.pop(call_id, None) is not None:
                self.futures.discard(call_id)
                pend.finish(None, errors.TimeoutError("no reply within the timeout"))
        self.forget_deadlines()

    def forget_deadlines(self) -> None:
        """No future outstanding: what is left in the heap belongs to answered ones."""
        if not self.futures and self.deadlines:
            with self._lock:  # a future being submitted right now keeps its entry
                if not self.futures:
                    self.deadlines.clear()

    def fail_all(
        self,
        exc: BaseException,
        unsent: Collection[int] = (),
        unsent_exc: BaseException | None = None,
    ) -> None:
        """Fail every pending call with `exc`, those of `unsent` (never sent) with `unsent_exc`
        (lock held)."""
        pending = list(self.pending.items())
        self.pending.clear()
        self.futures.clear()
        self.deadlines.clear()
        for call_id, pend in pending:
            pend.finish(None, unsent_exc if unsent_exc and call_id in unsent else exc)
