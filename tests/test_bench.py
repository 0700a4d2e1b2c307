"""The benchmark (`bench/bench.py`): a quick run prints every issue-10 row with its target and
verdict, and the bookkeeping that decides a verdict (targets, rounds, best figures) is right.

The quick run's figures are too noisy to mean anything (one round of 0.1 s per contender, on a
shared machine), so only that every contender was measured and every verdict follows from the
figures is checked, not the figures themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, ROOT, scaled

sys.path.insert(0, str(ROOT / "bench"))

from harness import Bench, Contender, Figure, Row, Target  # noqa: E402

SYNC = {"zpyro", "raw", "pyro5", "rawrpc"}
WINDOW = {"zpyro", "zpyro-aio", "raw", "rpyc"}
# every row of issue 10, with the contenders it must have measured
EXPECTED_ROWS: dict[str, set[str]] = {
    "sync echo(i) [serpent]": SYNC,
    "sync echo(i) [msgpack]": SYNC,
    "sync echo(i) [marshal]": SYNC,
    'sync echo("hello") [serpent]': SYNC,
    'sync echo("hello") [msgpack]': SYNC,
    'sync echo("hello") [marshal]': SYNC,
    'sync echo("hello") [json]': SYNC,
    "new proxy + 1 call [serpent]": {"zpyro", "raw", "pyro5"},
    "new proxy + 1 call [msgpack]": {"zpyro", "raw", "pyro5"},
    "4 client processes, sync echo(i) [serpent]": {"zpyro", "raw", "pyro5"},
    "4 client processes, sync echo(i) [msgpack]": {"zpyro", "raw", "pyro5"},
    "1,000 in flight, futures [serpent]": WINDOW,
    "1,000 in flight, aio.Proxy [serpent]": WINDOW,
    "50 MB bytes result [serpent]": {"zpyro", "raw", "pyro5"},
    "50 MB bytes result [json]": {"zpyro", "raw"},
    "50 MB bytes result [msgpack]": {"zpyro", "raw"},
    "oneway calls, confirmed [serpent]": {"zpyro", "pyro5"},
    "batch of 2000 calls [serpent]": {"zpyro", "pyro5"},
    "batch of 2000 calls [msgpack]": {"zpyro", "pyro5"},
    "broker: sync echo(i) [serpent]": {"broker", "direct"},
    "broker: 1,000 in flight, futures [serpent]": {"broker", "direct"},
    "broker: new PYRONAME: proxy + 1 call": {"broker", "direct"},
    "broker: 400 jobs of 20 ms, 4 daemons x 2 slots": {"broker"},
}
UNTARGETED = {'sync echo("hello") [json]'}  # shown for reference only


def table_rows(out: str) -> dict[str, list[str]]:
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines]
    return {c[0]: c for c in cells if c[0] != "scenario"}


@pytest.mark.timeout(int(scaled(150)))
@pytest.mark.slow
def test_quick_run_prints_every_row_with_target_and_verdict(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    done = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "bench.py"), "--quick", "--json", str(out_json)],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=scaled(120),  # kills the bench (its pid); its servers exit when their stdin closes
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loadavg" in done.stdout.splitlines()[0]
    table = table_rows(done.stdout)
    result = json.loads(out_json.read_text())
    rows = {r["scenario"]: r for r in result["rows"]}
    assert set(rows) == set(EXPECTED_ROWS) == set(table), done.stdout
    for name, contenders in EXPECTED_ROWS.items():
        row, cells = rows[name], table[name]
        assert set(row["figures"]) == contenders, name
        for fig in row["figures"].values():
            assert fig["rate"] > 0 and fig["cpu_us_per_call"] > 0, (name, fig)
        verdict, target = cells[-1], cells[-2]
        if name in UNTARGETED:
            assert (row["targets"], row["met"], verdict, target) == ([], None, "-", "-")
            continue
        assert row["targets"] and target == ", ".join(row["targets"]), name
        assert row["met"] is (not row["failed"]), name
        assert verdict == ("yes" if row["met"] else "NO: " + ", ".join(row["failed"])), name
    # the aio row shows the futures row's measurements (one set of rounds for both)
    shared = "1,000 in flight, aio.Proxy [serpent]"
    assert rows[shared]["figures"] == rows["1,000 in flight, futures [serpent]"]["figures"]
    measured = {(m["row"], m["contender"]) for m in result["measurements"]}
    assert measured == {(n, c) for n, cs in EXPECTED_ROWS.items() for c in cs if n != shared}


# -- the bookkeeping, with made-up figures -------------------------------------------------------


def sync_row(zpyro: Figure) -> Row:
    targets = [Target("vs", 0.85, "raw"), Target("vs", 1.0, "peer"), Target("cpu", 1.3, "raw")]
    row = Row("sync", "calls/s", targets, peer="pyro5")
    row.labels = {"zpyro": "zpyro", "raw": "raw pyzmq", "pyro5": "Pyro5 msgpack"}
    row.figures = {"zpyro": zpyro, "raw": Figure(1000, 100), "pyro5": Figure(1000, 90)}
    return row


def test_a_target_compares_with_the_contender_it_names() -> None:
    row = sync_row(Figure(900, 120))
    assert [t.label(row) for t in row.targets] == [">= 0.85x raw", ">= 1x Pyro5", "CPU <= 1.3x raw"]
    assert (row.met, row.failed) == (False, ["Pyro5"])
    assert (row.ratio("raw"), row.ratio("peer"), row.ratio("raw", "cpu")) == (0.9, 0.9, 1.2)
    row.figures["zpyro"] = Figure(1000, 131)
    assert row.failed == ["CPU"]
    row.figures["zpyro"] = Figure(1000, 130)
    assert (row.met, row.failed) == (True, [])


def test_a_row_missing_a_figure_has_no_verdict() -> None:
    row = sync_row(Figure(2000, 50))
    del row.figures["pyro5"]
    assert row.met is None and row.failed == []
    absolute = Row("pool", "jobs/s", [Target("abs", 348)], zpyro="broker", raw=None)
    absolute.figures = {"broker": Figure(347, 1)}
    assert (absolute.met, absolute.failed, absolute.targets[0].label(absolute)) == (
        False,
        ["jobs/s"],
        ">= 348 jobs/s",
    )


class ScriptedBench(Bench):
    """Bench.fill's round logic, with each measurement's figure taken from a script."""

    def __init__(self, script: dict[str, list[Figure]], **kw: Any) -> None:
        super().__init__(quick=False, **kw)
        self.script = script
        self.order: list[str] = []

    def measure_once(self, c: Contender) -> Figure:
        self.order.append(c.name)
        return self.script[c.name].pop(0)


def contenders(*names: str) -> list[Contender]:
    return [Contender(n, n, {}, ()) for n in names]


def test_rounds_rotate_and_keep_the_best_rate_and_lowest_cpu() -> None:
    script = {
        "a": [Figure(10, 5), Figure(30, 7), Figure(29, 4)],
        "b": [Figure(20, 3), Figure(21, 9), Figure(5, 8)],
    }
    b = ScriptedBench(script, min_rounds=3, max_rounds=6)
    row = Row("r", "calls/s")
    b.fill(row, contenders("a", "b"))
    assert b.order == ["a", "b", "b", "a", "a", "b"]  # rotating start
    assert row.figures == {"a": Figure(30, 4), "b": Figure(21, 3)}
    assert row.rounds == 3  # both bests were seen twice (within 10 %): no more rounds


def test_more_rounds_until_each_best_is_seen_twice_but_no_more_than_max() -> None:
    script = {"a": [Figure(10, 1), Figure(20, 1), Figure(10, 1), Figure(10, 1), Figure(12, 1)]}
    b = ScriptedBench(script, min_rounds=3, max_rounds=5)
    row = Row("r", "calls/s")
    b.fill(row, contenders("a"))
    assert row.rounds == 5 and row.figures["a"].rate == 20  # 20 never confirmed: stops at max
    script = {"a": [Figure(10, 1), Figure(20, 1), Figure(11, 1), Figure(19, 1), Figure(1, 1)]}
    b = ScriptedBench(script, min_rounds=3, max_rounds=5)
    b.fill(row := Row("r", "calls/s"), contenders("a"))
    assert row.rounds == 4 and len(b.script["a"]) == 1
