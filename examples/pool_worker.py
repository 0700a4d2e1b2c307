"""One worker of a render farm: a brokered daemon serving ``jobs.render`` (started by demo.py and
pool_dispatch.py, not meant to be run alone).

usage: pool_worker.py BROKER_ENDPOINT WORKER_NAME [CAPACITY]

It opens no listening socket: it connects out to the broker, which puts it in the pool of
``jobs.render`` and gives it at most CAPACITY (default 2) jobs at a time. Prints
``READY WORKER_NAME PID`` once the broker has taken it; stops on SIGTERM or when its stdin closes
(so it never outlives the program that started it).
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time

import zpyro


@zpyro.expose
@zpyro.behavior(instance_mode="single")
class Renderer:
    def __init__(self, name: str) -> None:
        self.name = name

    def render(self, frame: int) -> dict[str, object]:
        """A quick job: 10-30 ms of "rendering"."""
        seconds = random.uniform(0.010, 0.030)
        time.sleep(seconds)
        return {"frame": frame, "worker": self.name, "pid": os.getpid(), "seconds": seconds}

    @zpyro.idempotent  # safe to run twice: the broker may hand it to another worker
    def render_carefully(self, frame: int, seconds: float) -> dict[str, object]:
        """A long job that says when it starts (so pool_dispatch.py can kill us in the middle)."""
        print(f"STARTED {self.name} frame {frame}", flush=True)
        time.sleep(seconds)
        return {"frame": frame, "worker": self.name, "pid": os.getpid(), "seconds": seconds}


def main() -> None:
    endpoint, name = sys.argv[1], sys.argv[2]
    capacity = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    daemon = zpyro.Daemon(broker=endpoint, capacity=capacity)
    daemon.register(Renderer(name), "jobs.render")  # same name in every worker: one pool
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: daemon.shutdown())
    threading.Thread(target=lambda: (sys.stdin.read(), daemon.shutdown()), daemon=True).start()
    loop = threading.Thread(target=daemon.request_loop)
    loop.start()
    if daemon.wait_attached(15):
        print(f"READY {name} {os.getpid()}", flush=True)
    else:
        print(f"NOT ATTACHED {name}: no broker at {endpoint}", flush=True)
        daemon.shutdown()
    loop.join()
    daemon.close()


if __name__ == "__main__":
    main()
