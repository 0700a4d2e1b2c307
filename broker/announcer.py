"""Numbers announcements and hands their frames to a sender (the broker's PUB socket).

``seq`` counts the announcements of this ``epoch`` from 1; ``broker.alive`` carries the last
number issued without taking one of its own (docs/BROKER.md). The number is taken and the frames
sent under one lock, so frames leave in seq order even when several threads publish.

A failing sender does not fail the change that is being announced: announcements are hints, so
the error is logged and the number stays used — subscribers see a gap and take a new snapshot.

A broker of a pair that is not active is ``muted``: its changes (names from the peer, daemons
that come to it) take their numbers but are not sent, so a subscriber's snapshot of it is right
the moment it becomes active, and announcements come from the active broker only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from zpyro import announce

__all__ = ["Announcer", "new_epoch"]

log = logging.getLogger("zpyro.broker.announce")


def new_epoch() -> int:
    """A fresh random epoch (48 bits: fits every serializer's int, never repeats in practice)."""
    return int.from_bytes(os.urandom(6), "big")


class Announcer:
    def __init__(
        self,
        send: Callable[[list[bytes]], Any],
        epoch: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self.epoch = new_epoch() if epoch is None else epoch
        self.seq = 0  # the last number issued
        self.muted = False  # numbered, not sent (a broker of a pair that is not active)
        self._clock = clock
        self._lock = threading.Lock()

    def publish(self, kind: str, body: dict[str, Any]) -> int:
        """Send one announcement; returns its seq (the current one for ``broker.alive``)."""
        with self._lock:
            seq = self.seq if kind == announce.BROKER_ALIVE else self.seq + 1
            frames = announce.encode(kind, self.epoch, seq, body, time=self._clock())
            self.seq = seq
            if self.muted:
                return seq
            try:
                self._send(frames)
            except Exception:
                log.exception("announcement %s #%d could not be sent", kind, seq)
            return seq

    def alive(self) -> int:
        return self.publish(announce.BROKER_ALIVE, {})
