"""The calls of one connection that wait for replies. Pure: no sockets, no clock of its own.

:class:`CallTable` keeps the pending calls by call id, the deadlines of futures (a heap), and
the rules around them: a reply finishes its call and a reply nobody waits for any more (a late
reply after a timeout) is dropped; a future whose deadline has passed (``now`` is passed in)
fails with ``TimeoutError``; a lost connection fails every call at once. The connection
(``zpyro/connection.py``) feeds it the frames it receives and decides when to ask.

A blocked caller's own deadline is the connection's business (it stops waiting); only futures,
which no thread waits for, need the heap.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable
from typing import Any

from . import errors, wire

log = logging.getLogger("zpyro.connection")

Callback = Callable[[Any, Any], None]  # (reply Message | None, error | None)


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
        elif msg.call_id == 0 and msg.kind == wire.ERROR:
            log.warning("daemon %s reported an error about an unreadable request", self._peer)
        else:
            log.debug("late reply for call %d dropped", msg.call_id)

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

    def fail_all(self, exc: BaseException) -> None:
        """Fail every pending call with `exc` (lock held)."""
        pending = list(self.pending.values())
        self.pending.clear()
        self.futures.clear()
        self.deadlines.clear()
        for pend in pending:
            pend.finish(None, exc)
