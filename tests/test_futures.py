"""Futures: ``zpyro.asyncproxy(p)`` / ``p._pyroAsync()`` calls return ``zpyro.Future`` at once.

A daemon in a thread (tcp on 127.0.0.1) for most tests; the lost-connection test kills a daemon
in a subprocess while hundreds of calls are outstanding on one proxy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, ServedDaemon, scaled, serving

import zpyro
from zpyro import errors

pytestmark = pytest.mark.timeout(60)

ANNOUNCING_ECHO = [PYTHON, str(Path(__file__).resolve().parent / "programs" / "echo_announcing.py")]


@zpyro.expose
class Worker:
    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.parked = 0
        self._parked_changed = threading.Condition()

    def square(self, x: int) -> int:
        return x * x

    def divide(self, a: float, b: float) -> float:
        return a / b

    def sleepy(self, seconds: float, value: Any) -> Any:
        time.sleep(seconds)
        return value

    async def nap(self, seconds: float, value: Any) -> Any:
        await asyncio.sleep(seconds)
        return value

    async def park(self, n: int) -> int:
        """Waits (without a thread) until release() is called."""
        if self.gate is None:
            self.gate = asyncio.Event()
        with self._parked_changed:
            self.parked += 1
            self._parked_changed.notify_all()
        await self.gate.wait()
        return n

    async def release(self) -> None:
        if self.gate is None:
            self.gate = asyncio.Event()
        self.gate.set()

    def wait_parked(self, count: int, timeout: float) -> int:
        """How many park() calls are waiting, once `count` are (or the timeout passed)."""
        with self._parked_changed:
            self._parked_changed.wait_for(lambda: self.parked >= count, timeout)
            return self.parked


@pytest.fixture
def worker() -> Iterator[tuple[ServedDaemon, Worker, zpyro.URI]]:
    with serving() as served:
        obj = Worker()
        uri = served.register(obj, "futures.worker")
        yield served, obj, uri


def test_asyncproxy_returns_real_futures(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.Proxy(uri) as plain:
        with zpyro.asyncproxy(copy.copy(plain)) as p:
            future = p.square(7)
            assert isinstance(future, zpyro.Future)
            assert isinstance(future, concurrent.futures.Future)
            assert future.result(timeout=scaled(5)) == 49
            assert future.value == 49
            assert future.ready
            assert future.wait(0)
        # the copy was switched, the original proxy was not: its calls still return values
        assert plain.square(3) == 9
        assert zpyro.asyncproxy(plain) is plain  # (as Pyro4: the proxy itself is switched)
        assert plain.square(4).value == 16


def test_pyro_async_switches_a_proxy_both_ways(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.Proxy(uri) as p:
        p._pyroAsync()
        future = p.square(5)
        assert isinstance(future, zpyro.Future)
        assert future.value == 25
        p._pyroAsync(False)
        assert p.square(6) == 36


def test_ready_and_wait_with_timeout(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        future = p.sleepy(0.5, "late")
        assert not future.ready
        assert future.wait(0.05) is False  # not there yet: False, no exception
        assert future.wait(scaled(5)) is True
        assert future.ready
        assert future.value == "late"


def test_remote_exception_through_value_result_and_exception(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        future = p.divide(1, 0)
        assert future.wait(scaled(5))  # an exception is "done" too
        assert isinstance(future.exception(), ZeroDivisionError)
        with pytest.raises(ZeroDivisionError):
            future.value  # noqa: B018
        with pytest.raises(ZeroDivisionError):
            future.result()
        assert "ZeroDivisionError" in "".join(zpyro.get_remote_traceback(future.exception()))


def test_then_chains_onto_the_future_itself(worker: Any) -> None:
    """Pyro4's FutureResult.then: the future's own value becomes the chain's end."""
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        first = p.square(4)
        second = first.then(lambda n: n + 1)
        third = second.then(lambda n, times, plus=0: n * times + plus, 2, plus=1)
        assert second is first and third is first
        assert first.result(timeout=scaled(5)) == 35 and first.value == 35

        # a remote error skips the chain without calling the functions
        called: list[Any] = []
        failed = p.divide(1, 0).then(called.append).then(called.append)
        assert isinstance(failed.exception(timeout=scaled(5)), ZeroDivisionError)
        assert called == []

        # an error raised by a function in the chain ends it and becomes the future's error
        broken = p.square(2).then(lambda n: n / 0).then(called.append)
        assert isinstance(broken.exception(timeout=scaled(5)), ZeroDivisionError)
        assert called == []


def test_then_on_an_already_finished_future(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        future = p.square(3)
        assert future.value == 9
        assert future.then(str) is future  # runs right away, in this thread
        assert future.value == "9"
        future.then(lambda text: int(text) / 0)
        assert isinstance(future.exception(), ZeroDivisionError)
        assert future.then(str).exception() is future.exception()  # a failed one stays so


def test_wait_as_completed_and_done_callbacks(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        # later calls finish first: as_completed yields each as its reply arrives
        futures = {p.nap(0.05 * (4 - n), n): n for n in range(4)}
        order = [f.result() for f in concurrent.futures.as_completed(futures, timeout=scaled(5))]
        assert order == [3, 2, 1, 0]

        seen: list[Any] = []
        called = threading.Event()

        def on_done(f: concurrent.futures.Future) -> None:  # type: ignore[type-arg]
            seen.append(f.result())
            called.set()

        p.square(12).add_done_callback(on_done)
        assert called.wait(scaled(5))
        assert seen == [144]

        fast, slow = p.square(2), p.sleepy(0.5, "slow")
        done, not_done = concurrent.futures.wait(
            [fast, slow], timeout=scaled(5), return_when=concurrent.futures.FIRST_COMPLETED
        )
        assert fast in done and slow in not_done
        done, not_done = concurrent.futures.wait([fast, slow], timeout=scaled(5))
        assert not not_done and slow.result() == "slow"


def test_hundreds_outstanding_on_one_proxy(worker: Any) -> None:
    """300 calls in flight at once: none is answered until the server lets them all go."""
    _, obj, uri = worker
    count = 300
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p, zpyro.Proxy(uri) as control:
        futures = [p.park(n) for n in range(count)]
        # all 300 are being served at the same time
        assert control.wait_parked(count, scaled(10)) == count
        assert not any(f.done() for f in futures)
        control.release()
        done, not_done = concurrent.futures.wait(futures, timeout=scaled(10))
        assert not not_done
        assert [f.result() for f in futures] == list(range(count))


def test_each_future_resolves_when_its_reply_arrives(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        slow = p.nap(1.0, "slow")
        start = time.monotonic()
        quick = [p.square(n) for n in range(50)]
        assert [f.result(timeout=scaled(5)) for f in quick] == [n * n for n in range(50)]
        assert time.monotonic() - start < 0.9  # did not wait behind the slow call
        assert not slow.done()
        assert slow.result(timeout=scaled(5)) == "slow"


def test_futures_from_many_threads_on_one_proxy(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        results: dict[int, list[int]] = {}

        def run(t: int) -> None:
            futures = [p.square(t * 100 + n) for n in range(50)]
            results[t] = [f.result(timeout=scaled(10)) for f in futures]

        threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(15))
        assert all(results[t] == [(t * 100 + n) ** 2 for n in range(50)] for t in range(4))


def test_a_timeout_fails_only_its_own_future(worker: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        p._pyroTimeout = 0.4
        slow = p.sleepy(1.0, "too late")
        fast = [p.square(n) for n in range(20)]
        later = p.nap(0.1, "in time")
        with pytest.raises(errors.TimeoutError):
            slow.result(timeout=scaled(5))
        assert isinstance(slow.exception(), errors.TimeoutError)
        assert [f.result(timeout=scaled(5)) for f in fast] == [n * n for n in range(20)]
        assert later.result(timeout=scaled(5)) == "in time"
        # the proxy goes on working (the late reply is dropped when it comes)
        assert p.square(9).result(timeout=scaled(5)) == 81


def test_lost_connection_fails_every_pending_future(spawn: Any) -> None:
    proc = spawn(ANNOUNCING_ECHO)
    line = proc.wait_for("echo uri:")
    proc.wait_for("echoserver running.")
    uri = zpyro.URI(line.split("echo uri:", 1)[1].strip())
    p = zpyro.asyncproxy(zpyro.Proxy(uri))
    assert p.pid().result(timeout=scaled(5)) == proc.proc.pid
    futures = [p.slow(30) for _ in range(200)]
    proc.wait_for("SLOW STARTED")
    assert not any(f.done() for f in futures)
    proc.kill()
    done, not_done = concurrent.futures.wait(futures, timeout=scaled(10))
    assert not not_done, f"{len(not_done)} futures still pending after the daemon died"
    for f in futures:
        assert isinstance(f.exception(), errors.ConnectionClosedError), repr(f.exception())
    p._pyroRelease()


def test_call_on_a_released_daemon_fails_its_future() -> None:
    with serving() as served:
        uri = served.register(Worker(), "futures.gone")
        p = zpyro.asyncproxy(zpyro.Proxy(uri))
        assert p.square(2).value == 4
    # the daemon is gone; a new proxy cannot connect: the future carries the error
    zpyro.config.CONNECT_TIMEOUT = 0.5
    q = zpyro.asyncproxy(zpyro.Proxy(uri))
    with pytest.raises(errors.CommunicationError):
        q.square(3).result(timeout=scaled(5))
    p._pyroRelease()
    q._pyroRelease()


def test_a_cancelled_future_is_left_alone_when_its_reply_comes(worker: Any, caplog: Any) -> None:
    _, _, uri = worker
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        future = p.nap(0.3, "unwanted")
        chained = p.nap(0.3, "unwanted too").then(str).iferror(print)
        assert future.cancel() and chained.cancel()
        assert future.cancelled() and chained.cancelled()
        assert future.wait(0) is True  # a cancelled future counts as done
        # the replies still arrive; they are dropped without a fuss and the proxy goes on
        after = p.nap(0.4, "after")
        assert after.result(timeout=scaled(5)) == "after"
    errors_logged = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors_logged == [], [r.getMessage() for r in errors_logged]
