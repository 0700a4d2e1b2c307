"""Issue 11, item 1 with real processes: a oneway call never vanishes without a word.

The two scenarios of the issue, counting calls sent, run (by the daemon) and raised (in the
caller): 20,000 oneway calls of 10 ms to a direct daemon with default settings, and 3,000 of 1 ms
through a broker started with ``--max-queue 50`` to a daemon of capacity 2. Both run every call:
the caller is slowed down by credit (zpyro/credit.py). Also oneway batches and the Executor
through that small queue, and oneway calls to a daemon that is gone. Each scenario prints its
counts (``pytest -s`` shows them).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from conftest import FAST_HEARTBEAT_ENV, PYTHON, ROOT, BrokerProcess, Spawned, eventually, scaled

import zpyro
from zpyro import errors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SINK = str(ROOT / "tests" / "programs" / "oneway_sink.py")


def start_sink(spawn: Any, *args: str) -> tuple[Spawned, str]:
    sink = spawn([PYTHON, SINK, *args], env=FAST_HEARTBEAT_ENV)
    return sink, sink.wait_for("READY").split()[1]


def brokered_sink(spawn: Any, broker: BrokerProcess, capacity: int = 2) -> tuple[Spawned, str]:
    sink, _ = start_sink(spawn, broker.endpoint, str(capacity))
    return sink, f"PYRO:sink@{broker.location}"


def fire(p: zpyro.Proxy, calls: int, seconds: float) -> tuple[int, int]:
    """`calls` oneway work(seconds) calls: (sent, raised)."""
    sent = raised = 0
    for _ in range(calls):
        try:
            p.work(seconds)
            sent += 1
        except errors.ZPyroError:
            raised += 1
    return sent, raised


def ran_all(p: zpyro.Proxy, sent: int, timeout: float) -> int:
    """Wait (bounded) until the daemon has run `sent` oneway calls; the count it reports."""
    seen = [0]

    def done() -> bool:
        seen[0] = p.ran()
        return seen[0] >= sent

    eventually(done, timeout, lambda: f"{sent} oneway calls run (ran {seen[0]})", pause=0.1)
    return seen[0]


def report(scenario: str, sent: int, ran: int, raised: int) -> None:
    print(f"\n{scenario}: sent {sent}, ran {ran}, raised {raised}")


def test_20000_oneway_calls_of_10ms_to_a_direct_daemon_all_run(spawn: Any) -> None:
    _, uri = start_sink(spawn, "direct")
    with zpyro.Proxy(uri) as p:
        sent, raised = fire(p, 20_000, 0.01)
        ran = ran_all(p, sent, 120)
        report("direct daemon, default settings, 20,000 x 10 ms", sent, ran, raised)
        assert (sent, ran, raised) == (20_000, 20_000, 0)


def test_3000_oneway_calls_through_a_broker_with_a_queue_of_50_all_run(
    start_broker: Any, spawn: Any
) -> None:
    broker = start_broker("--max-queue", "50")
    _, uri = brokered_sink(spawn, broker, capacity=2)
    failures: list[BaseException] = []
    stop = threading.Event()

    def neighbour() -> None:  # another caller's sync calls meanwhile: never "broker busy"
        with zpyro.Proxy(uri) as q:
            while not stop.is_set():
                try:
                    q.ran()
                except errors.ZPyroError as exc:
                    failures.append(exc)

    beside = threading.Thread(target=neighbour)
    beside.start()
    try:
        with zpyro.Proxy(uri) as p:
            sent, raised = fire(p, 3000, 0.001)
            assert p.ran() >= 0  # the oneway caller's next sync call is served, not refused
            ran = ran_all(p, sent, 60)
    finally:
        stop.set()
        beside.join(scaled(30))
    report("broker --max-queue 50, capacity 2, 3,000 x 1 ms", sent, ran, raised)
    assert (sent, ran, raised) == (3000, 3000, 0)
    assert failures == []
    assert "broker busy" not in "".join(broker.spawned.output)


def test_oneway_batches_through_a_small_broker_queue_all_run(start_broker: Any, spawn: Any) -> None:
    broker = start_broker("--max-queue", "50")
    _, uri = brokered_sink(spawn, broker, capacity=2)
    with zpyro.Proxy(uri) as p:
        sent = raised = 0
        for _ in range(600):
            batch = zpyro.BatchProxy(p)
            for _ in range(5):
                batch.work(0.001)
            try:
                batch(oneway=True)
                sent += 5
            except errors.ZPyroError:
                raised += 5
        ran = ran_all(p, sent, 60)
    report("broker --max-queue 50, 600 oneway batches of 5 x 1 ms", sent, ran, raised)
    assert (sent, ran, raised) == (3000, 3000, 0)


def test_executor_oneway_jobs_through_a_small_broker_queue_all_run(
    start_broker: Any, spawn: Any
) -> None:
    broker = start_broker("--max-queue", "50")
    _, uri = brokered_sink(spawn, broker, capacity=2)
    with zpyro.Executor(uri) as ex:
        futures = [ex.submit("work", 0.001) for _ in range(2000)]
        raised = sum(f.exception(scaled(30)) is not None for f in futures)
    with zpyro.Proxy(uri) as p:
        ran = ran_all(p, 2000, 60)
    report("broker --max-queue 50, Executor, 2,000 oneway jobs of 1 ms", 2000, ran, raised)
    assert (ran, raised) == (2000, 0)


def test_a_oneway_call_to_a_direct_daemon_that_is_gone_raises(spawn: Any) -> None:
    sink, uri = start_sink(spawn, "direct")
    with zpyro.Proxy(uri) as p:
        p.work(0)
        assert ran_all(p, 1, 10) == 1
        sink.kill()
        # until the proxy sees the connection go, its calls go into it (a few at most, under
        # load); the first call after that says they may have been lost
        silent, deadline = 0, time.monotonic() + scaled(10)
        while True:
            try:
                p.work(0)
            except errors.CommunicationError as exc:  # (ConnectionClosedError is one too)
                first = exc
                break
            silent += 1
            assert time.monotonic() < deadline, "the lost connection was never noticed"
        if silent:
            assert isinstance(first, errors.ConnectionClosedError)
            assert re.search(r"\d+ oneway calls .* not confirmed", str(first)), first
        with pytest.raises(errors.CommunicationError, match="refused"):
            p.work(0)  # and from then on: nobody there
        with pytest.raises(errors.CommunicationError, match="refused"):
            p.work(0)


def test_a_oneway_call_to_a_pool_whose_daemon_is_gone_raises(start_broker: Any, spawn: Any) -> None:
    broker = start_broker()
    sink, uri = brokered_sink(spawn, broker)
    with zpyro.Proxy(uri) as p:
        p.work(0)
        assert ran_all(p, 1, 10) == 1
        sink.kill()
        raised: list[BaseException] = []

        def told() -> bool:  # the broker's notice reaches the caller's next call
            try:
                p.work(0)
            except errors.ZPyroError as exc:
                raised.append(exc)
            return bool(raised)

        eventually(told, 15, "a oneway call to the dead pool raised", pause=0.1)
        # no daemon serves it (DaemonError), the pool closed with calls queued
        # (CommunicationError), or calls in flight on the dead daemon (ConnectionClosedError)
        assert isinstance(raised[0], (errors.DaemonError, errors.CommunicationError))
        assert "oneway call sink.work" in str(raised[0])


def test_refusals_of_old_oneway_callers_are_logged_at_warning(
    start_broker: Any, spawn: Any
) -> None:
    broker = start_broker("--max-queue", "4")
    _, uri = brokered_sink(spawn, broker, capacity=1)
    with zpyro.Proxy(uri) as p:
        p._pyroBind()
        p._pyroConnection.set_credit_window(None)  # as a proxy from before flow control
        for _ in range(50):
            p.work(0.01)  # a flood the small queue cannot hold
        eventually(
            lambda: "refused call sink.work" in "".join(broker.spawned.output),
            10,
            lambda: f"a refusal in the broker's log: {''.join(broker.spawned.output)}",
        )
    line = next(x for x in broker.spawned.output if "refused call sink.work" in x)
    assert "WARNING" in line and "broker busy" in line
