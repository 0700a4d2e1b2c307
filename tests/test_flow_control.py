"""Oneway flow control with an in-process daemon: credit slows a oneway caller down, bounds hold,
refusals are told and logged (zpyro/credit.py; the scenarios with real processes are in
test_oneway_flow.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServedDaemon, eventually, scaled, serving

import zpyro
from zpyro import aio, errors

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class Gated:
    """Oneway `work()` waits for the gate; `count()` tells how many ran."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self._lock = threading.Lock()
        self._ran = 0

    @zpyro.oneway
    def work(self, n: int = 0) -> None:
        self.gate.wait(scaled(30))
        with self._lock:
            self._ran += 1

    def count(self) -> int:
        with self._lock:
            return self._ran

    def slow(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds


@pytest.fixture
def gated() -> Iterator[tuple[Gated, zpyro.URI, ServedDaemon]]:
    """A daemon granting 4 credits (config ONEWAY_CREDIT = 4), serving a Gated (gate closed)."""
    zpyro.config.ONEWAY_CREDIT = 4
    obj = Gated()
    with serving() as served:
        uri = served.register(obj, "gated")
        try:
            yield obj, uri, served
        finally:
            obj.gate.set()


def in_thread(fn: Any, *args: Any) -> tuple[threading.Event, list[Any]]:
    """Run fn(*args) in a thread: (done event, [result or exception])."""
    done, out = threading.Event(), []

    def run() -> None:
        try:
            out.append(fn(*args))
        except BaseException as exc:
            out.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, out


def test_the_proxy_learns_the_window_and_counts_credit(gated: Any) -> None:
    obj, uri, _ = gated
    with zpyro.Proxy(uri) as p:
        p._pyroBind()
        assert p._pyroCreditWindow == 4
        assert p._pyroConnection.credit.window == 4
        obj.gate.set()
        for i in range(50):  # far more than the window: credit keeps coming back
            p.work(i)
        eventually(lambda: p.count() == 50, 10, "all 50 oneway calls run")


def test_a_caller_without_credit_waits_until_the_daemon_has_room(gated: Any) -> None:
    obj, uri, _ = gated
    with zpyro.Proxy(uri) as p:
        for i in range(4):  # the window: these go at once
            p.work(i)
        done, out = in_thread(p.work, 4)
        assert not done.wait(scaled(0.3))  # slowed down: no room until some have run
        obj.gate.set()
        assert done.wait(scaled(10)) and out == [None]
        eventually(lambda: p.count() == 5, 10, "all 5 oneway calls run")


def test_no_room_within_the_timeout_raises_and_the_call_is_not_sent(gated: Any) -> None:
    obj, uri, _ = gated
    with zpyro.Proxy(uri) as p:
        p._pyroTimeout = scaled(0.3)
        for i in range(4):
            p.work(i)
        with pytest.raises(errors.TimeoutError, match="no room .* not sent"):
            p.work(4)
        obj.gate.set()
        eventually(lambda: p.count() == 4, 10, "the 4 calls sent have run")
        p.work(5)  # room again: the proxy stayed usable
        eventually(lambda: p.count() == 5, 10, "the call after the timeout ran")


def test_oneway_batches_take_one_credit_each(gated: Any) -> None:
    obj, uri, _ = gated
    with zpyro.Proxy(uri) as p:
        p._pyroTimeout = scaled(0.3)
        for _ in range(4):
            batch = zpyro.BatchProxy(p)
            for i in range(5):
                batch.work(i)
            batch(oneway=True)
        batch = zpyro.BatchProxy(p)
        batch.work(0)
        with pytest.raises(errors.TimeoutError, match="no room"):
            batch(oneway=True)
        obj.gate.set()
        eventually(lambda: p.count() == 20, 10, "the 4 batches of 5 have run")


def test_executor_submits_of_oneway_methods_are_slowed_too(gated: Any) -> None:
    obj, uri, _ = gated
    with zpyro.Executor(uri) as ex:
        futures = [ex.submit("work", i) for i in range(4)]
        assert all(f.result(scaled(5)) is None for f in futures)
        done, out = in_thread(ex.submit, "work", 4)
        assert not done.wait(scaled(0.3))
        obj.gate.set()
        assert done.wait(scaled(10)) and out[0].result(scaled(5)) is None
    with zpyro.Proxy(uri) as p:
        eventually(lambda: p.count() == 5, 10, "all 5 jobs run")


def test_an_asyncio_caller_waiting_for_room_does_not_block_its_loop(gated: Any) -> None:
    obj, uri, _ = gated

    async def main() -> int:
        async with aio.Proxy(uri) as p:
            for i in range(4):
                await p.work(i)
            waiting = asyncio.create_task(p.work(4))
            ticks = 0
            for _ in range(5):  # the loop runs on while that call waits for room
                await asyncio.sleep(0.01)
                ticks += 1
            assert not waiting.done()
            obj.gate.set()
            await asyncio.wait_for(waiting, scaled(10))
            return ticks

    assert asyncio.run(main()) == 5
    with zpyro.Proxy(uri) as p:
        eventually(lambda: p.count() == 5, 10, "all 5 oneway calls run")


def test_a_oneway_call_in_a_result_callback_without_room_raises(gated: Any) -> None:
    obj, uri, _ = gated
    with zpyro.Proxy(uri) as p:
        for i in range(4):
            p.work(i)
        raised: list[BaseException] = []

        def then(_: Any) -> None:  # runs in the thread reading replies: it cannot wait
            try:
                p._pyroCall("work", (99,), {})  # (on the same connection as the future's)
            except BaseException as exc:
                raised.append(exc)

        future = p._pyroCallAsync("count", (), {})
        future.add_done_callback(then)
        future.result(scaled(5))
        eventually(lambda: raised, 5, "the callback's oneway call returned or raised")
        assert isinstance(raised[0], errors.CommunicationError)
        assert "inside a result callback" in str(raised[0])
        obj.gate.set()


def test_credit_comes_back_when_the_caller_goes_idle(gated: Any) -> None:
    obj, uri, _ = gated
    obj.gate.set()
    with zpyro.Proxy(uri) as p:
        p.work(0)  # less than a batch: the daemon flushes it after a pause
        credit = p._pyroConnection._calls.credit

        def confirmed() -> bool:
            p.count()  # (the proxy reads what came while it waits for this reply)
            return credit.unconfirmed == 0

        eventually(confirmed, 5, "the oneway call confirmed")


def test_oneway_calls_with_credit_are_never_refused_and_leave_room_for_sync_callers() -> None:
    zpyro.config.DAEMON_MAX_QUEUE = 2  # window max(1, 2 // 4) = 1 credit per proxy
    obj = Gated()
    with serving(threadpool_size=1) as served:
        uri = served.register(obj, "gated")
        callers = [zpyro.Proxy(uri) for _ in range(6)]
        try:
            callers[0].work(0)  # inline, then taken over: work is learned slow, pooled
            eventually(lambda: callers[0].count() == 0 and True, 5, "count answered")
            for p in callers[1:]:
                p.work(1)  # 5 credited calls queue behind the busy worker: over the bound
            with zpyro.Proxy(uri) as q:
                q._pyroTimeout = scaled(20)
                done, out = in_thread(q.slow, 0.01)  # a sync caller still finds room
                obj.gate.set()
                assert done.wait(scaled(20)) and out == [0.01]
            eventually(lambda: callers[0].count() == 6, 10, "all 6 oneway calls run")
        finally:
            obj.gate.set()
            for p in callers:
                p._pyroRelease()


def test_daemon_busy_is_told_to_sync_callers_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    zpyro.config.DAEMON_MAX_QUEUE = 1
    obj = Gated()
    with serving(threadpool_size=1) as served:
        uri = served.register(obj, "gated")
        with zpyro.Proxy(uri) as p, caplog.at_level(logging.WARNING):
            p._pyroAsync()
            first = p.slow(0.05)  # learned slow (3 long inline runs) -> pooled from then on
            first.result(scaled(5))
            for _ in range(3):
                p.slow(0.003).result(scaled(5))
            obj_futures = [p.slow(0.2) for _ in range(4)]  # 1 runs, 1 waits, 2 refused
            outcomes = []
            for f in obj_futures:
                try:
                    outcomes.append(f.result(scaled(10)))
                except errors.DaemonError as exc:
                    outcomes.append(str(exc))
            obj.gate.set()
        busy = [o for o in outcomes if isinstance(o, str)]
        assert busy and all("daemon busy" in b and "DAEMON_MAX_QUEUE" in b for b in busy)
        assert any(
            r.levelno == logging.WARNING and "refused call gated.slow" in r.getMessage()
            for r in caplog.records
        )


def test_an_old_daemon_without_credit_is_called_as_before(gated: Any) -> None:
    obj, uri, served = gated
    served.daemon.dispatcher.credit_window = None  # what a daemon before flow control says
    with zpyro.Proxy(uri) as p:
        p._pyroBind()
        assert p._pyroCreditWindow is None and p._pyroConnection.credit.window is None
        for i in range(20):  # nothing to wait for: no window
            p.work(i)
        obj.gate.set()
        eventually(lambda: p.count() == 20, 10, "all 20 oneway calls run")


def test_an_inproc_call_longer_than_the_connect_timeout_is_no_connect_failure() -> None:
    zpyro.config.CONNECT_TIMEOUT = 0.2
    with serving(inproc="flow-long-call") as served:
        uri = served.register(Gated(), "gated")
        with zpyro.Proxy(uri) as p:
            assert p.slow(0.5) == 0.5  # inproc has no connection to wait for
