"""WorkerPool: on-demand threads up to a bound, a bounded queue, failing tasks logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import scaled
from zpyro import workers
from zpyro.workers import WorkerPool

pytestmark = pytest.mark.timeout(30)

WAIT = scaled(5)


class Blocker:
    """Tasks that report when they start and wait for a release."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.started: list[threading.Event] = []
        self.threads: list[threading.Thread] = []

    def task(self) -> tuple[Any, threading.Event]:
        started = threading.Event()
        self.started.append(started)

        def run() -> None:
            with self.lock:
                self.threads.append(threading.current_thread())
            started.set()
            assert self.release.wait(WAIT), "blocked task was never released"

        return run, started


@pytest.fixture
def pools() -> Iterator[list[WorkerPool]]:
    made: list[WorkerPool] = []
    yield made
    for pool in made:
        pool.shutdown(WAIT)


def new_pool(
    pools: list[WorkerPool], min_threads: int, max_threads: int, max_queued: int
) -> WorkerPool:
    pool = WorkerPool(min_threads, max_threads, max_queued, "test-pool")
    pools.append(pool)
    return pool


def test_runs_tasks_with_arguments(pools: list[WorkerPool]) -> None:
    pool = new_pool(pools, 0, 4, 100)
    results: list[int] = []
    lock = threading.Lock()
    done = threading.Semaphore(0)

    def work(a: int, b: int) -> None:
        with lock:
            results.append(a * b)
        done.release()

    for i in range(20):
        assert pool.submit(work, i, 3)
    for _ in range(20):
        assert done.acquire(timeout=WAIT)
    assert sorted(results) == [i * 3 for i in range(20)]
    assert 1 <= pool.size <= 4


def test_no_threads_until_needed(pools: list[WorkerPool]) -> None:
    pool = new_pool(pools, 0, 4, 10)
    assert pool.size == 0
    assert pool.busy == 0


def test_grows_up_to_max_threads_under_load(pools: list[WorkerPool]) -> None:
    pool = new_pool(pools, 0, 3, 100)
    blocker = Blocker()
    try:
        tasks = [blocker.task() for _ in range(6)]
        for fn, _ in tasks:
            assert pool.submit(fn)
            assert pool.size <= 3
        # the first three run at once, each in its own thread
        for _, started in tasks[:3]:
            assert started.wait(WAIT)
        assert pool.size == 3
        assert pool.busy == 3
        assert len(set(blocker.threads)) == 3
        assert not any(started.is_set() for _, started in tasks[3:])
    finally:
        blocker.release.set()
    for _, started in tasks:
        assert started.wait(WAIT)  # the queued ones ran once threads were free
    assert pool.size == 3
    assert len(set(blocker.threads)) == 3


def test_queue_bound(pools: list[WorkerPool]) -> None:
    pool = new_pool(pools, 0, 2, 2)
    blocker = Blocker()
    try:
        running = [blocker.task() for _ in range(2)]
        for fn, _ in running:
            assert pool.submit(fn)
        for _, started in running:
            assert started.wait(WAIT)  # both workers busy: the queue is empty now
        queued = [blocker.task() for _ in range(2)]
        for fn, _ in queued:
            assert pool.submit(fn)
        refused, _ = blocker.task()
        assert pool.submit(refused) is False
        assert pool.submit(refused) is False
        assert pool.size == 2
    finally:
        blocker.release.set()
    for _, started in queued:
        assert started.wait(WAIT)
    assert not blocker.started[-1].is_set()  # the refused task never ran


def test_queue_frees_up_after_work(pools: list[WorkerPool]) -> None:
    pool = new_pool(pools, 0, 1, 1)
    blocker = Blocker()
    fn, started = blocker.task()
    assert pool.submit(fn)
    assert started.wait(WAIT)
    fn2, started2 = blocker.task()
    assert pool.submit(fn2)
    fn3, started3 = blocker.task()
    assert not pool.submit(fn3)
    blocker.release.set()
    assert started2.wait(WAIT)
    ran = threading.Event()
    # the queue is empty again once task 2 was taken: a submit is accepted
    assert pool.submit(ran.set)
    assert ran.wait(WAIT)
    assert not started3.is_set()


def test_shutdown_runs_queued_tasks_and_joins(pools: list[WorkerPool]) -> None:
    pool = WorkerPool(0, 2, 100, "test-pool")
    blocker = Blocker()
    tasks = [blocker.task() for _ in range(5)]
    for fn, _ in tasks:
        assert pool.submit(fn)
    assert tasks[0][1].wait(WAIT) and tasks[1][1].wait(WAIT)
    blocker.release.set()
    pool.shutdown(WAIT)
    assert all(
        started.is_set() for _, started in tasks
    )  # queued work finished before the join returned
    assert all(not t.is_alive() for t in blocker.threads)
    assert pool.size == 0
    ran = threading.Event()
    assert pool.submit(ran.set) is False  # closed
    assert not ran.is_set()


def test_shutdown_of_unused_pool(pools: list[WorkerPool]) -> None:
    pool = WorkerPool(2, 4, 10, "test-pool")
    pool.shutdown(WAIT)
    assert pool.size == 0
    assert not pool.submit(print)


def test_failing_task_logged_and_worker_survives(
    pools: list[WorkerPool], caplog: pytest.LogCaptureFixture
) -> None:
    pool = new_pool(pools, 0, 1, 10)
    threads: list[threading.Thread] = []
    done = threading.Event()

    def fail() -> None:
        threads.append(threading.current_thread())
        raise RuntimeError("task exploded")

    def after() -> None:
        threads.append(threading.current_thread())
        done.set()

    with caplog.at_level(logging.ERROR, logger="zpyro.workers"):
        assert pool.submit(fail)
        assert pool.submit(after)
        assert done.wait(WAIT)
    assert len(threads) == 2 and threads[0] is threads[1]  # the same worker went on
    assert threads[0].is_alive()
    assert pool.size == 1
    failed = [r for r in caplog.records if r.name == "zpyro.workers" and r.levelno >= logging.ERROR]
    assert len(failed) == 1
    assert "test-pool" in failed[0].getMessage()
    assert failed[0].exc_info is not None
    assert isinstance(failed[0].exc_info[1], RuntimeError)
    assert "task exploded" in caplog.text


def test_task_raising_system_exit_does_not_wedge_the_pool(pools: list[WorkerPool]) -> None:
    # A served method calling sys.exit() reaches the pool as SystemExit (dispatch catches only
    # Exception). The worker must not die while still counted in `size`: with max_threads=1 that
    # would leave the pool with no live thread and every later task queued forever.
    pool = new_pool(pools, 0, 1, 10)
    first = threading.Event()

    def leave() -> None:
        first.set()
        raise SystemExit(3)

    assert pool.submit(leave)
    assert first.wait(WAIT)
    done = threading.Event()
    assert pool.submit(done.set)
    assert done.wait(WAIT), "the pool stopped running tasks after a task raised SystemExit"
    assert pool.busy == 0


def test_busy_counts_running_tasks(pools: list[WorkerPool]) -> None:
    pool = new_pool(pools, 0, 2, 10)
    blocker = Blocker()
    fn, started = blocker.task()
    assert pool.submit(fn)
    assert started.wait(WAIT)
    assert pool.busy == 1
    blocker.release.set()
    done = threading.Event()
    assert pool.submit(done.set)
    assert done.wait(WAIT)


def test_idle_threads_retire(pools: list[WorkerPool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "IDLE_RETIRE_SECONDS", 0.05)
    pool = new_pool(pools, 0, 2, 10)
    seen: list[threading.Thread] = []
    done = threading.Event()

    def task() -> None:
        seen.append(threading.current_thread())
        done.set()

    assert pool.submit(task)
    assert done.wait(WAIT)
    seen[0].join(WAIT)
    assert not seen[0].is_alive()
    assert pool.size == 0
    # and a new task starts a new thread
    again = threading.Event()
    assert pool.submit(again.set)
    assert again.wait(WAIT)


def test_bounds_are_sane() -> None:
    pool = WorkerPool(-3, 0, 5, "x")
    assert pool.min_threads == 0
    assert pool.max_threads == 1
    pool.shutdown(WAIT)
