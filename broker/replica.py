"""Names registered by hand as *records* two brokers can merge. Pure: no I/O, clock injected.

A broker pair keeps the same names on both brokers (docs/BROKER.md, "Broker pair"): the active
one sends every change to its peer, and when the two meet (at start, after a restart, after a
cut) each sends the other all its records and each merges what it gets. Merging is per name:
the record with the later *stamp* wins (ties broken by content, the same way on both sides), so
both end with the same names whatever happened while they were apart -- a passive broker that
was down catches up, and names registered on each side of a partition are all kept.

A removed name leaves a *tombstone* (a record with ``deleted``) so the removal wins over an older
copy the peer may still hold; the broker forgets it once the peer has confirmed it.

Stamps come from a hybrid logical clock (:class:`StampClock`): microseconds of wall time, but
always past every stamp seen, so a change made after another one -- here or on the peer -- gets
the later stamp even when the two clocks disagree a little.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from zpyro.errors import ZPyroError

from .registry import check_metadata, check_name, check_uri

__all__ = ["Record", "StampClock", "wins", "merge", "to_wire", "from_wire"]


class Record(NamedTuple):
    uri: str  # canonical PYRO: URI text; "" for a tombstone
    metadata: tuple[str, ...]  # sorted tags
    stamp: int  # StampClock microseconds; 0 for names stored before stamps existed
    deleted: bool = False

    @classmethod
    def live(cls, uri: str, metadata: Iterable[str], stamp: int) -> Record:
        return cls(uri, tuple(sorted(metadata)), stamp)

    @classmethod
    def tombstone(cls, stamp: int) -> Record:
        return cls("", (), stamp, True)


def _order(record: Record) -> tuple[int, bool, str, tuple[str, ...]]:
    return (record.stamp, record.deleted, record.uri, record.metadata)


def wins(new: Record, old: Record | None) -> bool:
    """Whether `new` replaces `old`: a later stamp; at equal stamps, the larger content."""
    return old is None or _order(new) > _order(old)


def merge(mine: Mapping[str, Record], theirs: Mapping[str, Record]) -> dict[str, Record]:
    """The records of `theirs` that replace what `mine` holds: what to apply here.

    Commutative in effect: after each side applies what the other's records win, both hold,
    per name, the same winner.
    """
    return {name: rec for name, rec in theirs.items() if wins(rec, mine.get(name))}


class StampClock:
    """A hybrid logical clock in integer microseconds (see the module docstring)."""

    def __init__(self, wall: Callable[[], float] = time.time, last: int = 0) -> None:
        self._wall = wall
        self.last = last

    def stamp(self) -> int:
        self.last = max(int(self._wall() * 1_000_000), self.last + 1)
        return self.last

    def observe(self, stamp: int) -> None:
        """A stamp made elsewhere: ours from now on come after it."""
        self.last = max(self.last, stamp)


def to_wire(records: Mapping[str, Record]) -> list[list[Any]]:
    """Records as JSON-able rows ``[name, uri, tags, stamp, deleted]``."""
    return [[n, r.uri, list(r.metadata), r.stamp, r.deleted] for n, r in records.items()]


def from_wire(rows: Any) -> dict[str, Record]:
    """Rows from the peer, checked as ns.register checks its arguments; ValueError if bad."""
    if not isinstance(rows, list):
        raise ValueError("records must be a list")
    records: dict[str, Record] = {}
    for row in rows:
        try:
            name, uri, tags, stamp, deleted = row
            if not isinstance(stamp, int) or isinstance(stamp, bool) or stamp < 0:
                raise ValueError(f"bad stamp {stamp!r}")
            if not isinstance(deleted, bool):
                raise ValueError(f"bad deleted flag {deleted!r}")
            name = check_name(name)
            if deleted:
                records[name] = Record.tombstone(stamp)
            else:
                records[name] = Record.live(check_uri(uri), check_metadata(tags), stamp)
        except (TypeError, ValueError, ZPyroError) as exc:
            raise ValueError(f"bad record {row!r}: {exc}") from None
    return records
