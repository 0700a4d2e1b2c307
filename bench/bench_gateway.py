"""HTTP gateways side by side: zpyro-gateway against Pyro5's pyro5-httpgateway, in one run.

Each side has its own name server, a daemon serving the same ``BenchService`` as ``http.bench``
and its gateway, all subprocesses on 127.0.0.1 with free ports:

* zpyro: ``python -m zpyro.broker`` (memory storage), a ``zpyro.Daemon`` (64 worker threads) whose
  object is registered in it, ``python -m zpyro.gateway``;
* Pyro5: ``python -m Pyro5.nameserver`` (no broadcast), a ``Pyro5`` daemon (its default thread
  pool), ``python -m Pyro5.utils.httpgateway`` (``-e 'http\\.'``).

Load comes from ``wrk`` (Debian's package) when it is installed, else from an asyncio HTTP
client (httpx) in a process of its own. Rows: a fast echo and a method that sleeps 5 ms, each
with 1 and with 50 concurrent clients (keep-alive connections); requests/s, p50 and p99 latency.
Rounds alternate between the two gateways; each cell is its best round.

Targets (zpyro / Pyro5 requests/s): 50 clients: >= 10x on the 5 ms method, >= 5x on echo;
1 client: >= 2x on echo.

    .venv/bin/python bench/bench_gateway.py            # about 1.5 minutes
    .venv/bin/python bench/bench_gateway.py --quick    # smoke run, about 25 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from childproc import LineChild

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"
NAME = "http.bench"
ECHO = f"/pyro/{NAME}/echo?value=hello"
SLEEP = f"/pyro/{NAME}/sleep5"
CLIENTS = (1, 50)
TARGETS = {("echo", 50): 5.0, ("sleep 5 ms", 50): 10.0, ("echo", 1): 2.0}


class BenchService:
    """The same object on both sides (exposed by each library's own decorator)."""

    def echo(self, value: Any) -> Any:
        return value

    def sleep5(self) -> str:
        time.sleep(0.005)
        return "slept"


# ---- processes --------------------------------------------------------------------------------


class Proc(LineChild):
    """A subprocess whose output lines (stdout and stderr) are read on demand; stopped by its
    pid."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        super().__init__(str(args[:3]), args, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.seen: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first output line matching `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.read_line(max(0.001, deadline - time.monotonic()))
            except TimeoutError:
                raise TimeoutError(f"{self.name}: no {pattern!r} in {self.seen[-5:]}") from None
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}: {self.seen[-10:]}") from None
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def ready(self, pattern: str) -> re.Match[str]:
        """wait_for(pattern), then keep draining the output."""
        found = self.wait_for(pattern)
        self.drain()
        return found

    def drain(self) -> None:
        """Keep reading the output from now on: a chatty child (wsgiref logs every request)
        must never block on a full pipe."""

        def read() -> None:
            assert self.proc.stdout is not None
            fd = self.proc.stdout.fileno()
            try:
                while os.read(fd, 65536):
                    pass
            except OSError:
                pass

        threading.Thread(target=read, daemon=True).start()


@contextmanager
def processes() -> Iterator[Any]:
    started: list[Proc] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(args, env)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in reversed(started):
            proc.stop(grace=0.0)  # (servers do not read stdin: SIGTERM at once)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_zpyro(start: Any) -> str:
    """Broker, daemon, gateway; the gateway's base URL."""
    broker = start([sys.executable, "-m", "zpyro.broker", "--host", HOST, "--port", "0",
                    "--pub-port", "0", "--storage", "memory"])  # fmt: skip
    found = broker.ready(r"READY PYRO:\S+@[^:]+:(\d+) pub=[^:]+:(\d+)")
    port, pub_port = found.group(1), found.group(2)
    start([sys.executable, __file__, "--serve-zpyro", port]).ready("^READY")
    gateway = start([sys.executable, "-m", "zpyro.gateway", "--host", HOST, "--port", "0",
                     "--ns-host", HOST, "--ns-port", port, "--ns-pub-port", pub_port],
                    {"ZPYRO_GATEWAY_KEY": ""})  # fmt: skip
    return gateway.ready(r"^READY (\S+) .*names=ok").group(1).rstrip("/")


def start_pyro5(start: Any) -> str:
    """Pyro5 name server, daemon, gateway; the gateway's base URL."""
    ns_port = free_port()
    env = {
        "PYRO_NS_HOST": HOST,
        "PYRO_NS_PORT": str(ns_port),
        "PYRO_BROADCAST_ADDRS": HOST,  # should a lookup ever fall back to it: loopback only
    }
    ns = start([sys.executable, "-m", "Pyro5.nameserver", "-n", HOST, "-p", str(ns_port), "-x"],
               env)  # fmt: skip
    ns.ready("^NS running")
    start([sys.executable, __file__, "--serve-pyro5", str(ns_port)], env).ready("^READY")
    gateway = start([sys.executable, "-m", "Pyro5.utils.httpgateway", "-H", HOST, "-p", "0",
                     "-e", r"http\."], env)  # fmt: skip
    return gateway.ready(r"running on (http://\S+?)/pyro/").group(1)


def serve_zpyro(ns_port: int) -> None:
    import zpyro

    zpyro.config.THREADPOOL_SIZE = 64  # 50 clients of a 5 ms method all run at once
    service = zpyro.expose(BenchService)
    daemon = zpyro.Daemon(host=HOST)
    uri = daemon.register(service(), "bench")
    with zpyro.locate_ns(HOST, ns_port) as ns:
        ns.register(NAME, uri)
    print("READY", uri, flush=True)
    daemon.request_loop()


def serve_pyro5(ns_port: int) -> None:
    import Pyro5.api

    service = Pyro5.api.expose(BenchService)
    daemon = Pyro5.api.Daemon(host=HOST)
    uri = daemon.register(service(), "bench")
    ns = Pyro5.api.locate_ns(HOST, ns_port)
    ns.register(NAME, uri)
    print("READY", uri, flush=True)
    daemon.requestLoop()


# ---- load -------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, clients: int, seconds: float) -> Load:
    threads = min(clients, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency",
         "--timeout", "10s", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(map(int, re.findall(r"(?:connect|read|write|timeout) (\d+)", out)))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return Load(rps, p50, p99, done, errors)


def asyncio_load(url: str, clients: int, seconds: float) -> Load:
    """The same measure from an asyncio client (httpx) in its own process."""
    out = subprocess.run(
        [sys.executable, __file__, "--load", url, str(clients), str(seconds)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    return Load(**json.loads(out.strip().splitlines()[-1]))


def run_load(url: str, clients: int, seconds: float) -> None:
    import httpx

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
            deadline = time.perf_counter() + seconds

            async def user() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    try:
                        r = await client.get(url)
                        if r.status_code != 200:
                            errors += 1
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - start)

            begin = time.perf_counter()
            await asyncio.gather(*(user() for _ in range(clients)))
            took = time.perf_counter() - begin
        latencies.sort()
        n = len(latencies)
        return {
            "rps": n / took,
            "p50_ms": latencies[n // 2] * 1e3,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3,
            "requests": n,
            "errors": errors,
        }

    print(json.dumps(asyncio.run(main())), flush=True)


# ---- the comparison ---------------------------------------------------------------------------


@dataclass
class Cell:
    scenario: str
    clients: int
    zpyro: Load | None = None
    pyro5: Load | None = None
    rounds: dict[str, list[float]] = field(default_factory=lambda: {"zpyro": [], "pyro5": []})

    @property
    def ratio(self) -> float | None:
        if self.zpyro is None or self.pyro5 is None or not self.pyro5.rps:
            return None
        return self.zpyro.rps / self.pyro5.rps

    @property
    def target(self) -> float | None:
        return TARGETS.get((self.scenario, self.clients))


def measure(urls: dict[str, str], quick: bool) -> tuple[list[Cell], str]:
    load = wrk if shutil.which("wrk") else asyncio_load
    seconds, rounds = (1.0, 1) if quick else (4.0, 2)
    for base in urls.values():  # warm up: connections, proxies, caches
        for path in (ECHO, SLEEP):
            load(base + path, 4, 1.0)
    cells = []
    for scenario, path in (("echo", ECHO), ("sleep 5 ms", SLEEP)):
        for clients in CLIENTS:
            cell = Cell(scenario, clients)
            for _ in range(rounds):  # alternate, so a noisy moment hits both sides
                for side, base in urls.items():
                    result = load(base + path, clients, seconds)
                    cell.rounds[side].append(result.rps)
                    best = getattr(cell, side)
                    if best is None or result.rps > best.rps:
                        setattr(cell, side, result)
            cells.append(cell)
            print(f"  {scenario}, {clients} clients: {describe(cell)}", file=sys.stderr)
    return cells, "wrk" if load is wrk else "asyncio (httpx) client process"


def describe(cell: Cell) -> str:
    ratio = cell.ratio
    return (
        f"zpyro {cell.zpyro.rps if cell.zpyro else 0:.0f}/s, "
        f"Pyro5 {cell.pyro5.rps if cell.pyro5 else 0:.0f}/s, "
        f"ratio {ratio:.1f}x"
        if ratio
        else "no ratio"
    )


def table(cells: list[Cell]) -> str:
    lines = [
        "| scenario | clients | zpyro req/s | p50 / p99 ms | Pyro5 req/s | p50 / p99 ms "
        "| zpyro / Pyro5 | target | met? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in cells:
        z, p = c.zpyro, c.pyro5
        assert z is not None and p is not None
        ratio, target = c.ratio, c.target
        met = "-" if target is None else ("yes" if ratio and ratio >= target else "NO")
        errors = ""
        if z.errors or p.errors:
            errors = f" (errors: zpyro {z.errors}, Pyro5 {p.errors})"
        lines.append(
            f"| {c.scenario}{errors} | {c.clients} | {z.rps:,.0f} | {z.p50_ms:.2f} / "
            f"{z.p99_ms:.2f} | {p.rps:,.0f} | {p.p50_ms:.2f} / {p.p99_ms:.2f} | "
            f"{ratio:.1f}x | {'' if target is None else f'>= {target:g}x'} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one short round per cell (smoke run)")
    ap.add_argument("--json", default=os.path.join(HERE, "results-gateway.json"))
    ap.add_argument("--serve-zpyro", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-pyro5", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--load", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_zpyro:
        serve_zpyro(args.serve_zpyro)
        return 0
    if args.serve_pyro5:
        serve_pyro5(args.serve_pyro5)
        return 0
    if args.load:
        run_load(args.load[0], int(args.load[1]), float(args.load[2]))
        return 0

    load_before = os.getloadavg()
    started = time.monotonic()
    with processes() as start:
        urls = {"zpyro": start_zpyro(start), "pyro5": start_pyro5(start)}
        cells, generator = measure(urls, args.quick)
    took = time.monotonic() - started
    import Pyro5

    import zpyro

    print(table(cells))
    print(
        f"\nload: {generator}; zpyro {zpyro.__version__}, Pyro5 {Pyro5.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after, {took:.0f} s"
    )
    with open(args.json, "w") as f:
        json.dump(
            {
                "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "load_generator": generator,
                "cpus": os.cpu_count(),
                "loadavg_before": load_before,
                "loadavg_after": os.getloadavg(),
                "cells": [{**asdict(c), "ratio": c.ratio, "target": c.target} for c in cells],
            },
            f,
            indent=2,
        )
    return 0 if all(c.ratio and c.ratio >= (c.target or 0) for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
