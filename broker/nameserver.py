"""``Pyro.NameServer``: the object the broker serves as its name server (docs/BROKER.md).

It ties three parts together under one lock: the :class:`~zpyro.broker.registry.Registry` (what
lookups see), the storage (names registered by hand, written through before the registry
changes, so a failed write changes nothing) and the announcer (every change of what a lookup
returns is announced as ``name.registered`` / ``name.removed``, inside the same lock, so
``snapshot()`` is exactly the state after announcement ``seq``).

Only the methods of the table in docs/BROKER.md are exposed; ``add_lease`` / ``drop_lease`` are
for the broker itself (pooled names of brokered daemons) and are not reachable remotely, and so
are ``records`` / ``merge`` / ``purge`` and ``on_change``, through which a broker pair keeps the
names registered by hand the same on both brokers (``broker/replica.py``): every stored change
is stamped, handed to ``on_change`` (the pair sends it to the peer), and a removal leaves a
tombstone while ``keep_tombstones`` is set.

``lookup`` and ``yplookup`` take Pyro5's ``delay_time``: when the name is not there yet, a remote
call becomes a coroutine the broker parks until the names change (``broker/waiting.py``); a
direct call in the broker's own process waits on a condition instead.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from zpyro import announce
from zpyro.context import current_context
from zpyro.errors import NamingError, ZPyroError
from zpyro.exposure import expose
from zpyro.uri import URI
from zpyro.wire import NAMESERVER_ID, NAMESERVER_TAGS

from .registry import Entry, Registry, check_metadata, check_name, check_uri
from .replica import Record, StampClock, merge
from .storage import Storage, StorageError
from .waiting import NameChange

__all__ = ["NameServer", "NAME"]

NAME = NAMESERVER_ID

log = logging.getLogger("zpyro.broker.nameserver")


class Publisher(Protocol):
    """What the name server needs of an announcer (``zpyro.broker.announcer.Announcer``)."""

    epoch: int
    seq: int

    def publish(self, kind: str, body: dict[str, Any]) -> int: ...


class NameServer:
    def __init__(
        self,
        registry: Registry,
        storage: Storage,
        announcer: Publisher,
        self_uri: str | URI,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._storage = storage
        self._announcer = announcer
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # for direct calls that wait for a name
        self._clock = clock
        self.uri = check_uri(self_uri)
        self.name = URI(self.uri).object  # never removed by remove(): Pyro's habit
        # broker pair: called with each stored change, inside the lock (None: no peer)
        self.on_change: Callable[[dict[str, Record]], None] | None = None
        self.keep_tombstones = False  # a pair: a removal leaves a tombstone for the peer
        self._stamps = StampClock(
            last=max((r.stamp for r in storage.records().values()), default=0)
        )
        for name, (uri, tags) in storage.load().items():
            try:
                registry.register(name, uri, tags)
            except ZPyroError as exc:  # one damaged row must not keep the broker from starting
                log.warning("stored name %r skipped: %s", name, exc)
        self.add_lease(self.name, self.uri, NAMESERVER_TAGS)  # Pyro programs find it by its tags

    # -- remote API (docs/BROKER.md) ------------------------------------------------------------

    @expose
    def register(self, name: str, uri: str | URI, safe: bool = False, metadata: Any = None) -> None:
        name, text, tags = check_name(name), check_uri(uri), check_metadata(metadata)
        with self._lock:
            before = self._registry.get(name)
            if safe and before is not None:
                raise NamingError(f"name already registered: {name}")
            self._store(name, text, tags)
            self._registry.register(name, text, tags)
            self._announce_change(name, before)

    @expose
    def lookup(self, name: str, return_metadata: bool = False, delay_time: float = 0.0) -> Any:
        """The URI of `name` (or ``(URI, tags)``); with `delay_time`, wait that long for it."""

        def ask() -> Any:
            with self._lock:
                entry = self._registry.lookup(name)
            uri = URI(entry.uri)
            return (uri, set(entry.metadata)) if return_metadata else uri

        try:
            return ask()
        except NamingError:
            if not _delay(delay_time):
                raise
        return self._wait(ask, lambda _: True, _delay(delay_time))

    @expose
    def list(
        self,
        prefix: str | None = None,
        regex: str | None = None,
        metadata_all: Any = None,
        metadata_any: Any = None,
        return_metadata: bool = False,
    ) -> dict[str, Any]:
        with self._lock:
            found = self._registry.list(prefix, regex, metadata_all, metadata_any)
        if return_metadata:
            return {name: (e.uri, set(e.metadata)) for name, e in found.items()}
        return {name: e.uri for name, e in found.items()}

    @expose
    def yplookup(
        self,
        meta_all: Any = None,
        meta_any: Any = None,
        return_metadata: bool = True,
        delay_time: float = 0.0,
    ) -> Any:
        """The names carrying the tags; with `delay_time`, wait that long for at least one."""

        def ask() -> dict[str, Any]:
            return self.list(
                metadata_all=meta_all, metadata_any=meta_any, return_metadata=return_metadata
            )

        found = ask()
        if found or not _delay(delay_time):
            return found
        return self._wait(ask, bool, _delay(delay_time))

    @expose
    def set_metadata(self, name: str, metadata: Any) -> None:
        tags = check_metadata(metadata)
        with self._lock:
            before = self._registry.lookup(name)
            if not before.lease:  # a lease's tags live in memory only, like the lease
                self._store(name, before.uri, tags)
            self._registry.set_metadata(name, tags)
            self._announce_change(name, before)

    @expose
    def remove(
        self, name: str | None = None, prefix: str | None = None, regex: str | None = None
    ) -> int:
        """Remove the names matching every criterion given (none given: nothing); how many."""
        with self._lock:
            names = [n for n in self._registry.matching(name, prefix, regex) if n != self.name]
            stored = [n for n in names if self._registry.stored(n) is not None]
            if stored and self.keep_tombstones:
                stamp = self._stamps.stamp()
                self._write(self._storage.tombstone, stored, stamp)
                self._replicate({n: Record.tombstone(stamp) for n in stored})
            elif stored:
                self._write(self._storage.delete, stored)
                self._replicate({n: Record.tombstone(self._stamps.stamp()) for n in stored})
            self._registry.discard(names)
            if names:
                self._changed.notify_all()
            for n in names:
                self._announcer.publish(announce.NAME_REMOVED, {"name": n})
            return len(names)

    @expose
    def count(self) -> int:
        with self._lock:
            return self._registry.count()

    @expose
    def ping(self) -> None:
        pass

    @expose
    def snapshot(self) -> dict[str, Any]:
        """The names as they are after announcement ``seq`` of ``epoch``."""
        with self._lock:
            names = {n: [e.uri, sorted(e.metadata)] for n, e in self._registry.list().items()}
            return {"epoch": self._announcer.epoch, "seq": self._announcer.seq, "names": names}

    # -- for the broker (not exposed) ------------------------------------------------------------

    def add_lease(self, name: str, uri: str | URI, metadata: Any = None) -> None:
        """A pooled name: memory only; shadows a stored entry of that name while it lives."""
        with self._lock:
            before = self._registry.get(check_name(name))
            self._registry.lease(name, uri, metadata)
            self._announce_change(name, before)

    def drop_lease(self, name: str) -> None:
        """The pool is gone: its name disappears, or the stored entry under it shows again."""
        with self._lock:
            before = self._registry.get(name)
            if self._registry.drop_lease(name):
                self._announce_change(name, before)

    # -- waiting for a name ----------------------------------------------------------------------

    def _wait(self, ask: Callable[[], Any], good: Callable[[Any], bool], delay: float) -> Any:
        """Ask again as the names change, until `good(answer)` or `delay` seconds have passed.

        A remote call gets a coroutine back, which the dispatcher hands to the broker to park;
        a direct call (the in-process name server) blocks on the condition."""
        deadline = self._clock() + delay
        if current_context.object_id == self.name:
            return self._later(ask, good, deadline)
        with self._changed:
            while True:
                left = deadline - self._clock()
                if left <= 0:
                    return ask()
                self._changed.wait(left)
                try:
                    answer = ask()
                except NamingError:
                    continue
                if good(answer):
                    return answer

    async def _later(
        self, ask: Callable[[], Any], good: Callable[[Any], bool], deadline: float
    ) -> Any:
        while True:
            await NameChange(deadline)
            if self._clock() >= deadline:
                return ask()  # the last word: the answer, or the NamingError
            try:
                answer = ask()
            except NamingError:
                continue
            if good(answer):
                return answer

    # -- for a broker pair (not exposed) -----------------------------------------------------------

    def records(self) -> dict[str, Record]:
        """Every stored name and tombstone, stamped (what the peer gets when the two meet)."""
        with self._lock:
            return self._storage.records()

    def merge(self, theirs: Mapping[str, Record]) -> dict[str, Record]:
        """Take the peer's records where they win over ours (``replica.merge``): stored, then
        shown to lookups and announced. Tombstones that win remove the name here and are not
        kept (only the side that removed a name keeps its tombstone). Returns what won."""
        with self._lock:
            for record in theirs.values():
                self._stamps.observe(record.stamp)
            won = merge(self._storage.records(), theirs)
            if not won:
                return won
            live = {n: r for n, r in won.items() if not r.deleted}
            self._storage.apply(live, [n for n, r in won.items() if r.deleted])
            for name, record in won.items():
                before = self._registry.get(name)
                if record.deleted:
                    self._registry.unstore(name)
                else:
                    self._registry.register(name, record.uri, record.metadata)
                self._announce_change(name, before)
            return won

    def purge(self, tombstones: Mapping[str, int]) -> None:
        """The peer has these removals: forget their tombstones (unless a name came back)."""
        with self._lock:
            self._storage.purge(tombstones)

    # -- helpers ---------------------------------------------------------------------------------

    def _store(self, name: str, uri: str, tags: frozenset[str]) -> None:
        stamp = self._stamps.stamp()
        self._write(self._storage.put, name, uri, tags, stamp)
        self._replicate({name: Record.live(uri, tags, stamp)})

    def _replicate(self, records: dict[str, Record]) -> None:
        if self.on_change is not None:
            self.on_change(records)

    def _write(self, change: Any, *args: Any) -> None:
        try:
            change(*args)
        except StorageError as exc:  # callers can rebuild NamingError, not our StorageError
            log.error("name storage failed: %s", exc)
            raise NamingError(f"name storage failed, nothing changed: {exc}") from None

    def _announce_change(self, name: str, before: Entry | None) -> None:
        after = self._registry.get(name)
        if _visible(after) == _visible(before):
            return
        self._changed.notify_all()
        if after is None:
            self._announcer.publish(announce.NAME_REMOVED, {"name": name})
        else:
            body = {"name": name, "uri": after.uri, "metadata": sorted(after.metadata)}
            self._announcer.publish(announce.NAME_REGISTERED, body)


def _visible(entry: Entry | None) -> tuple[str, frozenset[str]] | None:
    """What a lookup shows of an entry (whether it is a lease does not show)."""
    return None if entry is None else (entry.uri, entry.metadata)


def _delay(delay_time: Any) -> float:
    """Pyro5's delay_time as seconds to wait (0: do not wait); a bad value is a NamingError."""
    try:
        delay = float(delay_time or 0.0)
    except (TypeError, ValueError):
        raise NamingError(f"delay_time must be a number of seconds, not {delay_time!r}") from None
    if math.isnan(delay) or delay < 0:
        raise NamingError(f"delay_time must be 0 or more seconds, not {delay_time!r}")
    return delay
