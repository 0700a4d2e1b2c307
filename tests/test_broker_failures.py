"""Failures around a real broker: daemons killed, frozen, busy in long CPU-bound calls, or
closing; the broker itself restarted.

Heartbeats are fast (0.2 s interval, 1.0 s timeout: FAST_HEARTBEAT_ENV) except where a test
needs them slow, to tell a clean goodbye from a timeout.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BrokerProcess, Worker, eventually, scaled

import zpyro
from zpyro.errors import CommunicationError, ConnectionClosedError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

SLOW_HEARTBEAT_ENV = {"ZPYRO_HEARTBEAT_INTERVAL": "1.0", "ZPYRO_HEARTBEAT_TIMEOUT": "10.0"}


def pool_proxy(broker: BrokerProcess, name: str = "jobs", timeout: float = 20) -> zpyro.Proxy:
    proxy = zpyro.Proxy(f"PYRONAME:{name}@{broker.host}:{broker.port}")
    proxy._pyroTimeout = scaled(timeout)  # a lost reply fails the test instead of hanging it
    return proxy


def outcome(future: Any) -> Any:
    """The result, or the exception, of a future (bounded)."""
    try:
        return future.result(scaled(20))
    except Exception as exc:
        return exc


def first_done_after(futures: list[Any], since: float) -> float:
    """Seconds from `since` until the first of `futures` finished (bounded)."""
    done, _ = concurrent.futures.wait(
        futures, timeout=scaled(20), return_when=concurrent.futures.FIRST_COMPLETED
    )
    assert done, "no call finished"
    return time.monotonic() - since


def pids_answering(proxy: zpyro.Proxy, calls: int = 8) -> set[int]:
    return {proxy.whoami() for _ in range(calls)}


def one_lost_one_done(futures: list[Any], survivor: Worker) -> Any:
    """Of two calls, the one on the lost daemon failed and the other ran on `survivor`."""
    outcomes = [outcome(f) for f in futures]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    done = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(lost) == 1 and len(done) == 1, outcomes
    assert done[0][0] == survivor.pid
    return lost[0]


@pytest.fixture
def frozen() -> Iterator[list[int]]:
    """Pids the test SIGSTOPs; each is continued and killed at teardown."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def test_a_killed_daemon_fails_its_calls_fast_and_the_pool_goes_on(
    broker: BrokerProcess, start_worker: Any
) -> None:
    victim, survivor = start_worker(broker, capacity=1), start_worker(broker, capacity=1)
    p = pool_proxy(broker)
    futures = [zpyro.asyncproxy(copy.copy(p)).work(i, 4.0) for i in range(2)]  # one on each daemon
    killed = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    assert first_done_after(futures, killed) < scaled(3)  # heartbeat timeout 1 s; the call 4 s
    lost = one_lost_one_done(futures, survivor)
    assert isinstance(lost, ConnectionClosedError)
    assert "went away" in str(lost) and "may or may not have run" in str(lost)
    assert pids_answering(p) == {survivor.pid}
    assert "jobs" in zpyro.locate_ns(broker.host, broker.port).list()


def test_a_frozen_daemon_is_declared_dead_and_comes_back_when_continued(
    broker: BrokerProcess, start_worker: Any, frozen: list[int]
) -> None:
    victim, survivor = start_worker(broker, capacity=1), start_worker(broker, capacity=1)
    p = pool_proxy(broker)
    futures = [zpyro.asyncproxy(copy.copy(p)).work(i, 4.0) for i in range(2)]
    stopped = time.monotonic()
    os.kill(victim.pid, signal.SIGSTOP)
    frozen.append(victim.pid)
    assert first_done_after(futures, stopped) < scaled(3)
    assert isinstance(one_lost_one_done(futures, survivor), ConnectionClosedError)
    assert pids_answering(p) == {survivor.pid}
    os.kill(victim.pid, signal.SIGCONT)  # it hears "unknown daemon" and registers again
    eventually(lambda: victim.pid in pids_answering(p), 10, "the continued daemon serves again")


def test_an_idempotent_call_on_a_killed_daemon_runs_again_elsewhere(
    broker: BrokerProcess, start_worker: Any
) -> None:
    victim, survivor = start_worker(broker, capacity=1), start_worker(broker, capacity=1)
    a = zpyro.asyncproxy(pool_proxy(broker))
    futures = [a.square(i + 2, 1.5) for i in range(2)]  # @idempotent; one on each daemon
    os.kill(victim.pid, signal.SIGKILL)
    assert [outcome(f) for f in futures] == [[survivor.pid, 4], [survivor.pid, 9]]


def test_a_long_cpu_bound_call_does_not_make_its_daemon_look_dead(
    broker: BrokerProcess, start_worker: Any
) -> None:
    worker = start_worker(broker, capacity=2)
    p = pool_proxy(broker)
    crunching = zpyro.asyncproxy(copy.copy(p)).crunch(
        3.0
    )  # 3x the heartbeat timeout, never yielding
    assert p.whoami() == worker.pid  # the daemon keeps serving meanwhile
    assert outcome(crunching) == worker.pid
    assert p.whoami() == worker.pid
    assert "declared dead" not in "".join(broker.spawned.output)


def test_a_restarted_broker_gets_its_daemons_and_stored_names_back(
    start_broker: Any, start_worker: Any, tmp_path: Path
) -> None:
    storage = f"sqlite:{tmp_path / 'names.db'}"
    broker = start_broker(storage=storage)
    workers = [start_worker(broker), start_worker(broker)]
    ns = zpyro.locate_ns(broker.host, broker.port)
    ns.register("by.hand", "PYRO:x@127.0.0.1:5001", metadata={"kept"})
    p = pool_proxy(broker)
    assert pids_answering(p) == {w.pid for w in workers}

    assert broker.stop() == 0
    again = start_broker(port=broker.port, pub_port=broker.pub_port, storage=storage)
    assert again.epoch != broker.epoch
    for worker in workers:  # nobody restarted them: they noticed the new epoch themselves
        worker.spawned.wait_for("registering again")
    ns = zpyro.locate_ns(again.host, again.port)
    assert ns.lookup("by.hand", return_metadata=True) == (
        zpyro.URI("PYRO:x@127.0.0.1:5001"),
        {"kept"},
    )
    eventually(lambda: "jobs" in ns.list(), 10, "the pool's name is back")
    eventually(
        lambda: pids_answering(pool_proxy(again)) == {w.pid for w in workers},
        10,
        "both daemons serve the pool again",
    )
    # the proxy from before the restart: its connection was lost, which its next call says (as
    # in Pyro); the call after connects anew
    with pytest.raises(ConnectionClosedError):
        p.whoami()
    assert p.whoami() in {w.pid for w in workers}


def test_a_daemon_closing_cleanly_leaves_at_once(start_broker: Any, start_worker: Any) -> None:
    # slow heartbeats: a daemon that just vanished would be noticed only after 10 s
    broker = start_broker(env=SLOW_HEARTBEAT_ENV)
    leaving, staying = (start_worker(broker, env=SLOW_HEARTBEAT_ENV) for _ in range(2))
    alone = start_worker(broker, "alone", env=SLOW_HEARTBEAT_ENV)
    ns = zpyro.locate_ns(broker.host, broker.port)
    assert {"jobs", "alone"} <= set(ns.list())
    p = pool_proxy(broker, timeout=3)  # a call sent to the departed daemon would time out
    assert pids_answering(p) == {leaving.pid, staying.pid}

    leaving.spawned.stop()  # SIGTERM: the daemon says BYE as it closes
    assert leaving.spawned.proc.returncode == 0
    assert pids_answering(p) == {staying.pid}
    assert "jobs" in ns.list()

    stopped = time.monotonic()
    alone.spawned.stop()
    eventually(lambda: "alone" not in ns.list(), 5, "the last daemon's name goes")
    assert time.monotonic() - stopped < scaled(7)  # before the 10 s heartbeat timeout


def test_calls_waiting_for_a_pool_whose_last_daemon_died_get_an_error(
    broker: BrokerProcess, start_worker: Any
) -> None:
    only = start_worker(broker, capacity=1)
    a = zpyro.asyncproxy(pool_proxy(broker))
    running, *waiting = [a.work(i, 4.0) for i in range(3)]  # 1 runs, 2 wait in the queue
    killed = time.monotonic()
    os.kill(only.pid, signal.SIGKILL)
    assert isinstance(outcome(running), ConnectionClosedError)
    for future in waiting:
        error = outcome(future)
        assert isinstance(error, CommunicationError) and "no daemon serves 'jobs'" in str(error)
    assert time.monotonic() - killed < scaled(3)
    eventually(
        lambda: "jobs" not in zpyro.locate_ns(broker.host, broker.port).list(),
        10,
        "the dead pool's name goes",
    )


def test_a_stream_from_a_daemon_that_died_ends_in_an_error_not_a_hang(
    broker: BrokerProcess, start_worker: Any
) -> None:
    worker = start_worker(broker)
    stream = pool_proxy(broker).count(10_000_000)
    assert next(stream) == 0
    os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(ConnectionClosedError):
        for _ in stream:  # what was fetched already comes first, then the error
            pass


def test_a_killed_broker_fails_calls_in_flight_and_a_new_one_takes_over(
    start_broker: Any, start_worker: Any, tmp_path: Path
) -> None:
    storage = f"sqlite:{tmp_path / 'names.db'}"
    broker = start_broker(storage=storage)
    worker = start_worker(broker)
    zpyro.locate_ns(broker.host, broker.port).register("by.hand", "PYRO:x@127.0.0.1:5001")
    p = pool_proxy(broker)
    in_flight = zpyro.asyncproxy(copy.copy(p)).work("lost", 2.0)
    killed = time.monotonic()
    os.kill(broker.pid, signal.SIGKILL)  # no goodbye, no chance to flush anything
    assert isinstance(outcome(in_flight), ConnectionClosedError)
    assert time.monotonic() - killed < scaled(3)
    again = start_broker(port=broker.port, pub_port=broker.pub_port, storage=storage)
    ns = zpyro.locate_ns(again.host, again.port)
    assert ns.lookup("by.hand") == zpyro.URI("PYRO:x@127.0.0.1:5001")  # committed before
    eventually(lambda: "jobs" in ns.list(), 10, "the daemon registers with the new broker")
    assert pool_proxy(again).whoami() == worker.pid
