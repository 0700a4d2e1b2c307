"""Where a sync call's CPU goes: per process, per thread, and (with py-spy) per layer.

    .venv/bin/python bench/profile_calls.py                       # zpyro, raw, pyro5, broker
    .venv/bin/python bench/profile_calls.py --targets zpyro --serializer serpent --py-spy /tmp/prof

One fresh client process per target makes sync ``echo(i)`` calls for ``--seconds`` against a
fresh server (the bench's own servers and client workloads). Printed per process: CPU µs per call
and context switches (thread wake-ups) per call, split by thread (libzmq's I/O thread apart).
With ``--py-spy DIR`` every process runs under ``py-spy record`` (sampling, not paused), and its
Python threads' CPU is split into layers by the innermost frame of each sample (see LAYERS): a
second run, so the counters above stay free of the sampler's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

from harness import Child, children  # noqa: E402

# (layer, test on "function (file:line)" of one frame); the first match from the leaf up wins
LAYERS: list[tuple[str, Callable[[str], bool]]] = [
    ("startup/imports", lambda f: "importlib" in f or f.startswith("<module>")),
    ("monitor", lambda f: "monitor" in f),
    ("poll", lambda f: "poll.py" in f or f.startswith(("poll ", "select ", "_poll "))),
    ("zmq send/recv", lambda f: "sockets.py" in f or "zmq/sugar/socket.py" in f or "backend" in f),
    ("header codec", lambda f: "wire.py" in f or "raw_protocol.py" in f),
    (
        "serializer",
        lambda f: any(
            s in f for s in ("serializers.py", "serpent", "msgpack", "json/", "marshal", "ast.py")
        ),
    ),
    ("thread sync", lambda f: "threading.py" in f or "waker.py" in f),
    (
        "dispatch/exposure/context",
        lambda f: any(s in f for s in ("dispatch.py", "exposure.py", "context.py", "objects.py")),
    ),
    (
        "daemon loop",
        lambda f: any(s in f for s in ("server.py", "workers.py", "peers.py", "brokerlink.py")),
    ),
    (
        "proxy/connection",
        lambda f: any(s in f for s in ("client.py", "zpyro/proxy", "connection.py", "futures.py")),
    ),
    ("broker forwarding", lambda f: "broker/" in f),
    ("Pyro5 core", lambda f: "Pyro5/" in f),
    ("bench loop/service", lambda f: "workloads.py" in f or "servers.py" in f),
]


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, test in LAYERS:
            if test(frame):
                return name
    return "other"


def read_pyspy(path: str) -> Counter[str]:
    """Samples per layer from a py-spy raw (collapsed) file; import-time samples dropped."""
    layers: Counter[str] = Counter()
    if not os.path.exists(path):
        return layers
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            layers[layer_of(stack.split(";"))] += int(count)
    layers.pop("startup/imports", None)
    return layers


def diff_threads(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    start = {t["tid"]: t for t in before}
    out = []
    for t in after:
        b = start.get(t["tid"], {"cpu_ns": 0, "switches": [0, 0]})
        out.append(
            {
                "name": t["name"],
                "cpu_ns": t["cpu_ns"] - b["cpu_ns"],
                "switches": [x - y for x, y in zip(t["switches"], b["switches"], strict=True)],
            }
        )
    return out


def grouped(threads: list[dict[str, Any]]) -> dict[str, list[float]]:
    """cpu ns and switches summed by thread kind: libzmq's threads by name, Python's as one."""
    groups: dict[str, list[float]] = {}
    for t in threads:
        kind = t["name"] if t["name"].startswith("ZMQbg") else "Python threads"
        g = groups.setdefault(kind, [0.0, 0.0])
        g[0] += t["cpu_ns"]
        g[1] += sum(t["switches"])
    return groups


def servers_for(target: str) -> list[tuple[str, list[str]]]:
    return {
        "zpyro": [("server", ["zpyro"])],
        "raw": [("server", ["raw"])],
        "pyro5": [("server", ["pyro5"])],
        "broker": [
            ("broker", ["broker"]),
            ("daemon", ["brokered", "{endpoint}", "bench.echo", "32"]),
        ],
    }[target]


def wrapped(args: list[str], pyspy: str | None, out: str, rate: int) -> Child:
    """The child, under ``py-spy record`` when asked (spawn mode: attaching to a running pid
    fails with this machine's Python build)."""
    if pyspy is None:
        return Child(*args)
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    return Child(
        *args,
        prefix=(spy, "record", "--nonblocking", "-r", str(rate), "-f", "raw", "-o", out, "--"),
    )


def profile(
    target: str, ser: str, seconds: float, pyspy: str | None, rate: int, workload: str = "sync"
) -> dict[str, Any]:
    procs: dict[str, Child] = {}
    with children() as kids:
        address = ""
        for role, args in servers_for(target):
            if "{endpoint}" in args:  # a brokered daemon: the broker's call endpoint
                args = [
                    f"tcp://{address.split('@', 1)[1]}" if a == "{endpoint}" else a for a in args
                ]
            out = os.path.join(pyspy or "", f"{target}-{ser}-{role}.txt")
            child = wrapped(["--serve", *args], pyspy, out, rate)
            kids.append(child)
            line = child.expect("READY", 60.0).split()[0]
            address = address or line
            procs[role] = child
        call_address = address
        if target == "broker":
            call_address = f"PYRO:bench.echo@{address.split('@', 1)[1]}"
        kind = "zpyro" if target == "broker" else target
        spec = {"workload": workload, "kind": kind, "arg": "int", "serializer": ser}
        spec.update(address=call_address, seconds=seconds, threads=True)
        out = os.path.join(pyspy or "", f"{target}-{ser}-client.txt")
        client = wrapped(["--client", json.dumps(spec)], pyspy, out, rate)
        kids.append(client)
        client.expect("READY", 60.0)
        before = {}
        for role, p in procs.items():
            p.send("threads")
            before[role] = json.loads(p.expect("THREADS", 30.0))
        client.send("go 0")
        calls = int(client.expect("RESULT", seconds + 120).split()[0])
        mine = json.loads(client.expect("THREADS", 30.0))
        result: dict[str, Any] = {"calls": calls, "processes": {}}
        result["processes"]["client"] = diff_threads(mine["before"], mine["after"])
        for role, p in procs.items():
            p.send("threads")
            result["processes"][role] = diff_threads(
                before[role], json.loads(p.expect("THREADS", 30.0))
            )
        client.send("bye")
    if pyspy:
        result["layers"] = {
            role: read_pyspy(os.path.join(pyspy, f"{target}-{ser}-{role}.txt"))
            for role in ["client", *procs]
        }
    return result


def report(target: str, ser: str, r: dict[str, Any]) -> None:
    calls = r["calls"]
    total = sum(t["cpu_ns"] for ts in r["processes"].values() for t in ts) / calls / 1000
    print(f"\n== {target} [{ser}]: {calls} calls, {total:.1f} µs CPU per call (all processes)")
    for role, threads in r["processes"].items():
        g = grouped(threads)
        cpu = sum(v[0] for v in g.values()) / calls / 1000
        parts = ", ".join(
            f"{k} {v[0] / calls / 1000:.1f} µs / {v[1] / calls:.2f} sw"
            for k, v in sorted(g.items())
        )
        print(f"  {role:7s} {cpu:6.1f} µs/call  ({parts})")
        layers = r.get("layers", {}).get(role)
        if layers:
            py_us = g.get("Python threads", [0.0])[0] / calls / 1000
            n = sum(layers.values())
            split = ", ".join(f"{k} {py_us * v / n:.1f}" for k, v in layers.most_common())
            print(f"          Python threads by layer (µs/call, {n} samples): {split}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="zpyro,raw,pyro5,broker")
    ap.add_argument("--serializer", default="msgpack")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument(
        "--workload", default="sync", help="sync | window (1,000 futures in flight) | newproxy"
    )
    ap.add_argument(
        "--py-spy", dest="pyspy", metavar="DIR", help="also sample with py-spy into DIR"
    )
    ap.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if args.pyspy:
        os.makedirs(args.pyspy, exist_ok=True)
    results = {}
    for target in args.targets.split(","):
        r = profile(target, args.serializer, args.seconds, None, args.rate, args.workload)
        if args.pyspy:  # a second run under the sampler, for the layer split only
            r["layers"] = profile(
                target, args.serializer, args.seconds, args.pyspy, args.rate, args.workload
            )["layers"]
        report(f"{target} {args.workload}", args.serializer, r)
        results[target] = r
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=dict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
