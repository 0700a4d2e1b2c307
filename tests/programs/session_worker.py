"""A brokered daemon serving a session-mode class, for the session-affinity tests.

usage: session_worker.py BROKER_ENDPOINT NAME [CAPACITY]

Serves ``Tally`` (instance mode ``session``: one instance per connected proxy) under NAME.
Prints ``READY <pid>`` once attached; exits on SIGTERM or stdin EOF.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import zpyro


@zpyro.expose
@zpyro.behavior(instance_mode="session")
class Tally:
    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object, seconds: float = 0.0) -> int:
        """Keep `value` in this session's instance; answers the pid serving it."""
        if seconds:
            time.sleep(seconds)
        self.values.append(value)
        return os.getpid()

    def values_and_pid(self) -> list[object]:
        return [list(self.values), os.getpid()]


def main() -> None:
    endpoint, name = sys.argv[1], sys.argv[2]
    capacity = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    daemon = zpyro.Daemon(broker=endpoint, capacity=capacity)
    daemon.register(Tally, name)
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
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


if __name__ == "__main__":
    main()
