"""A pool of workers behind one name: jobs through ``zpyro.Executor``, and a worker that dies.

Three worker processes (pool_worker.py) each register ``jobs.render`` with the broker, which
makes them one pool. ``zpyro.Executor("PYRONAME:jobs.render")`` sends jobs to the pool over one
connection; the broker gives each job to the worker with the most free slots. ``max_pending``
keeps this client from having more than that many jobs out at once.

Then a long job of an ``@zpyro.idempotent`` method is started and its worker is killed in the
middle of it. The broker notices the dead worker by its missing heartbeats and, because the
method is idempotent (safe to run twice), runs the job again on another worker: the caller just
gets its result. (A job of a method that is not idempotent fails with ConnectionClosedError
instead, because running it twice might do harm.)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from launch import Launcher, wait_for_any

import zpyro

HERE = Path(__file__).resolve().parent
# fast heartbeats, so the broker notices the killed worker within a second
FAST_HEARTBEATS = {"ZPYRO_HEARTBEAT_INTERVAL": "0.2", "ZPYRO_HEARTBEAT_TIMEOUT": "1.0"}


def main() -> None:
    with Launcher(env=FAST_HEARTBEATS) as launch:
        _broker, location = launch.broker()
        names = ["worker-1", "worker-2", "worker-3"]
        workers = [
            launch.python(name, HERE / "pool_worker.py", f"tcp://{location}", name, "2")
            for name in names
        ]
        for worker in workers:
            worker.wait_for("READY ")
        print(f"{len(workers)} workers serve jobs.render through the broker at {location}")

        with zpyro.Executor(f"PYRONAME:jobs.render@{location}", max_pending=4) as executor:
            frames = list(executor.map("render", range(24)))
            print("frames in order:", [r["frame"] for r in frames] == list(range(24)))
            counts = Counter(r["worker"] for r in frames)
            print("frames per worker:", ", ".join(f"{n} {counts[n]}" for n in names))

            job = executor.submit("render_carefully", 99, seconds=1.0)
            victim, _line = wait_for_any(workers, "STARTED ")
            victim.proc.kill()  # SIGKILL to that pid: a crash, no goodbye to the broker
            victim.proc.wait(5)
            print(f"killed {victim.label} while it was busy with frame 99")
            result = job.result(timeout=15)
            print(
                f"frame {result['frame']} was finished by {result['worker']} "
                f"(another worker: {result['worker'] != victim.label})"
            )


if __name__ == "__main__":
    main()
