"""Name-server calls that wait for a name to appear: ``lookup``/``yplookup`` with ``delay_time``.

Pyro5 waits for a name by asking again every so often. Here the waiting call is a coroutine
(``NameServer`` makes it) that awaits :class:`NameChange`; the broker parks it in
:class:`Waiting` and steps it again when the names change -- the same changes it announces --
or when its deadline passes. No polling, no reply held up by a sleeping thread, and every other
caller is served meanwhile. Pure: no sockets; the broker hands in how to send a reply and the time.
"""

from __future__ import annotations

import contextvars
import logging
import math
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from zpyro import errors

__all__ = ["NameChange", "Waiting", "MAX_WAITING"]

log = logging.getLogger("zpyro.broker.waiting")

MAX_WAITING = 10_000  # parked calls at most: beyond, a lookup that would wait fails at once

# finish(result, error) -> the reply frames (the Dispatcher makes them), or None for no reply
Finish = Callable[[Any, "BaseException | None"], "list[Any] | None"]
Send = Callable[[bytes, "list[Any]"], None]


class NameChange:
    """What a waiting call awaits: the next change of the names, or its `deadline` (monotonic)."""

    __slots__ = ("deadline",)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __await__(self) -> Generator[NameChange, None, None]:
        yield self


class _Parked:
    __slots__ = ("client", "coro", "finish", "context", "deadline")

    def __init__(self, client: bytes, coro: Coroutine[Any, Any, Any], finish: Finish) -> None:
        self.client = client
        self.coro = coro
        self.finish = finish
        self.context = contextvars.copy_context()  # its own current_context while suspended
        self.deadline = math.inf


class Waiting:
    """The parked calls of one name server, stepped by the thread that runs the broker."""

    def __init__(self, send: Send, limit: int = MAX_WAITING) -> None:
        self._send = send
        self._limit = limit
        self._parked: list[_Parked] = []

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, client: bytes, coro: Coroutine[Any, Any, Any], finish: Finish) -> None:
        """Take a waiting call (the Dispatcher's ``defer``): run it to its first wait."""
        parked = _Parked(client, coro, finish)
        if len(self._parked) >= self._limit:
            coro.close()
            why = errors.NamingError(f"too many lookups waiting ({self._limit}); try again later")
            self._done(parked, None, why)
            return
        self._step(parked)

    def changed(self) -> None:
        """The names changed: every parked call looks again."""
        parked, self._parked = self._parked, []
        for one in parked:
            self._step(one)

    def expire(self, now: float) -> None:
        """Step the calls whose deadline has come (they answer, found or not)."""
        if not self._parked or now < self.next_deadline():
            return
        due = [p for p in self._parked if p.deadline <= now]
        self._parked = [p for p in self._parked if p.deadline > now]
        for one in due:
            self._step(one)

    def next_deadline(self) -> float:
        """The earliest deadline of a parked call (infinity when none waits)."""
        if not self._parked:  # (the broker's loop asks after every message)
            return math.inf
        return min((p.deadline for p in self._parked), default=math.inf)

    def close(self, why: BaseException) -> None:
        """Answer every parked call with `why` (the name server is going away)."""
        parked, self._parked = self._parked, []
        for one in parked:
            one.coro.close()
            self._done(one, None, why)

    def _step(self, parked: _Parked) -> None:
        try:
            waited = parked.context.run(parked.coro.send, None)
        except StopIteration as stop:
            self._done(parked, stop.value, None)
            return
        except BaseException as exc:  # a NamingError at the deadline, or a bug: the caller hears
            self._done(parked, None, exc)
            return
        if not isinstance(waited, NameChange):
            parked.coro.close()
            self._done(parked, None, errors.DaemonError(f"cannot wait for {waited!r}"))
            return
        parked.deadline = waited.deadline
        self._parked.append(parked)

    def _done(self, parked: _Parked, result: Any, error: BaseException | None) -> None:
        try:
            frames = parked.finish(result, error)
        except Exception:
            log.exception("cannot make the reply of a waiting lookup")
            return
        if frames is not None:
            self._send(parked.client, frames)
