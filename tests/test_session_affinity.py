"""Issue 11, item 2 with real processes: session-mode objects through a pool.

A proxy's calls to a ``session`` object in a pool all reach the daemon holding its session, for
the life of its connection, whatever the load elsewhere; ``single`` objects keep least-loaded
dispatch; when the session's daemon dies the proxy's calls raise a ConnectionClosedError saying
the session is lost (never a fresh instance elsewhere), and a new proxy gets a new session.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import FAST_HEARTBEAT_ENV, PYTHON, ROOT, BrokerProcess, Spawned, eventually, scaled

import zpyro
from zpyro import errors
from zpyro.wire import DAEMON_OBJECT_ID

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PROGRAM = str(ROOT / "tests" / "programs" / "session_worker.py")


def session_worker(spawn: Any, broker: BrokerProcess, capacity: int = 2) -> tuple[Spawned, int]:
    proc = spawn([PYTHON, PROGRAM, broker.endpoint, "tally", str(capacity)], env=FAST_HEARTBEAT_ENV)
    return proc, int(proc.wait_for("READY").split()[1])


@pytest.fixture
def pool(broker: BrokerProcess, spawn: Any) -> dict[int, Spawned]:
    """Two session workers in the pool "tally": pid -> process."""
    workers = [session_worker(spawn, broker) for _ in range(2)]
    return {pid: proc for proc, pid in workers}


def tally(broker: BrokerProcess) -> zpyro.Proxy:
    p = zpyro.Proxy(f"PYRO:tally@{broker.location}")
    p._pyroTimeout = scaled(20)
    return p


def daemons_attached(broker: BrokerProcess) -> int:
    with zpyro.Proxy(f"PYRO:{DAEMON_OBJECT_ID}@{broker.location}") as d:
        return int(d.info().split(": ")[1].split()[0])  # "... epoch E: N daemons, ..."


def test_each_proxy_keeps_its_session_on_one_daemon_under_load(
    broker: BrokerProcess, pool: dict[int, Spawned]
) -> None:
    proxies = [tally(broker) for _ in range(4)]
    seen: dict[int, set[int]] = {i: set() for i in range(4)}
    failures: list[BaseException] = []

    def shop(i: int) -> None:
        try:
            for n in range(15):  # slow calls of the others keep the daemons unequally busy
                seen[i].add(proxies[i].add(n, 0.02 if i % 2 else 0.0))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=shop, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(60))
    assert failures == []
    try:
        for i, p in enumerate(proxies):
            values, pid = p.values_and_pid()
            assert values == list(range(15)), "a call reached another instance"
            assert seen[i] == {pid}, "a proxy's calls reached more than one daemon"
        assert {pid for s in seen.values() for pid in s} == set(pool)  # sessions on both
    finally:
        for p in proxies:
            p._pyroRelease()


def test_futures_and_oneway_calls_follow_the_session_too(
    broker: BrokerProcess, pool: dict[int, Spawned]
) -> None:
    with tally(broker) as p:
        a = zpyro.asyncproxy(p)  # (p itself, switched to futures: the same session)
        pids = {f.result(scaled(20)) for f in [a.add(n, 0.01) for n in range(8)]}
        values, pid = a.values_and_pid().result(scaled(20))
        # all in the one instance (in any order: the daemon runs two at once)
        assert sorted(values) == list(range(8)) and pids == {pid}
        a._pyroRelease()


def test_single_mode_pools_keep_least_loaded_dispatch(
    broker: BrokerProcess, start_worker: Any
) -> None:
    pids = {start_worker(broker, capacity=1).pid for _ in range(2)}
    with zpyro.Proxy(f"PYRO:jobs@{broker.location}") as p:
        a = zpyro.asyncproxy(p)
        reached = {f.result(scaled(20))[0] for f in [a.work(n, 0.1) for n in range(4)]}
        a._pyroRelease()
    assert reached == pids  # one proxy's calls spread over the pool


def test_a_lost_session_says_so_and_a_new_proxy_starts_afresh(
    broker: BrokerProcess, pool: dict[int, Spawned]
) -> None:
    p = tally(broker)
    try:
        home = p.add("kept")
        pool[home].kill()  # the daemon holding p's session dies (no goodbye)
        eventually(lambda: daemons_attached(broker) == 1, 15, "the broker dropped the daemon")
        for _ in range(2):  # every call says so, not just the first: never a fresh instance
            with pytest.raises(errors.ConnectionClosedError, match="session .* is lost"):
                p.values_and_pid()
        (survivor,) = set(pool) - {home}
        with tally(broker) as q:  # a new proxy: a new session, on the daemon left
            assert q.values_and_pid() == [[], survivor]
        p._pyroRelease()  # letting the connection go ends the lost session
        assert p.values_and_pid() == [[], survivor]
    finally:
        p._pyroRelease()


def test_a_call_in_flight_when_the_session_daemon_dies_says_the_session_is_lost(
    broker: BrokerProcess, pool: dict[int, Spawned]
) -> None:
    with tally(broker) as p:
        home = p.add("first")
        a = zpyro.asyncproxy(p)
        home = a.add("x").result(scaled(20))
        slow = a.add("late", 5.0)  # in flight when its daemon is killed
        queued = a.add("queued")  # waits behind it for that daemon (capacity 2: one more)
        queued2 = a.add("queued 2")
        pool[home].kill()
        for future in (slow, queued, queued2):
            with pytest.raises(errors.ConnectionClosedError, match="session .* is lost"):
                future.result(scaled(20))
        a._pyroRelease()


def test_a_caller_that_dies_without_goodbye_ends_its_session_affinity(spawn: Any) -> None:
    """The broker sees the caller's connection close: its affinity entry goes (and its daemons
    hear a release_session), as if it had said goodbye."""
    uri, nsd, _ = zpyro.naming.startNS(host="127.0.0.1", port=0, enableBroadcast=False)
    loop = threading.Thread(target=nsd.requestLoop)
    loop.start()
    try:
        broker = nsd.broker  # (in this process: its records can be looked at)
        endpoint = f"tcp://{uri.location}"
        proc = spawn([PYTHON, PROGRAM, endpoint, "tally", "2"], env=FAST_HEARTBEAT_ENV)
        proc.wait_for("READY")
        program = (
            "import os, sys, zpyro\n"
            "p = zpyro.Proxy(sys.argv[1]); p.add('held')\n"
            "print('CALLED', flush=True); sys.stdin.read(); os._exit(0)\n"  # no goodbye
        )
        caller = spawn([PYTHON, "-c", program, f"PYRO:tally@{uri.location}"])
        caller.wait_for("CALLED")
        assert len(broker.pools.sessions) == 1  # its affinity, held while it lives
        caller.proc.stdin.close()  # it exits without release_session
        eventually(lambda: len(broker.pools.sessions) == 0, 15, "the affinity entry released")
    finally:
        nsd.shutdown()
        loop.join(scaled(10))
        nsd.close()
