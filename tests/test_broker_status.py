"""The broker's read-only status query: ``Pyro.Daemon.pools()`` (docs/BROKER.md).

Pure (``Pools.describe`` with an injected clock) and through a real broker process with real
brokered daemons.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import scaled

import zpyro
from zpyro.broker.pools import Call, Pools

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

META: dict[str, Any] = {"methods": ["work"]}


def call(n: int) -> Call:
    return Call(b"client", n, "jobs", "work", [b"sig", b"hdr", b"payload"])


def test_describe_counts_capacity_calls_in_flight_free_slots_and_the_queue() -> None:
    pools = Pools(100, heartbeat_timeout=1.0)
    pools.attach(b"\x01", 0.0, 2, {"jobs": META}, ["jobs"], pid=11)
    pools.attach(b"\x02", 0.5, 1, {"jobs": META, "other": META}, ["jobs"], pid=22)
    for n in range(5):  # 3 slots: 3 in flight, 2 queued
        pools.submit(call(n))
    picture = pools.describe(now=2.0)
    assert picture["daemons"] == 2 and picture["max_queue"] == 100
    jobs = picture["pools"]["jobs"]
    assert (jobs["capacity"], jobs["free"], jobs["queued"]) == (3, 0, 2)
    by_pid = {d["pid"]: d for d in jobs["daemons"]}
    assert by_pid[11] == {
        "daemon": "01",
        "pid": 11,
        "capacity": 2,
        "inflight": 2,
        "free": 0,
        "silent": 2.0,
    }
    assert by_pid[22]["silent"] == 1.5 and by_pid[22]["inflight"] == 1
    other = picture["pools"]["other"]
    assert (other["capacity"], other["free"], other["queued"]) == (1, 0, 0)
    assert [d["pid"] for d in other["daemons"]] == [22]


def test_describe_of_no_pools_is_empty() -> None:
    assert Pools(10, 1.0).describe(0.0) == {"pools": {}, "daemons": 0, "max_queue": 10}


def test_a_broker_tells_its_pools_to_any_caller(broker: Any, start_worker: Any) -> None:
    start_worker(broker, "jobs", capacity=2)
    start_worker(broker, "jobs", capacity=3)
    status = zpyro.Proxy(f"PYRO:Pyro.Daemon@{broker.location}")
    jobs = zpyro.Proxy(f"PYRO:jobs@{broker.location}")
    with status, jobs:
        picture = status.pools()
        assert picture["epoch"] == broker.epoch and picture["daemons"] == 2
        pool = picture["pools"]["jobs"]
        assert sorted(d["capacity"] for d in pool["daemons"]) == [2, 3]
        assert (pool["capacity"], pool["free"], pool["queued"]) == (5, 5, 0)

        # two slow calls in flight: two slots fewer while they run
        done = threading.Event()
        results: list[Any] = []

        def slow() -> None:
            with zpyro.Proxy(f"PYRO:jobs@{broker.location}") as p:
                results.append(p.work("x", scaled(3.0)))
            if len(results) == 2:
                done.set()

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + scaled(10)
        busy = status.pools()["pools"]["jobs"]
        while busy["free"] != 3 and time.monotonic() < deadline:  # until both calls run
            busy = status.pools()["pools"]["jobs"]
        assert busy["free"] == 3
        assert sum(d["inflight"] for d in busy["daemons"]) == 2
        for t in threads:
            t.join(scaled(20))
        assert done.is_set()
        assert status.pools()["pools"]["jobs"]["free"] == 5
