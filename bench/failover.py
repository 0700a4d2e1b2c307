"""How long a broker pair takes to fail over: kill -9 the active broker, time the first new call.

A broker pair (primary and backup, ``python -m zpyro.broker --primary/--backup``, pair link over
ipc in a temporary directory, sqlite storage there too) and a pool of 2 brokered daemons; this
process calls the pool in a loop. Each run kills the active broker with SIGKILL and measures
from the kill to the return of the first call made after it that succeeds; then it checks that
no name registered by hand is missing, restarts the killed broker (it comes back passive) and
waits until it has caught up, and kills the other one next time.

    .venv/bin/python bench/failover.py                 # 5 failovers, HEARTBEAT_TIMEOUT 1 s
    .venv/bin/python bench/failover.py --runs 10 --timeout 2

Prints one line per run and ``failover: min/median/max`` (seconds), and how that compares
with the promise of 2 x HEARTBEAT_TIMEOUT. Exit status 1 if a run broke the promise or lost a
name.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import zpyro  # noqa: E402
from zpyro import errors, failover  # noqa: E402

WORKER = os.path.join(ROOT, "tests", "programs", "brokered_worker.py")
NAMES = 50  # registered by hand, checked after every failover


class Process:
    """A child whose first line starting with `ready` is read (bounded); stopped by its pid."""

    def __init__(self, args: list[str], env: dict[str, str], ready: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # (log lines before READY are skipped)
            if line.startswith(ready):
                self.line = line
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError(f"{args[:3]} ended before {ready!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="failovers to measure (default 5)")
    ap.add_argument("--timeout", type=float, default=1.0, help="HEARTBEAT_TIMEOUT (default 1 s)")
    args = ap.parse_args(argv)
    interval = args.timeout / 5
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["ZPYRO_HEARTBEAT_TIMEOUT"] = str(args.timeout)
    env["ZPYRO_HEARTBEAT_INTERVAL"] = str(interval)
    zpyro.config.HEARTBEAT_TIMEOUT, zpyro.config.HEARTBEAT_INTERVAL = args.timeout, interval
    work = tempfile.mkdtemp(prefix="zpf")
    brokers: dict[str, Process] = {}
    ports: dict[str, int] = {}
    workers: list[Process] = []
    took: list[float] = []
    ok = True

    def start(role: str) -> Process:
        me, peer = ("p", "b") if role == "primary" else ("b", "p")
        command = ["-m", "zpyro.broker", "--host", "127.0.0.1", "--port", str(ports.get(role, 0))]
        command += ["--pub-port", "0", "--storage", f"sqlite:{work}/{role}.db", f"--{role}"]
        command += ["--pair", f"ipc://{work}/{me}", "--peer", f"ipc://{work}/{peer}"]
        broker = brokers[role] = Process(command, env, "READY")
        ports[role] = int(broker.line.split()[1].rsplit(":", 1)[1])
        return broker

    try:
        start("primary")
        start("backup")
        pair = f"127.0.0.1:{ports['primary']},127.0.0.1:{ports['backup']}"
        ns = zpyro.locate_ns(pair)
        names = {f"bench.name{i}": f"PYRO:n{i}@127.0.0.1:{5000 + i}" for i in range(NAMES)}
        for name, uri in names.items():
            ns.register(name, uri)
        workers = [Process([WORKER, f"tcp://{pair}", "jobs", "2"], env, "READY") for _ in range(2)]
        probe = zpyro.Proxy(f"PYRONAME:jobs@{pair}")
        probe._pyroTimeout = 30
        probe.whoami()
        print(
            f"zpyro {zpyro.__version__} failover: pair {pair}, 2 daemons, {NAMES} names, "
            f"HEARTBEAT_TIMEOUT {args.timeout} s, {args.runs} runs",
            flush=True,
        )
        for run in range(args.runs):
            active = next(r for r in ("primary", "backup") if _state(r, ports) == "active")
            killed = time.monotonic()
            brokers[active].proc.kill()
            seconds = _first_success(probe, killed) - killed
            took.append(seconds)
            listed = ns.list()
            lost = [n for n in names if n not in listed]
            ok = ok and not lost and seconds < 2 * args.timeout
            brokers[active].proc.wait(10)
            start(active)  # comes back passive, and catches up
            print(
                f"run {run + 1}: killed the {active}; first new call after {seconds:.3f} s; "
                f"names lost: {len(lost)}; restarted {active}: {_state(active, ports)}",
                flush=True,
            )
        ns._pyroRelease()
        probe._pyroRelease()
        print(
            f"failover: min {min(took):.3f} s, median {statistics.median(took):.3f} s, "
            f"max {max(took):.3f} s (promise: < {2 * args.timeout:.1f} s = 2 x HEARTBEAT_TIMEOUT)"
        )
        return 0 if ok else 1
    finally:
        for child in [*workers, *brokers.values()]:
            child.stop()
        shutil.rmtree(work, ignore_errors=True)


def _first_success(probe: zpyro.Proxy, since: float) -> float:
    """When the first call made after `since` returned (calls lost with the old broker fail)."""
    while True:
        started = time.monotonic()
        try:
            probe.whoami()
        except errors.ConnectionClosedError:
            continue
        if started > since:
            return time.monotonic()


def _state(role: str, ports: dict[str, int]) -> str:
    """A broker's pair state, from its PING (which never makes it take over); waits until it
    hears its peer, so the next kill finds a pair in step."""
    deadline = time.monotonic() + 30
    while True:
        (answer,) = failover.ask([f"127.0.0.1:{ports[role]}"])
        pair = answer.pair or {}
        settled = pair.get("peer") and pair.get("state") in ("active", "passive")
        if settled or time.monotonic() > deadline:
            return str(pair.get("state"))
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
