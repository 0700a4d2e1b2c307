"""zpyro.Executor: cluster jobs through a broker subprocess and brokered worker processes."""

from __future__ import annotations

import concurrent.futures as cf
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import FAST_HEARTBEAT_ENV, PYTHON, ROOT, BrokerProcess, Spawned, scaled

import zpyro

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

WORKER = str(ROOT / "tests" / "programs" / "brokered_worker.py")
SUMMARY = re.compile(r"^(\d+)/(\d+) done, (\d+) failed, [\d,.]+ jobs/s, \d+\.\d\d s total$")


@dataclass
class Pool:
    broker: BrokerProcess
    pids: set[int]

    def uri(self, name: str = "jobs") -> str:
        return f"PYRONAME:{name}@{self.broker.location}"


def start_pool(spawn: Any, name: str, workers: int, capacity: int) -> Pool:
    """A broker subprocess and `workers` brokered_worker.py processes serving `name`."""
    args = [PYTHON, "-m", "zpyro.broker", "--host", "127.0.0.1", "--port", "0"]
    broker = BrokerProcess(
        spawn([*args, "--pub-port", "0", "--storage", "memory"], FAST_HEARTBEAT_ENV)
    )
    procs = [
        spawn([PYTHON, WORKER, broker.endpoint, name, str(capacity)], FAST_HEARTBEAT_ENV)
        for _ in range(workers)
    ]
    pids = {int(proc.wait_for("READY").split()[1]) for proc in procs}
    return Pool(broker, pids)


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    """Shared by the tests that only need jobs to run: a broker and 3 workers of capacity 2."""
    started: list[Spawned] = []

    def spawn(args: list[str], env: dict[str, str]) -> Spawned:
        started.append(Spawned(args, env))
        return started[-1]

    try:
        yield start_pool(spawn, "jobs", workers=3, capacity=2)
    finally:
        for proc in reversed(started):
            proc.stop()


def test_map_yields_results_in_order(pool: Pool) -> None:
    with zpyro.Executor(pool.uri()) as executor:
        results = list(executor.map("square", range(40)))
    assert [square for _pid, square in results] == [x * x for x in range(40)]


def test_map_with_several_iterables_stops_at_the_shortest(pool: Pool) -> None:
    with zpyro.Executor(pool.uri(), max_pending=2) as executor:
        results = list(executor.map("work", ["a", "b", "c", "d"], [0.01, 0.0, 0.02]))
    assert [x for _pid, x in results] == ["a", "b", "c"]


def test_as_completed_over_submits(pool: Pool) -> None:
    with zpyro.Executor(pool.uri()) as executor:
        futures = {executor.submit("work", n, seconds=0.02): n for n in range(30)}
        assert all(isinstance(f, zpyro.Future) for f in futures)
        seen = {}
        for future in cf.as_completed(futures, timeout=scaled(20)):
            pid, n = future.result()
            assert n == futures[future]
            seen[n] = pid
    assert sorted(seen) == list(range(30))
    assert set(seen.values()) <= pool.pids


def test_wait_on_the_futures(pool: Pool) -> None:
    with zpyro.Executor(pool.uri()) as executor:
        slow = executor.submit("work", "slow", 0.5)
        fast = executor.submit("work", "fast", 0.0)
        done, not_done = cf.wait([slow, fast], timeout=scaled(10), return_when=cf.FIRST_COMPLETED)
        assert fast in done and slow in not_done
        assert fast.value[1] == "fast"
        assert slow.result(scaled(10))[1] == "slow"


def test_remote_exceptions_arrive_as_their_type(pool: Pool) -> None:
    with zpyro.Executor(pool.uri()) as executor:
        failed = executor.submit("fail")
        with pytest.raises(ValueError, match="failed on purpose"):
            failed.result(scaled(10))
        assert zpyro.get_remote_traceback(failed.exception())  # the remote traceback came along
        # map raises the first failure at its position: time.sleep("bad") fails remotely
        results = executor.map("work", [0, 1, 2, 3], [0, 0, "bad", 0])
        assert next(results)[1] == 0
        assert next(results)[1] == 1
        with pytest.raises(TypeError):
            next(results)
        with pytest.raises(StopIteration):
            next(results)


def test_jobs_spread_over_all_workers(pool: Pool) -> None:
    with zpyro.Executor(pool.uri()) as executor:
        pids = [pid for pid, _ in executor.map("work", range(60), [0.02] * 60)]
    assert set(pids) == pool.pids
    # 6 slots, each call 20 ms: every worker takes a fair share, none starves
    assert min(pids.count(pid) for pid in pool.pids) >= 10


def test_shutdown_waits_for_the_calls_in_flight(pool: Pool) -> None:
    executor = zpyro.Executor(pool.uri())
    futures = [executor.submit("work", n, 0.3) for n in range(6)]
    started = time.monotonic()
    executor.shutdown(wait=True)
    assert time.monotonic() - started >= 0.2  # it really waited for 0.3 s calls
    assert all(f.done() for f in futures)
    assert [f.result()[1] for f in futures] == list(range(6))
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit("work", 1)
    executor.shutdown()  # a second shutdown is harmless


def test_a_done_callback_may_submit_the_next_job(pool: Pool) -> None:
    """With every slot taken, a callback (run on the thread that reads replies) still gets one."""
    chained: list[cf.Future[Any]] = []
    submitted = threading.Event()
    with zpyro.Executor(pool.uri(), max_pending=1) as executor:

        def next_job(_done: cf.Future[Any]) -> None:
            chained.append(executor.submit("work", "second"))
            submitted.set()

        executor.submit("work", "first", 0.05).add_done_callback(next_job)
        assert submitted.wait(scaled(10))
        assert chained[0].result(scaled(10))[1] == "second"


def test_progress_writes_a_final_summary_to_a_stream(pool: Pool) -> None:
    out = io.StringIO()
    with zpyro.Executor(pool.uri(), progress=out) as executor:
        futures = [executor.submit("work", n) for n in range(19)] + [executor.submit("fail")]
        cf.wait(futures, timeout=scaled(10))
        assert out.getvalue() == ""  # not a terminal: nothing while the jobs run
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n") and text.count("\n") == 1
    match = SUMMARY.match(text.strip())
    assert match, text
    assert match.groups() == ("20", "20", "1")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal(pool: Pool) -> None:
    out = FakeTerminal()
    with zpyro.Executor(pool.uri(), progress=out) as executor:
        list(executor.map("work", range(12), [0.15] * 12))  # two rounds of 6 slots: >= 0.3 s
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    frames = text.rstrip("\n").split("\r")[1:]
    assert len(frames) >= 2, text  # at least one live redraw before the final line
    assert re.match(r"^\d+/\d+ done, 0 failed, [\d,.]+ jobs/s, \d+\.\d\d s elapsed *$", frames[0])
    assert SUMMARY.match(frames[-1].rstrip()), frames[-1]
    assert SUMMARY.match(frames[-1].rstrip()).groups() == ("12", "12", "0")  # type: ignore[union-attr]


def test_max_pending_bounds_the_calls_in_flight(spawn: Any) -> None:
    """One worker that could run 8 calls at once runs no more than the executor lets out."""
    pool = start_pool(spawn, "wide", workers=1, capacity=8)
    with zpyro.Executor(pool.uri("wide"), max_pending=3) as executor:
        assert len(list(executor.map("work", range(24), [0.05] * 24))) == 24
        assert executor.submit("concurrency").result(scaled(10)) == 3
    # the control: without the bound the same worker does run more at once
    with zpyro.Executor(pool.uri("wide")) as executor:
        list(executor.map("work", range(16), [0.1] * 16))
        assert executor.submit("concurrency").result(scaled(10)) > 3


def test_submit_blocks_while_max_pending_calls_are_out(spawn: Any) -> None:
    pool = start_pool(spawn, "narrow", workers=1, capacity=4)
    with zpyro.Executor(pool.uri("narrow"), max_pending=1) as executor:
        first = executor.submit("work", 1, 0.4)
        started = time.monotonic()
        second = executor.submit("work", 2)  # waits for the first reply
        assert time.monotonic() - started >= 0.2
        assert first.result(scaled(10))[1] == 1
        assert second.result(scaled(10))[1] == 2


def test_shutdown_cancel_futures_does_not_wait(spawn: Any) -> None:
    pool = start_pool(spawn, "slow", workers=1, capacity=2)
    executor = zpyro.Executor(pool.uri("slow"))
    futures = [executor.submit("work", n, 0.5) for n in range(10)]  # 2.5 s of work for 2 slots
    started = time.monotonic()
    executor.shutdown(wait=True, cancel_futures=True)
    assert time.monotonic() - started < 1.5
    assert all(f.done() for f in futures)
    assert all(f.cancelled() for f in futures)


def test_submit_takes_a_method_name() -> None:
    executor = zpyro.Executor("PYRONAME:nobody.home@127.0.0.1:9")  # connects only when used
    with pytest.raises(TypeError, match="method's name"):
        executor.submit(print)  # type: ignore[arg-type]
    executor.shutdown()
    with pytest.raises(ValueError):
        zpyro.Executor("PYRONAME:x@127.0.0.1:9", max_pending=0)


def test_a_cancelled_future_is_done_at_once_for_waiters(pool: Pool) -> None:
    """Cancelling drops the result; wait/as_completed must not sit until the reply comes."""
    with zpyro.Executor(pool.uri()) as executor:
        future = executor.submit("work", "dropped", 1.0)
        kept = executor.submit("work", "kept", 0.05)
        assert future.cancel() and future.cancel()  # a second cancel is fine too
        started = time.monotonic()
        assert list(cf.as_completed([future], timeout=scaled(5))) == [future]
        done, _ = cf.wait([future], timeout=scaled(5))
        assert done == {future} and time.monotonic() - started < 0.5
        assert kept.result(scaled(10))[1] == "kept"
    # the same holds for a future of a plain async proxy
    with zpyro.asyncproxy(zpyro.Proxy(pool.uri())) as proxy:
        plain = proxy.work("dropped", 1.0)
        assert plain.cancel()
        done, _ = cf.wait([plain], timeout=scaled(5))
        assert done == {plain}


def test_a_timeout_set_on_the_proxy_applies_to_each_call(pool: Pool) -> None:
    with zpyro.Executor(pool.uri()) as executor:
        executor.proxy._pyroTimeout = 0.2
        late = executor.submit("work", "late", 1.0)
        with pytest.raises(zpyro.errors.TimeoutError):
            late.result(scaled(10))
        assert executor.submit("work", "quick").result(scaled(10))[1] == "quick"
