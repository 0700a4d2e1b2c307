"""A bounded pool of worker threads with a bounded task queue.

Threads are started on demand up to ``max_threads`` and idle ones beyond ``min_threads`` retire,
so an idle daemon holds few threads and no thread is ever tied to a connection.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("zpyro.workers")

IDLE_RETIRE_SECONDS = 30.0


class WorkerPool:
    def __init__(self, min_threads: int, max_threads: int, max_queued: int, name: str) -> None:
        self.min_threads = max(0, min_threads)
        self.max_threads = max(1, max_threads)
        self.max_queued = max_queued
        self.name = name
        self._tasks: deque[tuple[Callable[..., Any], tuple[Any, ...], bool]] = deque()
        self._bounded = 0  # queued tasks that count against max_queued
        self._cond = threading.Condition()
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._busy = 0
        self._closed = False

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], *args: Any, bounded: bool = True) -> bool:
        """Queue a task; False when the queue is full (the caller answers 'busy').

        `bounded` False: a task whose caller was promised room (a oneway call with credit, see
        zpyro.credit): always queued, bounded by the credit instead of by `max_queued`.
        """
        with self._cond:
            if self._closed:
                return False
            if bounded:
                if self._bounded >= self.max_queued:
                    return False
                self._bounded += 1
            self._tasks.append((fn, args, bounded))
            if self._idle > len(self._tasks) - 1:
                self._cond.notify()
            elif len(self._threads) < self.max_threads:
                self._start_thread()
        return True

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._work, name=f"{self.name}-worker", daemon=True)
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                while not self._tasks and not self._closed:
                    self._idle += 1
                    woken = self._cond.wait(IDLE_RETIRE_SECONDS)
                    self._idle -= 1
                    if not woken and not self._tasks and len(self._threads) > self.min_threads:
                        self._threads.discard(me)
                        return
                if not self._tasks:  # closed and nothing left to do
                    self._threads.discard(me)
                    return
                fn, args, bounded = self._tasks.popleft()
                self._bounded -= bounded
                self._busy += 1
            try:
                fn(*args)
            except BaseException:  # a worker outlives whatever its task raised
                log.exception("task in %s failed", self.name)
            finally:
                with self._cond:
                    self._busy -= 1

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop taking tasks, let queued ones finish, wait (bounded) for the threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
