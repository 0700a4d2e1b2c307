"""broker/pools.py on its own: the dispatch rules, with an injected clock and no sockets."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from zpyro import errors
from zpyro.broker.pools import DIRECT_PREFIX, Call, Pools

META: dict[str, Any] = {"methods": ["work", "square"], "idempotent": ["square"]}


def call(n: int, object_id: str = "jobs", method: str = "work", **kw: Any) -> Call:
    return Call(b"client%d" % (n % 3), n, object_id, method, [b"sig", b"hdr", b"payload"], **kw)


def pools_with(*capacities: int, max_queue: int = 100, objects: Any = None) -> Pools:
    """Daemons b"d0", b"d1", ... attached at t=0, each serving `objects` (default: jobs)."""
    pools = Pools(max_queue, heartbeat_timeout=1.0)
    for i, capacity in enumerate(capacities):
        pools.attach(b"d%d" % i, 0.0, capacity, objects or {"jobs": META}, listed=["jobs"])
    return pools


def test_attach_opens_a_pool_and_a_second_daemon_joins_it() -> None:
    pools = Pools(10, 1.0)
    new, opened, closed = pools.attach(b"d0", 0.0, 2, {"jobs": META}, ["jobs"], pid=42)
    assert (new, opened, closed) == (True, ["jobs"], [])
    new, opened, closed = pools.attach(b"d1", 0.0, 2, {"jobs": META, "other": {}})
    assert (new, sorted(opened), closed) == (True, ["other"], [])
    assert [d.ident for d in pools.pools["jobs"].daemons] == [b"d0", b"d1"]
    assert pools.daemons[b"d0"].pid == 42
    assert pools.daemons[b"d0"].listed == {"jobs"}
    assert pools.metadata("jobs") == META
    assert pools.metadata("nothing") is None


def test_a_ready_again_updates_capacity_and_objects_and_closes_dropped_pools() -> None:
    pools = pools_with(2, objects={"jobs": META, "extra": {}})
    new, opened, closed = pools.attach(b"d0", 1.0, 5, {"jobs": META})
    assert not new and opened == []
    assert [p.object_id for p in closed] == ["extra"]
    assert "extra" not in pools.pools
    assert pools.daemons[b"d0"].capacity == 5
    assert pools.daemons[b"d0"].last_seen == 1.0


def test_capacity_is_at_least_one_and_listed_names_must_be_served() -> None:
    pools = Pools(10, 1.0)
    pools.attach(b"d0", 0.0, 0, {"jobs": META}, listed=["jobs", "not-served"])
    assert pools.daemons[b"d0"].capacity == 1
    assert pools.daemons[b"d0"].listed == {"jobs"}


def test_calls_go_to_the_daemon_with_the_most_free_slots() -> None:
    pools = pools_with(1, 3)
    targets = [pools.submit(call(i)) for i in range(4)]
    # d1 has 3 free, d0 1: d1, then a tie at 2 vs 1 -> d1, then 1 vs 1 (either), then the other
    assert [t.ident for t in targets[:2] if t] == [b"d1", b"d1"]
    counts = Counter(t.ident for t in targets if t)
    assert counts == {b"d0": 1, b"d1": 3}
    assert all(d.free == 0 for d in pools.daemons.values())


def test_ties_rotate_so_an_idle_pool_spreads_sequential_calls() -> None:
    pools = pools_with(1, 1, 1)
    seen = []
    for i in range(9):
        target = pools.submit(call(i))
        assert target is not None
        seen.append(target.ident)
        assert pools.finished(target.ident, call(i).client, i) is not None
    assert Counter(seen) == {b"d0": 3, b"d1": 3, b"d2": 3}


def test_never_more_calls_in_flight_than_capacity_the_rest_queue_in_order() -> None:
    pools = pools_with(2, 1)
    placed = [pools.submit(call(i)) for i in range(10)]
    assert sum(p is not None for p in placed) == 3
    assert [len(d.inflight) for d in pools.daemons.values()] == [2, 1]
    queue = pools.pools["jobs"].queue
    assert [c.call_id for c in queue] == list(range(3, 10))
    # a free slot takes the oldest waiting call, and only as many as it has room for
    first = next(iter(pools.daemons[b"d0"].inflight.values()))
    assert pools.finished(b"d0", first.client, first.call_id) is first
    assert [c.call_id for c in pools.fill(b"d0")] == [3]
    assert pools.fill(b"d0") == []
    assert len(pools.daemons[b"d0"].inflight) == 2


def test_a_new_call_waits_behind_the_queue_even_when_a_slot_is_free() -> None:
    pools = pools_with(1)
    assert pools.submit(call(0)) is not None
    assert pools.submit(call(1)) is None
    pools.finished(b"d0", call(0).client, 0)  # freed, but fill() not yet called
    assert pools.submit(call(2)) is None  # no overtaking call 1
    assert [c.call_id for c in pools.fill(b"d0")] == [1]


def test_a_full_queue_refuses_with_busy_a_daemon_error() -> None:
    pools = pools_with(1, max_queue=2)
    pools.submit(call(0))
    assert pools.submit(call(1)) is None
    assert pools.submit(call(2)) is None
    with pytest.raises(errors.DaemonError, match="broker busy") as info:
        pools.submit(call(3))
    assert type(info.value) is errors.DaemonError  # what every caller can rebuild
    assert len(pools.pools["jobs"].queue) == 2


def test_unknown_object_is_a_daemon_error() -> None:
    pools = pools_with(1)
    with pytest.raises(errors.DaemonError, match="no daemon serves it"):
        pools.submit(call(0, object_id="nobody"))


def test_fill_shares_free_slots_round_robin_over_a_daemons_pools() -> None:
    pools = pools_with(1, objects={"a": META, "b": META})
    pools.submit(call(0, "a"))
    for i in range(1, 5):
        assert pools.submit(call(i, "a" if i % 2 else "b")) is None  # a: 1, 3; b: 2, 4
    pools.attach(b"d0", 0.0, 4, {"a": META, "b": META})  # more room now
    taken = pools.fill(b"d0")
    assert [c.object_id for c in taken] == ["a", "b", "a"]
    assert len(pools.daemons[b"d0"].inflight) == 4


def test_detach_hands_back_calls_in_flight_and_closes_the_last_pool() -> None:
    pools = pools_with(2, 1)
    for i in range(4):
        pools.submit(call(i))
    on_d0 = sorted(pools.daemons[b"d0"].inflight)
    daemon, closed, orphans = pools.detach(b"d0")
    assert daemon is not None and daemon.ident == b"d0"
    assert closed == []  # d1 still serves jobs
    assert len(on_d0) == 2 and sorted(c.key for c in orphans) == on_d0
    assert not daemon.inflight
    assert pools.pools["jobs"].daemons == [pools.daemons[b"d1"]]
    daemon, closed, orphans = pools.detach(b"d1")
    assert [p.object_id for p in closed] == ["jobs"]
    assert [c.call_id for c in closed[0].queue] == [3]  # kept for the service to fail
    assert "jobs" not in pools.pools
    assert pools.detach(b"d1") == (None, [], [])


def test_requeue_runs_an_orphan_elsewhere_or_first_in_line() -> None:
    pools = pools_with(1, 1)
    a, b = pools.submit(call(0)), pools.submit(call(1))
    assert a is not None and b is not None and a is not b
    pools.submit(call(2))  # queued
    _, _, orphans = pools.detach(a.ident)
    assert pools.requeue(orphans[0]) is None  # the survivor is busy: front of the queue
    assert [c.call_id for c in pools.pools["jobs"].queue] == [0, 2]
    pools.finished(b.ident, call(1).client, 1)
    assert [c.call_id for c in pools.fill(b.ident)] == [0]
    pools.finished(b.ident, call(0).client, 0)
    assert pools.requeue(call(9)) is b  # a free slot: straight there
    pools.detach(b.ident)
    with pytest.raises(errors.ConnectionClosedError, match="no other serves it"):
        pools.requeue(call(0))


def test_expired_names_the_daemons_silent_past_the_timeout() -> None:
    pools = pools_with(1, 1)
    assert pools.expired(0.9) == []
    assert pools.seen(b"d1", 0.8)
    assert pools.expired(1.5) == [b"d0"]
    assert pools.expired(2.0) == [b"d0", b"d1"]
    assert not pools.seen(b"nobody", 1.0)


def test_a_reply_frees_exactly_its_own_slot() -> None:
    pools = pools_with(2)
    pools.submit(call(0))
    assert pools.finished(b"d0", b"someone-else", 0) is None
    assert pools.finished(b"nobody", call(0).client, 0) is None
    assert pools.finished(b"d0", call(0).client, 0) is not None
    assert pools.finished(b"d0", call(0).client, 0) is None  # a duplicate reply
    assert pools.daemons[b"d0"].free == 2


def test_idempotence_comes_from_the_metadata_and_never_covers_batches() -> None:
    pools = pools_with(1)
    assert pools.is_idempotent(call(0, method="square"))
    assert not pools.is_idempotent(call(0, method="work"))
    assert not pools.is_idempotent(call(0, method="square", retry=False))


def test_calls_for_one_daemon_by_its_route_skip_the_pool() -> None:
    pools = pools_with(1)
    pools.submit(call(0))  # the daemon is full
    direct = call(1, object_id=DIRECT_PREFIX + b"d0".hex(), method="stream_next")
    assert pools.submit(direct) is pools.daemons[b"d0"]  # stream chunks never wait behind jobs
    with pytest.raises(errors.ConnectionClosedError, match="gone"):
        pools.submit(call(2, object_id=DIRECT_PREFIX + b"zz".hex()))
    with pytest.raises(errors.ConnectionClosedError):
        pools.submit(call(3, object_id=DIRECT_PREFIX + "not hex"))


# -- oneway calls with credit: bounded by their credit, not by max_queue ----------------------


def test_credited_oneway_calls_never_crowd_out_other_callers() -> None:
    pools = pools_with(1, max_queue=2)
    assert pools.submit(call(0)) is not None
    for i in range(1, 11):  # a credited oneway flood: its callers were promised room
        assert pools.submit(call(i, oneway=True, credited=True)) is None
    assert len(pools.pools["jobs"].queue) == 10
    assert pools.submit(call(11)) is None  # a sync call still finds its place in the queue
    assert pools.submit(call(12)) is None
    with pytest.raises(errors.DaemonError, match="broker busy: 2 calls already wait"):
        pools.submit(call(13))  # the bound is on calls that can be told "busy"
    with pytest.raises(errors.DaemonError, match="broker busy"):
        pools.submit(call(14, oneway=True))  # a oneway call without credit (an old proxy)


def test_the_bound_counts_calls_as_they_leave_the_queue() -> None:
    pools = pools_with(1, max_queue=1)
    first = pools.submit(call(0))
    assert first is not None
    assert pools.submit(call(1, oneway=True, credited=True)) is None
    assert pools.submit(call(2)) is None
    pools.finished(b"d0", call(0).client, 0)
    assert [c.call_id for c in pools.fill(b"d0")] == [1]  # in order: the credited call first
    assert pools.pools["jobs"].bounded == 1  # call 2 still waits
    pools.finished(b"d0", call(1).client, 1)
    assert [c.call_id for c in pools.fill(b"d0")] == [2]
    assert pools.pools["jobs"].bounded == 0
    assert pools.submit(call(3)) is None  # room again


# -- session affinity ---------------------------------------------------------------------------

SESSION = {"jobs": "session"}


def session_pools(*capacities: int, max_queue: int = 100) -> Pools:
    pools = Pools(max_queue, heartbeat_timeout=1.0)
    for i, capacity in enumerate(capacities):
        pools.attach(b"d%d" % i, 0.0, capacity, {"jobs": META}, ["jobs"], modes=SESSION)
    return pools


def by(client: bytes, n: int, **kw: Any) -> Call:
    return Call(client, n, "jobs", "work", [b"sig", b"hdr", b"payload"], **kw)


def test_a_callers_calls_stay_with_the_daemon_of_its_session() -> None:
    pools = session_pools(4, 4)
    first = pools.submit(by(b"alice", 1))
    assert first is not None
    for n in range(2, 10):  # even when the other daemon is freer
        target = pools.submit(by(b"alice", n))
        if target is not None:
            assert target is first
    assert all(c.client == b"alice" for c in first.inflight.values())
    assert len(first.pinned) == 8 + 1 - first.capacity  # the rest wait for that daemon alone
    other = next(d for d in pools.daemons.values() if d is not first)
    assert not other.inflight and pools.fill(other.ident) == []
    assert pools.submit(by(b"bob", 1)) is other  # a new caller: the least loaded daemon


def test_session_calls_wait_for_their_daemon_and_go_first_when_it_frees() -> None:
    pools = session_pools(1, 1)
    home = pools.submit(by(b"alice", 1))
    assert home is not None
    assert pools.submit(by(b"alice", 2)) is None
    pools.finished(home.ident, b"alice", 1)
    assert [c.call_id for c in pools.fill(home.ident)] == [2]


def test_single_and_percall_objects_keep_least_loaded_dispatch() -> None:
    pools = Pools(10, 1.0)
    for i in range(2):
        pools.attach(b"d%d" % i, 0.0, 1, {"jobs": META}, modes={"jobs": "single"})
    targets = {pools.submit(by(b"alice", n)).ident for n in range(2)}  # type: ignore[union-attr]
    assert targets == {b"d0", b"d1"}
    assert len(pools.sessions) == 0


def test_a_session_is_lost_with_its_daemon_and_says_so_until_released() -> None:
    pools = session_pools(2, 2)
    home = pools.submit(by(b"alice", 1))
    assert home is not None
    pools.submit(by(b"alice", 2))
    pools.submit(by(b"alice", 3))  # waits for home
    daemon, closed, orphans = pools.detach(home.ident, "went away (no heartbeat)")
    assert daemon is home and closed == [] and len(orphans) == 2
    assert [c.call_id for c in daemon.pinned] == [3]  # the service fails it: it never ran
    assert pools.pools["jobs"].bounded == 0
    for n in (4, 5):  # never a silent fresh instance on the other daemon
        with pytest.raises(errors.ConnectionClosedError, match="session .* is lost.*no heartbeat"):
            pools.submit(by(b"alice", n))
    assert pools.submit(by(b"bob", 1)) is not None  # a new proxy: a new session elsewhere
    pools.sessions.release(b"alice")  # the proxy let its connection go
    assert pools.submit(by(b"alice", 6)) is not None


def test_a_session_is_lost_when_its_daemon_stops_serving_the_object() -> None:
    pools = session_pools(1, 1)
    home = pools.submit(by(b"alice", 1))
    assert home is not None
    pools.attach(home.ident, 1.0, 1, {"other": {}}, modes={})
    with pytest.raises(errors.ConnectionClosedError, match="stopped serving it"):
        pools.submit(by(b"alice", 2))


def test_the_session_bound_counts_pinned_calls() -> None:
    pools = session_pools(1, max_queue=1)
    assert pools.submit(by(b"alice", 1)) is not None
    assert pools.submit(by(b"alice", 2)) is None
    with pytest.raises(errors.DaemonError, match="broker busy"):
        pools.submit(by(b"alice", 3))
    assert pools.submit(by(b"alice", 4, oneway=True, credited=True)) is None
