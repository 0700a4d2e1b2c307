"""The broker's benchmark: calls through the broker against direct calls, in one run.

A broker, a direct daemon and brokered daemons each run in their own subprocess on 127.0.0.1;
the client side is measured in this process. Rows (see bench/README.md):

* sync echo through the broker vs direct                 target >= 0.5x direct
* 2000 pipelined futures through the broker              target >= 20,000 calls/s
* 400 jobs of 20 ms over 4 daemons x 2 slots             target <= 1.15x the ideal 1.0 s
* fresh PYRONAME: proxy + call vs fresh direct proxy      target >= 0.5x direct
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import zpyro  # noqa: E402
from bench import Child, children, timed_rate  # noqa: E402

HOST = "127.0.0.1"
PIPELINE = 2000
JOBS, JOB_SECONDS, POOL_DAEMONS, SLOTS = 400, 0.02, 4, 2


@zpyro.expose
class Service:
    def echo(self, value: Any) -> Any:
        return value

    def job(self, n: int) -> int:
        time.sleep(JOB_SECONDS)
        return n


def _exit_with_parent() -> None:
    def watch() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def serve_direct() -> None:
    daemon = zpyro.Daemon(host=HOST)
    uri = daemon.register(Service(), "bench.direct")
    print(f"READY {uri}", flush=True)
    daemon.request_loop()


def serve_brokered(endpoint: str, name: str, capacity: int) -> None:
    daemon = zpyro.Daemon(broker=endpoint, capacity=capacity)
    daemon.register(Service(), name)
    loop = threading.Thread(target=daemon.request_loop, daemon=True)
    loop.start()
    if not daemon.wait_attached(30):
        raise SystemExit("not attached to the broker")
    print(f"READY {name}", flush=True)
    loop.join()


class Proc(Child):
    """A subprocess (this script's servers, or the broker), stopped by its pid."""

    def __init__(self, *args: str) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._buf = b""


def broker_process() -> Proc:
    return Proc(
        *["-m", "zpyro.broker", "--host", HOST, "--port", "0"],
        *["--pub-port", "0", "--storage", "memory"],
    )


def server(*args: str) -> Proc:
    return Proc(os.path.abspath(__file__), *args)


class Row:
    def __init__(self, scenario: str, unit: str, target: str) -> None:
        self.scenario, self.unit, self.target = scenario, unit, target
        self.value: float | None = None
        self.baseline: float | None = None
        self.ratio: float | None = None
        self.met: bool | None = None

    def cells(self) -> list[str]:
        def num(v: float | None) -> str:
            return (
                "-"
                if v is None
                else f"{v:,.2f} {self.unit}"
                if v < 100
                else f"{v:,.0f} {self.unit}"
            )

        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        met = {None: "-", True: "yes", False: "NO"}[self.met]
        return [self.scenario, num(self.value), num(self.baseline), ratio, self.target, met]


def render(rows: list[Row]) -> str:
    head = ["scenario", "through broker", "direct", "ratio", "target", "met?"]
    body = [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"

    return "\n".join(
        [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(b) for b in body]
    )


def best_of(
    rounds: int, seconds: float, fns: dict[str, Callable[[], Any]], batch: int
) -> dict[str, float]:
    """Best rate of interleaved rounds (A B A B ...), after a warm-up of each."""
    for fn in fns.values():
        timed_rate(fn, seconds / 2, batch)
    best = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = max(best[name], timed_rate(fn, seconds, batch))
    return best


def run(quick: bool, out: str) -> int:
    rounds, seconds = (2, 0.2) if quick else (5, 0.4)
    started = time.monotonic()
    rows: list[Row] = []
    with children([]) as kids:
        broker = broker_process()
        kids.append(broker)
        ns_uri = broker.expect_ready().split()[0]
        location = ns_uri.split("@", 1)[1]
        endpoint = f"tcp://{location}"
        direct = server("--serve-direct")
        kids.append(direct)
        direct_uri = direct.expect_ready()
        workers = [server("--serve-brokered", endpoint, "bench.echo", "32")]
        workers += [
            server("--serve-brokered", endpoint, "bench.pool", str(SLOTS))
            for _ in range(POOL_DAEMONS)
        ]
        kids.extend(workers)
        for w in workers:
            w.expect_ready()
        ns = zpyro.locate_ns(*location.rsplit(":", 1))
        ns.register("bench.direct", direct_uri)

        # 1. sync echo
        row = Row("sync echo [serpent]", "calls/s", ">= 0.5x direct")
        via = zpyro.Proxy(f"PYRO:bench.echo@{location}")
        plain = zpyro.Proxy(direct_uri)
        rates = best_of(
            rounds,
            seconds,
            {"broker": lambda: via.echo("hello"), "direct": lambda: plain.echo("hello")},
            20,
        )
        row.value, row.baseline = rates["broker"], rates["direct"]
        row.ratio = row.value / row.baseline
        row.met = row.ratio >= 0.5
        rows.append(row)

        # 2. pipelined futures through the broker
        row = Row(f"pipelined {PIPELINE} futures [serpent]", "calls/s", ">= 20,000 calls/s")
        a_via, a_plain = zpyro.asyncproxy(via), zpyro.asyncproxy(plain)

        def pipelined(p: Any) -> Callable[[], None]:
            def go() -> None:
                futures = [p.echo(i) for i in range(PIPELINE)]
                for i, f in enumerate(futures):
                    if f.result(60) != i:
                        raise RuntimeError("wrong pipelined result")

            return go

        rates = best_of(
            rounds, seconds, {"broker": pipelined(a_via), "direct": pipelined(a_plain)}, 1
        )
        row.value, row.baseline = rates["broker"] * PIPELINE, rates["direct"] * PIPELINE
        row.ratio = row.value / row.baseline
        row.met = row.value >= 20_000
        rows.append(row)

        # 3. pool dispatch: the ideal is JOBS * JOB_SECONDS / (POOL_DAEMONS * SLOTS) = 1.0 s
        ideal = JOBS * JOB_SECONDS / (POOL_DAEMONS * SLOTS)
        row = Row(
            f"{JOBS} jobs of 20 ms, {POOL_DAEMONS} daemons x {SLOTS} slots",
            "s",
            f"<= {1.15 * ideal:.2f} s",
        )
        pool = zpyro.asyncproxy(zpyro.Proxy(f"PYRONAME:bench.pool@{location}"))
        pool.job(-1).result(30)  # connected, metadata known
        best = float("inf")
        for _ in range(1 if quick else 3):
            t0 = time.perf_counter()
            futures = [pool.job(i) for i in range(JOBS)]
            if [f.result(60) for f in futures] != list(range(JOBS)):
                raise RuntimeError("wrong job results")
            best = min(best, time.perf_counter() - t0)
        row.value, row.baseline = best, ideal
        row.ratio = best / ideal
        row.met = best <= 1.15 * ideal
        rows.append(row)

        # 4. fresh PYRONAME proxy + call vs fresh direct proxy + call (same daemon)
        row = Row("new PYRONAME: proxy + 1 call", "calls/s", ">= 0.5x direct")

        def fresh(uri: str) -> Callable[[], None]:
            def go() -> None:
                with zpyro.Proxy(uri) as p:
                    p.echo("hello")

            return go

        named = f"PYRONAME:bench.direct@{location}"
        rates = best_of(rounds, seconds, {"broker": fresh(named), "direct": fresh(direct_uri)}, 5)
        row.value, row.baseline = rates["broker"], rates["direct"]
        row.ratio = row.value / row.baseline
        row.met = row.ratio >= 0.5
        rows.append(row)
        for p in (via, plain, a_via, a_plain, pool, ns):
            p._pyroRelease()
    duration = time.monotonic() - started
    print(
        f"zpyro {zpyro.__version__} broker bench / {os.cpu_count()} CPUs / {duration:.1f} s{' / QUICK' if quick else ''}"
    )
    print(render(rows))
    with open(out, "w") as fh:
        json.dump(
            {"quick": quick, "duration_s": round(duration, 1), "rows": [vars(r) for r in rows]},
            fh,
            indent=2,
        )
        fh.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short rounds (smoke run)")
    ap.add_argument("--json", default=os.path.join(HERE, "results-broker.json"))
    ap.add_argument("--serve-direct", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-brokered", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_direct:
        _exit_with_parent()
        serve_direct()
        return 0
    if args.serve_brokered:
        _exit_with_parent()
        endpoint, name, capacity = args.serve_brokered
        serve_brokered(endpoint, name, int(capacity))
        return 0
    return run(args.quick, args.json)


if __name__ == "__main__":
    sys.exit(main())
