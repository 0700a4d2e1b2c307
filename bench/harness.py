"""Measuring: child processes, one fresh client process per measurement, rows, targets, table.

Each measurement of a contender runs in a new client process (``workloads.client_main``): its
start and imports are not timed, its first call is. The rounds alternate between the contenders
of a row, in a rotating order (A B C, B C A, C A B, ...), so a slow patch of the shared machine
hits all of them. A figure is the best round's rate; its CPU per call is the lowest of the rounds
(client process + every server process the call passes through, all threads, from getrusage).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from childproc import LineChild

PIN_ENV = "ZPYRO_BENCH_CPUS"  # "0" or "0,1": the CPUs a child process (and its threads) run on
PINS = {"none": ("", ""), "split": ("0", "1"), "same": ("0", "0")}  # pin: (clients, servers)
BENCH_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench.py")
START_AHEAD = 0.05  # s: several client processes get a common start this far ahead
CONFIRM = 0.1  # a best rate counts as confirmed when another round comes within 10 % of it
RESULT_SLACK = 120.0  # s: longest wait for a client's result beyond its window


class Child(LineChild):
    """A subprocess of bench.py, talked to by lines on stdin/stdout; stopped by its pid."""

    def __init__(self, *args: str, cpus: str = "", prefix: tuple[str, ...] = ()) -> None:
        """`prefix`: a command that runs the child (e.g. ``py-spy record ... --``)."""
        env = {**os.environ, PIN_ENV: cpus} if cpus else None  # bench.py pins itself first
        super().__init__(" ".join(args)[:60], [*prefix, sys.executable, BENCH_PY, *args], env=env)

    def expect(self, word: str, timeout: float = 60.0) -> str:
        """The rest of the next line starting with `word` (other lines are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.001, deadline - time.monotonic()))
            if line.split(" ", 1)[0] == word:
                return line.split(" ", 1)[1] if " " in line else ""

    def cpu(self) -> float:
        """A server's CPU seconds so far (it answers ``cpu`` on stdin)."""
        self.send("cpu")
        return float(self.expect("CPU", 30.0))


@contextmanager
def children() -> Iterator[list[Child]]:
    """A list to append children to; every one is stopped on the way out, also on errors."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop(grace=2.0)


# ---- rows and targets -------------------------------------------------------------------------


@dataclass
class Figure:
    rate: float  # in the row's unit; higher is better
    cpu_us: float  # CPU per call: client + servers, all threads, microseconds


@dataclass
class Contender:
    name: str  # key in Row.figures
    label: str  # shown in the table ("Pyro5", "RPyC", "direct", ...)
    spec: dict[str, Any]  # the client process's workload (workloads.py), without "seconds"
    servers: tuple[str, ...]  # the server processes a call passes through (their CPU counts)
    clients: int = 1  # client processes started together
    scale: float = 1.0  # figure = calls/s * scale (MB per call for the 50 MB rows)


@dataclass
class Target:
    kind: str  # "vs": zpyro/ref >= value; "cpu": zpyro CPU/ref CPU <= value; "abs": zpyro >= value
    value: float
    ref: str | None = None  # the contender compared with ("raw", "peer" -> the row's peer)

    def label(self, row: Row) -> str:
        if self.kind == "abs":
            return f">= {self.value:,.0f} {row.unit}"
        ref = self._ref_word(row)
        if self.kind == "vs":
            return f">= {self.value:g}x {ref}"
        return f"CPU <= {self.value:g}x {ref}"

    def short(self, row: Row) -> str:
        """What the target is about, in a word: "raw", "Pyro5", "RPyC", "direct", "CPU"..."""
        if self.kind == "cpu":
            return "CPU"
        if self.kind == "abs":
            return row.unit
        return self._ref_word(row)

    def _ref_word(self, row: Row) -> str:
        return row.labels.get(row.resolve(self.ref) or "", self.ref or "").split()[0]

    def met(self, row: Row) -> bool | None:
        mine = row.figures.get(row.zpyro)
        if mine is None:
            return None
        if self.kind == "abs":
            return mine.rate >= self.value
        other = row.figures.get(row.resolve(self.ref) or "")
        if other is None:
            return None
        if self.kind == "vs":
            return mine.rate >= self.value * other.rate
        return mine.cpu_us <= self.value * other.cpu_us


@dataclass
class Row:
    scenario: str
    unit: str  # "calls/s", "MB/s", "jobs/s"
    targets: list[Target] = field(default_factory=list)
    zpyro: str = "zpyro"  # the contender the row is about
    raw: str | None = "raw"
    peer: str | None = None  # Pyro5, RPyC or direct zpyro
    extra: str | None = None  # a reference column (the raw RPC)
    figures: dict[str, Figure] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    rounds: int = 0  # how many rounds were measured

    def resolve(self, ref: str | None) -> str | None:
        return {"raw": self.raw, "peer": self.peer}.get(ref or "", ref)

    def ratio(self, ref: str | None, what: str = "rate") -> float | None:
        mine, other = self.figures.get(self.zpyro), self.figures.get(self.resolve(ref) or "")
        if mine is None or other is None:
            return None
        a, b = (mine.rate, other.rate) if what == "rate" else (mine.cpu_us, other.cpu_us)
        return a / b if b else None

    @property
    def failed(self) -> list[str]:
        return [t.short(self) for t in self.targets if t.met(self) is False]

    @property
    def met(self) -> bool | None:
        verdicts = [t.met(self) for t in self.targets]
        if not verdicts:
            return None
        return None if None in verdicts else all(verdicts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "unit": self.unit,
            "figures": {
                k: {"label": self.labels.get(k, k), "rate": f.rate, "cpu_us_per_call": f.cpu_us}
                for k, f in self.figures.items()
            },
            "zpyro": self.zpyro,
            "ratio_vs_raw": self.ratio("raw"),
            "ratio_vs_peer": self.ratio("peer"),
            "cpu_ratio_vs_raw": self.ratio("raw", "cpu"),
            "targets": [t.label(self) for t in self.targets],
            "failed": self.failed,
            "met": self.met,
            "rounds": self.rounds,
            "notes": self.notes,
        }


def _confirmed(rates: list[float]) -> bool:
    """The best rate was seen twice: the runner-up is within CONFIRM of it."""
    ranked = sorted(rates, reverse=True)
    return len(ranked) >= 2 and ranked[1] >= (1 - CONFIRM) * ranked[0]


def _cell(row: Row, key: str | None, with_label: bool = False) -> str:
    fig = row.figures.get(key or "")
    if fig is None:
        return "-"
    unit = "/s" if row.unit == "calls/s" else f" {row.unit}"
    cpu = f"{fig.cpu_us / 1000:,.1f} ms" if fig.cpu_us >= 10_000 else f"{fig.cpu_us:,.0f} µs"
    text = f"{fig.rate:,.0f}{unit} · {cpu}"
    return f"{row.labels.get(key or '', key)} {text}" if with_label else text


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render_table(rows: list[Row]) -> str:
    """A markdown table; figures are "rate · CPU per call"."""
    head = ["scenario", "zpyro", "raw pyzmq", "peer", "raw RPC", "vs raw", "vs peer"]
    head += ["CPU vs raw", "target", "met?"]
    body = []
    for r in rows:
        met = {None: "-", True: "yes", False: "NO"}[r.met]
        if r.met is False:
            met = "NO: " + ", ".join(r.failed)
        body.append(
            [
                r.scenario,
                _cell(r, r.zpyro),
                _cell(r, r.raw),
                _cell(r, r.peer, with_label=True),
                _cell(r, r.extra),
                _x(r.ratio("raw")),
                _x(r.ratio("peer")),
                _x(r.ratio("raw", "cpu")),
                ", ".join(t.label(r) for t in r.targets) or "-",
                met,
            ]
        )
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(head), sep, *(fmt(line) for line in body)])


# ---- the bench --------------------------------------------------------------------------------


@dataclass
class Bench:
    """What scenarios get: the servers, the settings, and `fill` to measure a row."""

    quick: bool
    min_rounds: int = 3
    max_rounds: int = 6
    seconds: float = 0.3  # the timed window of one measurement
    pin: str = "none"  # a key of PINS
    servers: dict[str, Child] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    measurements: list[dict[str, Any]] = field(default_factory=list)  # every round, for the JSON

    def fill(self, row: Row, contenders: list[Contender], max_rounds: int | None = None) -> None:
        """Measure the contenders in rounds (rotating order) into row.figures.

        At least `min_rounds`; then more, up to `max_rounds`, until every contender's best rate
        has been seen twice (a second round within CONFIRM of it): on this VM the same loopback
        round trip runs at one of two speeds, depending on where the scheduler puts the threads.
        """
        rates: dict[str, list[float]] = {c.name: [] for c in contenders}
        for c in contenders:
            row.labels[c.name] = c.label
        most = self.max_rounds if max_rounds is None else min(max_rounds, self.max_rounds)
        for r in range(most):
            if r >= self.min_rounds and all(_confirmed(v) for v in rates.values()):
                break
            k = r % len(contenders)
            for c in contenders[k:] + contenders[:k]:
                fig = self.measure_once(c)
                rates[c.name].append(fig.rate)
                self.measurements.append(
                    {"row": row.scenario, "contender": c.name, "round": r, **vars(fig)}
                )
                best = row.figures.get(c.name)
                if best is None:
                    row.figures[c.name] = fig
                else:
                    best.rate = max(best.rate, fig.rate)
                    best.cpu_us = min(best.cpu_us, fig.cpu_us)
        row.rounds = len(rates[contenders[0].name])

    def measure_once(self, c: Contender) -> Figure:
        spec = {**c.spec, "seconds": c.spec.get("seconds", self.seconds)}
        with children() as procs:
            for _ in range(c.clients):
                procs.append(Child("--client", json.dumps(spec), cpus=PINS[self.pin][0]))
            for proc in procs:
                proc.expect("READY", 60.0)
            cpu0 = sum(self.servers[s].cpu() for s in c.servers)
            t0 = time.perf_counter() + (START_AHEAD if c.clients > 1 else 0.0)
            for proc in procs:
                proc.send(f"go {t0!r}")
            results = []
            for proc in procs:
                words = proc.expect("RESULT", spec["seconds"] + RESULT_SLACK).split()
                results.append((int(words[0]), float(words[1]), float(words[2]), float(words[3])))
            cpu1 = sum(self.servers[s].cpu() for s in c.servers)
            for proc in procs:
                proc.send("bye")
        calls = sum(r[0] for r in results)
        elapsed = max(r[2] for r in results) - min(r[1] for r in results)
        cpu = sum(r[3] for r in results) + cpu1 - cpu0
        return Figure(rate=calls / elapsed * c.scale, cpu_us=cpu / calls * 1e6)

    def start_server(self, key: str, *args: str) -> str:
        """Start ``bench.py --serve ARGS`` as server `key`; its address from the READY line."""
        child = Child("--serve", *args, cpus=PINS[self.pin][1])
        self.servers[key] = child
        self.addresses[key] = child.expect("READY", 60.0).split()[0]
        return self.addresses[key]
