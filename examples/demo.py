"""`make demo`: a small render farm. A broker, three workers, 300 jobs spread over them.

It starts a broker (the name server and call router) on free ports and three worker processes
(examples/pool_worker.py), each a brokered daemon serving ``jobs.render`` with room for 2 jobs at a
time. Then a ``zpyro.Executor`` sends 300 jobs (10-30 ms each) to ``PYRONAME:jobs.render``: one
connection to the broker, which hands every job to the worker with the most free slots. At the
end it stops everything it started, by pid, also on an error or Ctrl-C.

The greeting example that `make demo` used to run is examples/greeting/run.py.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from launch import Launcher

import zpyro

HERE = Path(__file__).resolve().parent
JOBS = 300
WORKERS = 3
CAPACITY = 2  # jobs each worker runs at once


def main() -> int:
    with Launcher() as launch:
        broker, location = launch.broker()
        print(f"broker (pid {broker.pid}): name server at {location}")
        names = [f"worker-{n}" for n in range(1, WORKERS + 1)]
        endpoint = f"tcp://{location}"
        workers = [
            launch.python(name, HERE / "pool_worker.py", endpoint, name, str(CAPACITY))
            for name in names
        ]
        for worker in workers:  # they start side by side; wait for each in turn
            worker.wait_for("READY ")
            print(f"{worker.label} (pid {worker.pid}) joined the pool jobs.render")

        uri = f"PYRONAME:jobs.render@{location}"
        print(f"dispatching {JOBS} jobs to {uri} ...", flush=True)
        start = time.perf_counter()
        with zpyro.Executor(uri, progress=True) as executor:
            results = list(executor.map("render", range(JOBS)))
        elapsed = time.perf_counter() - start

        assert [r["frame"] for r in results] == list(range(JOBS))  # map keeps the order
        counts = Counter(r["worker"] for r in results)
        for name in names:
            print(f"  {name}: {counts[name]} jobs")
        slots = WORKERS * CAPACITY
        ideal = sum(r["seconds"] for r in results) / slots
        print(
            f"{JOBS} jobs in {elapsed:.2f} s; ideal {ideal:.2f} s "
            f"(their run time spread evenly over {slots} slots): {ideal / elapsed:.0%} of ideal"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        sys.exit(130)
    except (RuntimeError, zpyro.errors.ZPyroError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        sys.exit(1)
