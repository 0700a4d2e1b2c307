"""Pools: which attached daemon serves which object, how busy each is, who waits. Pure.

No sockets and no clock of its own (``now`` is passed in), so the dispatch rules are tested in
milliseconds. The service (``broker/service.py``) turns what these methods return into frames.

Rules (docs/BROKER.md): a call goes to the daemon of its pool with the most free slots; a daemon
never has more calls of its pools in flight than its capacity; the rest wait in the pool's
bounded queue (``max_queue`` calls; oneway calls with credit are bounded by their credit instead,
see zpyro/credit.py, so a oneway flood never crowds out other callers). A daemon not heard from
for ``heartbeat_timeout`` seconds is dead: its calls in flight are handed back, idempotent ones
to be queued again, the others to be failed.

Session-mode objects (broker/sessions.py): a caller's calls all go to the daemon holding its
session, waiting in that daemon's own queue (``pinned``) when it has no free slot.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from zpyro import errors
from zpyro.wire import DAEMON_OBJECT_ID, SESSION_MODE

from .sessions import Sessions

DIRECT_PREFIX = DAEMON_OBJECT_ID + ":"  # object id that names one daemon (its streams), not a pool


class Call:
    """One forwarded call: who asked, what, and the frames to send (never deserialized)."""

    __slots__ = (
        "client",
        "call_id",
        "object_id",
        "method",
        "frames",
        "oneway",
        "retry",
        "credited",
        "session",
    )

    def __init__(
        self,
        client: bytes,
        call_id: int,
        object_id: str,
        method: str,
        frames: list[Any],
        oneway: bool = False,
        retry: bool = True,
        credited: bool = False,
    ) -> None:
        self.client = client
        self.call_id = call_id
        self.object_id = object_id
        self.method = method
        self.frames = frames  # signature, header, payload, buffers...
        self.oneway = oneway
        self.retry = retry  # False for batches: a batch is never re-run
        self.credited = credited  # a oneway call with credit: bounded by it, not by max_queue
        self.session = False  # bound to the daemon holding its caller's session

    @property
    def key(self) -> tuple[bytes, int]:
        return (self.client, self.call_id)


class AttachedDaemon:
    __slots__ = (
        "ident",
        "capacity",
        "objects",
        "listed",
        "tags",
        "pid",
        "last_seen",
        "inflight",
        "modes",
        "pinned",
    )

    def __init__(self, ident: bytes, now: float) -> None:
        self.ident = ident
        self.capacity = 1
        self.objects: dict[str, dict[str, Any]] = {}  # object id -> metadata for proxies
        self.listed: set[str] = set()  # object ids to name in the name server
        self.tags: dict[str, frozenset[str]] = {}
        self.pid = 0
        self.last_seen = now
        self.inflight: dict[tuple[bytes, int], Call] = {}
        self.modes: dict[str, str] = {}  # object id -> instance mode (of registered classes)
        self.pinned: deque[Call] = deque()  # session calls waiting for a slot of this daemon

    @property
    def free(self) -> int:
        return self.capacity - len(self.inflight)

    @property
    def name(self) -> str:
        return self.ident.hex()


class Pool:
    __slots__ = ("object_id", "daemons", "queue", "bounded", "sessions")

    def __init__(self, object_id: str) -> None:
        self.object_id = object_id
        self.daemons: list[AttachedDaemon] = []
        self.queue: deque[Call] = deque()
        self.bounded = 0  # waiting calls that count against max_queue (queued or pinned)
        self.sessions = False  # session mode: a caller's calls stay on one daemon

    def note_modes(self) -> None:
        self.sessions = any(d.modes.get(self.object_id) == SESSION_MODE for d in self.daemons)


class Pools:
    def __init__(self, max_queue: int, heartbeat_timeout: float) -> None:
        self.max_queue = max_queue
        self.heartbeat_timeout = heartbeat_timeout
        self.daemons: dict[bytes, AttachedDaemon] = {}
        self.pools: dict[str, Pool] = {}
        self.sessions = Sessions()
        self._turn = itertools.count()  # breaks ties between equally free daemons

    # -- membership -------------------------------------------------------------------------------

    def attach(
        self,
        ident: bytes,
        now: float,
        capacity: int,
        objects: dict[str, dict[str, Any]],
        listed: Iterable[str] = (),
        tags: Mapping[str, Iterable[str]] | None = None,
        pid: int = 0,
        modes: Mapping[str, str] | None = None,
    ) -> tuple[bool, list[str], list[Pool]]:
        """A READY: add or update a daemon. (new daemon?, pools opened, pools closed).

        `modes`: the instance mode of the objects that are registered classes."""
        daemon = self.daemons.get(ident)
        new = daemon is None
        if daemon is None:
            daemon = self.daemons[ident] = AttachedDaemon(ident, now)
        daemon.capacity = max(1, int(capacity))
        daemon.pid = pid
        daemon.last_seen = now
        old = set(daemon.objects)
        daemon.objects = dict(objects)
        daemon.listed = set(listed) & set(objects)
        daemon.tags = {k: frozenset(v) for k, v in (tags or {}).items()}
        daemon.modes = dict(modes or {})
        opened: list[str] = []
        for object_id in daemon.objects.keys() - old:
            pool = self.pools.get(object_id)
            if pool is None:
                pool = self.pools[object_id] = Pool(object_id)
                opened.append(object_id)
            pool.daemons.append(daemon)
        for object_id in daemon.objects:
            self.pools[object_id].note_modes()
        gone = old - daemon.objects.keys()
        if gone:
            self.sessions.lose(ident, "stopped serving it", gone)
        closed = [p for oid in gone if (p := self._leave_pool(daemon, oid))]
        return new, opened, closed

    def detach(
        self, ident: bytes, why: str = "went away"
    ) -> tuple[AttachedDaemon | None, list[Pool], list[Call]]:
        """Remove a daemon: (it, pools now closed, its calls in flight, oldest first).

        A closed pool keeps its queue: the caller fails what still waits there, and in the
        daemon's `pinned` queue (session calls that never ran).
        """
        daemon = self.daemons.pop(ident, None)
        if daemon is None:
            return None, [], []
        for call in daemon.pinned:
            self._dequeued(call)
        self.sessions.lose(ident, why)
        closed = [p for oid in list(daemon.objects) if (p := self._leave_pool(daemon, oid))]
        orphans = list(daemon.inflight.values())
        daemon.inflight.clear()
        return daemon, closed, orphans

    def _leave_pool(self, daemon: AttachedDaemon, object_id: str) -> Pool | None:
        """Take `daemon` out of a pool; the pool when that closed it."""
        pool = self.pools.get(object_id)
        if pool is None:
            return None
        if daemon in pool.daemons:
            pool.daemons.remove(daemon)
        if pool.daemons:
            pool.note_modes()
            return None
        del self.pools[object_id]
        return pool

    def seen(self, ident: bytes, now: float) -> bool:
        """Note a sign of life; False when the daemon is not (or no longer) attached."""
        daemon = self.daemons.get(ident)
        if daemon is None:
            return False
        daemon.last_seen = now
        return True

    def expired(self, now: float) -> list[bytes]:
        """Daemons silent for longer than the heartbeat timeout."""
        limit = now - self.heartbeat_timeout
        return [d.ident for d in self.daemons.values() if d.last_seen < limit]

    def metadata(self, object_id: str) -> dict[str, Any] | None:
        pool = self.pools.get(object_id)
        if pool is None or not pool.daemons:
            return None
        return pool.daemons[0].objects.get(object_id)

    def describe(self, now: float) -> dict[str, Any]:
        """A read-only picture for operators (the gateway's console): every pool with its
        daemons, their capacity, calls in flight, free slots and how long since they were heard
        from, and how many calls wait in the pool's queue. Plain data, any serializer carries it."""
        pools: dict[str, Any] = {}
        for object_id, pool in sorted(self.pools.items()):
            daemons = [
                {
                    "daemon": d.name,
                    "pid": d.pid,
                    "capacity": d.capacity,
                    "inflight": len(d.inflight),
                    "free": max(0, d.free),
                    "silent": round(max(0.0, now - d.last_seen), 3),
                }
                for d in pool.daemons
            ]
            pools[object_id] = {
                "daemons": daemons,
                "capacity": sum(d["capacity"] for d in daemons),
                "free": sum(d["free"] for d in daemons),
                "queued": len(pool.queue),
            }
        return {"pools": pools, "daemons": len(self.daemons), "max_queue": self.max_queue}

    def is_idempotent(self, call: Call) -> bool:
        meta = self.metadata(call.object_id) or {}
        return call.retry and call.method in meta.get("idempotent", ())

    # -- dispatch ---------------------------------------------------------------------------------

    def submit(self, call: Call) -> AttachedDaemon | None:
        """Where to send `call` now, or None when it was queued. Raises DaemonError (unknown
        object, or "broker busy": the queue is full). A plain DaemonError, so every caller can
        rebuild it (a subclass of ours would reach them as a RemoteError)."""
        if call.object_id.startswith(DIRECT_PREFIX):
            direct = self._direct(call.object_id)
            direct.inflight[call.key] = call  # stream chunks: never queued behind jobs
            return direct
        pool = self.pools.get(call.object_id)
        if pool is None:
            raise errors.DaemonError(f"unknown object {call.object_id!r}: no daemon serves it")
        if pool.sessions:
            return self._submit_session(pool, call)
        if not pool.queue:
            daemon = self._freest(pool)
            if daemon is not None:
                daemon.inflight[call.key] = call
                return daemon
        self._admit(pool, call)
        pool.queue.append(call)
        return None

    def _submit_session(self, pool: Pool, call: Call) -> AttachedDaemon | None:
        """A call to a session-mode pool: to the daemon holding the caller's session (chosen
        now, the freest, for its first call), at once or in that daemon's queue."""
        call.session = True
        ident = self.sessions.holder(call.client, call.object_id)  # raises if lost
        daemon = self.daemons.get(ident) if ident is not None else None
        if daemon is None:
            daemon = self._least_loaded(pool)
            self.sessions.hold(call.client, call.object_id, daemon.ident)
        if daemon.free > 0 and not daemon.pinned:
            daemon.inflight[call.key] = call
            return daemon
        self._admit(pool, call)
        daemon.pinned.append(call)
        return None

    def _admit(self, pool: Pool, call: Call) -> None:
        """A call is to wait: within the bound (DaemonError "broker busy" otherwise)."""
        if call.credited:
            return  # its caller was promised room: the credit bounds it
        if pool.bounded >= self.max_queue:
            raise errors.DaemonError(
                f"broker busy: {pool.bounded} calls already wait for {call.object_id!r} "
                f"(max queue {self.max_queue})"
            )
        pool.bounded += 1

    def _dequeued(self, call: Call) -> None:
        """A waiting call leaves its queue (to run, or to fail)."""
        if not call.credited:
            pool = self.pools.get(call.object_id)
            if pool is not None:
                pool.bounded -= 1

    def requeue(self, call: Call) -> AttachedDaemon | None:
        """A call handed back by a dead daemon, to run elsewhere (front of the queue)."""
        pool = self.pools.get(call.object_id)
        if pool is None:
            raise errors.ConnectionClosedError(
                f"the daemon running {call.object_id}.{call.method} died and no other serves it"
            )
        daemon = self._freest(pool)
        if daemon is not None:
            daemon.inflight[call.key] = call
            return daemon
        pool.queue.appendleft(call)
        pool.bounded += not call.credited  # (admitted before: no bound check)
        return None

    def finished(self, ident: bytes, client: bytes, call_id: int) -> Call | None:
        """A reply (or DONE) came: free its slot. The call, or None if it was not in flight."""
        daemon = self.daemons.get(ident)
        if daemon is None:
            return None
        return daemon.inflight.pop((client, call_id), None)

    def fill(self, ident: bytes) -> list[Call]:
        """Queued calls that `ident` takes now that it has free slots (assigned to it)."""
        daemon = self.daemons.get(ident)
        if daemon is None:
            return []
        taken: list[Call] = []
        pinned = daemon.pinned
        while daemon.free > 0 and pinned:  # its session calls first: only it can run them
            call = pinned.popleft()
            self._dequeued(call)
            daemon.inflight[call.key] = call
            taken.append(call)
        waiting = [
            self.pools[oid] for oid in daemon.objects if oid in self.pools and self.pools[oid].queue
        ]
        while daemon.free > 0 and waiting:
            for pool in list(waiting):  # round robin over this daemon's pools
                if daemon.free <= 0:
                    break
                if not pool.queue:
                    waiting.remove(pool)
                    continue
                call = pool.queue.popleft()
                pool.bounded -= not call.credited
                daemon.inflight[call.key] = call
                taken.append(call)
        return taken

    def _freest(self, pool: Pool) -> AttachedDaemon | None:
        best: AttachedDaemon | None = None
        daemons = pool.daemons
        n = len(daemons)
        if n == 1:
            d = daemons[0]
            return d if d.free > 0 else None
        start = next(self._turn) % n if n else 0
        for i in range(n):
            d = daemons[(start + i) % n]
            if d.free > 0 and (best is None or d.free > best.free):
                best = d
        return best

    def _least_loaded(self, pool: Pool) -> AttachedDaemon:
        """Where a new session goes: the daemon with the most free slots, counting the session
        calls already waiting for it (ties taken in turn)."""
        daemons = pool.daemons
        start = next(self._turn)
        order = [daemons[(start + i) % len(daemons)] for i in range(len(daemons))]
        return max(order, key=lambda d: d.free - len(d.pinned))

    def _direct(self, object_id: str) -> AttachedDaemon:
        try:
            ident = bytes.fromhex(object_id[len(DIRECT_PREFIX) :])
        except ValueError:
            ident = b""
        daemon = self.daemons.get(ident)
        if daemon is None:
            raise errors.ConnectionClosedError(
                f"{object_id}: that daemon is gone (its streams went with it)"
            )
        return daemon
