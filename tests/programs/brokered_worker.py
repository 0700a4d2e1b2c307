"""A brokered daemon in its own process, for tests: serves a Worker under NAME via the broker.

usage: brokered_worker.py BROKER_ENDPOINT NAME [CAPACITY]
Prints ``READY <pid>`` once the broker has taken its objects; exits on SIGTERM or stdin EOF.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import zpyro


@zpyro.expose
@zpyro.behavior(instance_mode="single")
class Worker:
    def __init__(self) -> None:
        self.notes: list[object] = []
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0  # the most calls this process ever ran at once

    def whoami(self) -> int:
        return os.getpid()

    def work(self, x: object, seconds: float = 0.0) -> list[object]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if seconds:
                time.sleep(seconds)
            return [os.getpid(), x]
        finally:
            with self.lock:
                self.running -= 1

    def caller_key(self) -> str | None:
        key = zpyro.current_context.client_key
        return key.decode() if key else None

    def concurrency(self) -> int:
        return self.most

    @zpyro.idempotent
    def square(self, x: int, seconds: float = 0.0) -> list[int]:
        if seconds:
            time.sleep(seconds)
        return [os.getpid(), x * x]

    def crunch(self, seconds: float) -> int:
        """CPU-bound for `seconds` (pure Python: no sleep, no I/O)."""
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            n += 1
        return os.getpid()

    @zpyro.oneway
    def note(self, x: object) -> None:
        with self.lock:
            self.notes.append(x)

    def noted(self) -> list[object]:
        with self.lock:
            return list(self.notes)

    def fail(self) -> None:
        raise ValueError("failed on purpose")

    def count(self, n: int):  # type: ignore[no-untyped-def]
        return (i for i in range(n))


def main() -> None:
    endpoint, name = sys.argv[1], sys.argv[2]
    capacity = int(sys.argv[3]) if len(sys.argv) > 3 else None
    daemon = zpyro.Daemon(broker=endpoint, capacity=capacity)
    daemon.register(Worker, name)
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
    # the parent closing our stdin also ends us, so no worker outlives a test run
    threading.Thread(target=lambda: (sys.stdin.read(), daemon.shutdown()), daemon=True).start()
    loop = threading.Thread(target=daemon.request_loop)
    loop.start()
    if not daemon.wait_attached(30):
        print("NOT ATTACHED", flush=True)
        daemon.shutdown()
    else:
        print(f"READY {os.getpid()}", flush=True)
    loop.join()
    daemon.close()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    main()
