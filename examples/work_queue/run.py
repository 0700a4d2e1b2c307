"""Distributed computing with a work queue (Pyro4's distributed-computing example, zpyro's
way): a queue object served by a daemon, three worker processes pulling work from it, and this
client putting 40 numbers in and collecting their factors, whoever computed them.

(zpyro can also spread calls over a pool of brokered daemons with no queue object at all:
see pool_dispatch.py. A queue is the right shape when workers come and go at their own pace.)"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # for examples/launch.py

from launch import HOST, Launcher  # noqa: E402

import zpyro  # noqa: E402

WORKERS = ("worker-1", "worker-2", "worker-3")
PRIMES = [100_003, 100_019, 100_043, 100_049, 100_057, 100_069, 100_103, 100_109]


def main() -> int:
    numbers = [PRIMES[i % 8] * PRIMES[(i * 3 + 1) % 8] * (i + 2) for i in range(40)]
    with Launcher(env={"ZPYRO_HOST": HOST}) as launch:
        dispatcher = launch.python("work queue", HERE / "dispatcher.py")
        uri = dispatcher.wait_for("work queue uri:").split(":", 1)[1].strip()
        print(f"work queue at {uri}")
        workers = [launch.python(name, HERE / "worker.py", uri, name) for name in WORKERS]
        with zpyro.Proxy(uri) as work_queue:
            for item_id, number in enumerate(numbers):
                work_queue.put_work(item_id, number)
            print(f"put {len(numbers)} numbers in the queue")
            results, by_worker = {}, Counter()
            while len(results) < len(numbers):
                got = work_queue.get_result(10.0)
                if got is None:
                    raise RuntimeError("no result within 10 s")
                item_id, worker, factors = got
                results[item_id] = factors
                by_worker[worker] += 1
            work_queue.close()
        print(f"{len(results)} numbers factorised by {len(by_worker)} workers")
        for name in WORKERS:
            print(f"  {name}: {by_worker[name]} items")
        correct = all(math.prod(results[i]) == n for i, n in enumerate(numbers))
        print(f"every product of factors is its number: {correct}")
        print(f"factors of {numbers[7]}: {results[7]}")
        for worker in workers:
            print(worker.wait_for(f"{worker.label} stopped after"))
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
