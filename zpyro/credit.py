"""Credit-based flow control of oneway calls (zguide ch. 7). Pure: no sockets, no clock.

A oneway call has no reply to slow its caller down, so without flow control a fast caller fills
the receiver's queue and the calls past its bound are refused where nobody sees it. Instead the
receiver (a direct daemon, or the broker) hands out *credit*: a proxy may have at most `window`
oneway calls unconfirmed on its connection (the receiver tells the window in the metadata), and
the receiver gives credit back, in batches, as those calls finish. A caller without credit waits
for some: it is slowed to the receiver's pace, and nothing is dropped. See docs/PROTOCOL.md,
"Oneway flow control".

* :class:`SenderCredit`: the proxy's side, one per connection (the connection's mutex guards it).
* :class:`CreditLedger`: the receiver's side: per caller, the credit it owes back. A grant goes
  out when a caller is owed a batch (``window // 4``), or, for the remainder, at the second
  flush pass that finds it still owed (``due``, called every ``FLUSH_INTERVAL`` seconds), so
  acknowledgements cost one small message per batch, not one per call, and an idle caller is
  fully confirmed soon after its last call.
* :class:`RefusalLog`: refusals logged at WARNING without a line per refused call in a flood.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .wire import FLAG_CREDIT, credit_frames

UNLIMITED = 1 << 62  # the room of a connection without credit (an old daemon: no window)
FLUSH_INTERVAL = 0.1  # seconds between the receivers' passes over what they still owe
GRANT_FRACTION = 4  # credit is given back in batches of window // GRANT_FRACTION
QUEUE_SHARE = 4  # a receiver grants each caller at most 1/QUEUE_SHARE of its queue bound


def window_for(configured: int, queue_bound: int) -> int:
    """The window a receiver grants each caller: `configured` (config ONEWAY_CREDIT), but at
    most a quarter of its queue bound, so one oneway caller leaves room for the others."""
    return max(1, min(configured, queue_bound // QUEUE_SHARE))


def batch_for(window: int) -> int:
    return max(1, window // GRANT_FRACTION)


class SenderCredit:
    """A proxy connection's room for oneway calls.

    ``open``: the connection's handshake is done (a oneway call sent before that would vanish if
    the connection were then refused, so it waits). ``window``: None while the receiver grants
    no credit (an old daemon): the room is then unlimited. ``attention``: something about
    earlier oneway calls waits to be told by the proxy's next call (zpyro/pending.py).
    """

    __slots__ = ("window", "room", "open", "attention")

    def __init__(self) -> None:
        self.window: int | None = None
        self.room = UNLIMITED
        self.open = False
        self.attention = False

    def set_window(self, window: int | None) -> None:
        """The receiver's window, from its metadata (None or 0: it grants no credit)."""
        if not window:
            self.window, self.room = None, UNLIMITED
        elif self.window is None:
            self.window, self.room = window, window
        elif window != self.window:  # a restarted receiver with another window: keep what is used
            self.room = max(0, self.room + window - self.window)
            self.window = window

    def take(self) -> bool:
        """Use one credit for a oneway call; False when there is none (the caller waits)."""
        if self.open and self.room > 0:
            self.room -= 1
            return True
        return False

    def grant(self, count: int) -> None:
        """A CREDIT message came: `count` more oneway calls may go."""
        if self.window is not None and count > 0:
            self.room = min(self.window, self.room + count)

    @property
    def unconfirmed(self) -> int:
        """Oneway calls sent whose credit has not come back (0 without a window)."""
        return 0 if self.window is None else self.window - self.room


class CreditLedger:
    """What a receiver owes its callers: one count per caller (a peer identity), thread-safe.

    ``ran(caller)`` is called once per finished credited call (from whichever thread ran it) and
    answers the credit to grant now (0 most of the time); ``due()`` is the periodic flush.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self.batch = batch_for(window)
        self.owed: dict[bytes, int] = {}
        self._seen: set[bytes] = set()  # owed at the last flush pass
        self._lock = threading.Lock()

    def granted(self, caller: bytes, msg: Any) -> list[Any] | None:
        """A oneway call (a ``wire.Message``) of `caller` finished: the CREDIT message to send it
        now, if any (a daemon's ``Dispatcher.quiet_reply``)."""
        if not msg.flags & FLAG_CREDIT:
            return None
        with self._lock:
            owed = self.owed.get(caller, 0) + 1
            if owed < self.batch:
                self.owed[caller] = owed
                return None
            self.owed.pop(caller, None)
        return credit_frames(owed)

    def ran(self, caller: bytes) -> int:
        with self._lock:
            owed = self.owed.get(caller, 0) + 1
            if owed >= self.batch:
                self.owed.pop(caller, None)
                return owed
            self.owed[caller] = owed
            return 0

    def due(self) -> list[tuple[bytes, int]]:
        """A flush pass: the grants of callers owed since the previous pass (and still owed)."""
        with self._lock:
            grants = [(c, self.owed.pop(c)) for c in self._seen if c in self.owed]
            self._seen = set(self.owed)
        return grants

    def forget(self, caller: bytes) -> None:
        """The caller went away: nothing is owed to it any more."""
        with self._lock:
            self.owed.pop(caller, None)
            self._seen.discard(caller)


class RefusalLog:
    """Logs refusals at WARNING: the first of a burst at once, then at most one summary line
    per `every` seconds with how many more were refused (``now`` is passed in)."""

    def __init__(self, log: logging.Logger, every: float = 1.0) -> None:
        self._log = log
        self._every = every
        self._next = 0.0
        self._quiet = 0  # refusals not logged since the last line
        self._lock = threading.Lock()

    def refused(self, now: float, what: str, why: object) -> None:
        with self._lock:
            if now < self._next:
                self._quiet += 1
                return
            more, self._quiet = self._quiet, 0
            self._next = now + self._every
        suffix = f" ({more} more refused since the last such line)" if more else ""
        self._log.warning("refused %s: %s%s", what, why, suffix)
