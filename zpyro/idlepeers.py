"""Which clients of a daemon have been idle too long: Pyro's COMMTIMEOUT on the server side.

Pyro's daemon drops a client connection that sends nothing for COMMTIMEOUT seconds while it
waits for the next request (not while a call of it runs). The daemon's owner thread notes each
message (a set insertion), each call that will be answered and each answer; a sweep every
quarter of the limit turns that into last-seen times and names the clients silent for the
limit with no call running. So a client is dropped between 1 and 1.25 times the limit after its
last message or answer. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections import Counter

SWEEPS_PER_LIMIT = 4


class IdlePeers:
    def __init__(self, limit: float, now: float) -> None:
        self.limit = limit
        self.next_sweep = now + limit / SWEEPS_PER_LIMIT
        self.recent: set[bytes] = set()  # clients heard from since the last sweep
        self._last: dict[bytes, float] = {}  # client -> the sweep that last found it heard
        self._running: Counter[bytes] = Counter()  # client -> its calls not yet answered

    def started(self, peer: bytes) -> None:
        """A call of `peer` that will be answered."""
        self._running[peer] += 1

    def answered(self, peer: bytes) -> None:
        """A call of `peer` was answered: its idle time starts now (as Pyro's, which runs while
        the daemon waits for the next request)."""
        running = self._running
        count = running.get(peer)
        if count:
            if count == 1:
                del running[peer]
                self.recent.add(peer)
            else:
                running[peer] = count - 1

    def sweep(self, now: float) -> list[bytes]:
        """The clients idle for the limit (forgotten here: drop them)."""
        last = self._last
        for peer in self.recent:
            last[peer] = now
        self.recent.clear()
        idle = [
            p for p, seen in last.items() if now - seen >= self.limit and p not in self._running
        ]
        for peer in idle:
            del last[peer]
        self.next_sweep = now + self.limit / SWEEPS_PER_LIMIT
        return idle

    def forget(self, peer: bytes) -> None:
        """The client went away by itself."""
        self._last.pop(peer, None)
        self._running.pop(peer, None)
        self.recent.discard(peer)
