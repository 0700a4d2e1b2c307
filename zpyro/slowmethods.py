"""Which methods a daemon runs inline and which on its worker pool, learned from durations. Pure.

A daemon runs a call in the thread that received it (no hand-off) unless the method is known to
be slow. What counts as slow is learned here from the durations the daemon reports; no clock of
its own, so the rules are tested with plain numbers:

* a method whose inline run had to be taken over by the standby thread is slow at once;
* otherwise it takes ``SLOW_STREAK`` inline runs in a row longer than ``SLOW_CALL``: one long
  wall time may just be the process being descheduled on a busy machine (and sending a fast
  method to the pool for that cost the 4-client benchmark half its throughput);
* a method learned slow comes back inline after ``FAST_STREAK`` pooled runs in a row shorter
  than ``FAST_CALL``, for the same reason;
* ``async def`` methods always run on the pool (their coroutine goes to the daemon's loop), and
  the daemon's own object is always answered inline.
"""

from __future__ import annotations

from collections.abc import Callable

from .wire import DAEMON_OBJECT_ID

SLOW_CALL = 0.002  # SLOW_STREAK inline runs in a row longer than this send a method to the pool
SLOW_STREAK = 3
FAST_CALL = SLOW_CALL / 4  # FAST_STREAK pooled runs in a row shorter than this bring it back
FAST_STREAK = 20

Key = tuple[str, str]  # (object id, method)


class SlowMethods:
    """``to_pool[(object id, method)]``: run it on the worker pool? Learned per method."""

    def __init__(self, is_coroutine: Callable[[str, str], bool]) -> None:
        self.to_pool: dict[Key, bool] = {}  # the daemon reads it directly on every call
        self._is_coroutine = is_coroutine
        self._slow_streak: dict[Key, int] = {}
        self.streaks = self._slow_streak  # non-empty: a fast inline run must be reported too
        self._fast_streak: dict[Key, int] = {}  # of methods learned slow

    def first_call(self, key: Key) -> bool:
        """A method's first call: only ``async def`` methods start on the pool."""
        pool = self.to_pool[key] = self._is_coroutine(*key)
        return pool

    def ran_inline(self, key: Key, seconds: float, taken_over: bool) -> None:
        """An inline run took `seconds` (`taken_over`: the standby had to take the sockets).

        A run that is neither longer than SLOW_CALL nor taken over changes nothing while
        ``streaks`` is empty, so the daemon may skip reporting it then."""
        if key[0] == DAEMON_OBJECT_ID:
            return
        if taken_over:
            self.to_pool[key] = True
        elif seconds > SLOW_CALL:
            streak = self._slow_streak.get(key, 0) + 1
            self._slow_streak[key] = streak
            if streak >= SLOW_STREAK:
                self.to_pool[key] = True
        elif key in self._slow_streak:
            del self._slow_streak[key]

    def ran_pooled(self, key: Key, seconds: float) -> None:
        """A pooled run took `seconds`. Called from worker threads: a count may be off by one,
        which does no harm."""
        if seconds >= FAST_CALL:
            self._fast_streak.pop(key, None)
            return
        streak = self._fast_streak.get(key, 0) + 1
        self._fast_streak[key] = streak
        if streak >= FAST_STREAK:
            self._fast_streak.pop(key, None)
            if not self._is_coroutine(*key):  # async def methods stay in the pool
                self._slow_streak.pop(key, None)
                self.to_pool[key] = False
