"""Callers' connection handshakes, kept so every daemon of a pool can validate them. Pure.

A proxy makes its handshake once, when it connects (docs/PROTOCOL.md). Through the broker, that
handshake goes to one daemon of the pool, whose ``validateHandshake`` answers it. The caller's
later calls may go to other daemons of the pool, and each of them must validate the caller too:
so the broker keeps the handshake's frames, and before a caller's first call to a daemon that
has not seen them it sends them there, marked oneway (the daemon validates, answers nothing,
and refuses the caller's calls if it refuses the handshake). The frames are forwarded as they
came: the broker never reads the handshake data. Kept per caller route, bounded (the oldest
go first: a daemon that then meets a caller it does not know refuses its call with
``HandshakeError``, and the caller's proxy connects again, with its handshake).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

MAX_CALLERS = 100_000


class _Entry:
    __slots__ = ("frames", "call_id", "seen")

    def __init__(self, frames: list[Any], call_id: int) -> None:
        self.frames = frames  # the handshake as the broker passes it on (oneway, call id 0)
        self.call_id = call_id  # the caller's own handshake call (forwarded, not replayed)
        self.seen: set[bytes] = set()  # daemons that have it


class Handshakes:
    def __init__(self, max_callers: int = MAX_CALLERS) -> None:
        self._callers: OrderedDict[bytes, _Entry] = OrderedDict()
        self._max = max_callers

    def __len__(self) -> int:
        return len(self._callers)

    def __bool__(self) -> bool:
        return bool(self._callers)

    def remember(self, route: bytes, replay_frames: list[Any], call_id: int) -> None:
        """A caller's handshake is on its way to a daemon of its pool (a new one replaces an
        older: every daemon must see the new one)."""
        self._callers[route] = _Entry(replay_frames, call_id)
        self._callers.move_to_end(route)
        while len(self._callers) > self._max:
            self._callers.popitem(last=False)

    def replay(self, route: bytes, daemon: bytes, call_id: int) -> list[Any] | None:
        """Frames to send `daemon` before call `call_id` of this caller, or None."""
        entry = self._callers.get(route)
        if entry is None or daemon in entry.seen:
            return None
        entry.seen.add(daemon)
        if call_id == entry.call_id:  # the handshake itself is what goes there
            return None
        return entry.frames

    def forget(self, route: bytes) -> None:
        """The caller is gone."""
        self._callers.pop(route, None)
