"""zpyro vs raw pyzmq, Pyro5 and RPyC (and zpyro through its broker), side by side, on 127.0.0.1.

The workloads and targets of issue 10 (see bench/README.md). Every measurement runs in a FRESH
client process (``bench.py --client SPEC``, workloads.py); every server in its own process
(``bench.py --serve KIND``, servers.py). Figures are calls/s and CPU microseconds per call
(client + servers, all threads). The rows: scenarios.py; the measuring: harness.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):  # the bench modules, and zpyro/broker of this checkout
    if path not in sys.path:
        sys.path.insert(0, path)

BROKER_SCENARIOS = {"broker"}
POOL_DAEMONS, POOL_SLOTS = 4, 2


def environment() -> dict[str, Any]:
    import msgpack
    import Pyro5
    import rpyc
    import serpent
    import zmq

    import zpyro

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "pyzmq": zmq.pyzmq_version(),
        "libzmq": zmq.zmq_version(),
        "zpyro": zpyro.__version__,
        "Pyro5": Pyro5.__version__,
        "rpyc": rpyc.__version__,
        "serpent": serpent.__version__,
        "msgpack": ".".join(map(str, msgpack.version)),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def start_servers(b: Any, names: list[str]) -> None:
    for kind in ("zpyro", "raw", "pyro5", "rpyc"):
        b.start_server(kind, kind)
    if not BROKER_SCENARIOS.intersection(names):
        return
    import zpyro

    ns_uri = b.start_server("broker", "broker")
    location = ns_uri.split("@", 1)[1]
    endpoint = f"tcp://{location}"
    b.start_server("brokered", "brokered", endpoint, "bench.echo", "32")
    for i in range(POOL_DAEMONS):
        b.start_server(f"pool{i}", "brokered", endpoint, "bench.pool", str(POOL_SLOTS))
    with zpyro.locate_ns(*location.rsplit(":", 1)) as ns:
        ns.register("bench.direct", b.addresses["zpyro"])


def run(args: argparse.Namespace) -> int:
    from harness import Bench, Row, children, render_table
    from scenarios import SCENARIOS

    names = [args.only] if args.only else list(SCENARIOS)
    b = Bench(quick=args.quick, pin=args.pin)
    if args.quick:
        b.min_rounds, b.max_rounds, b.seconds = 1, 1, 0.1
    load_before = os.getloadavg()
    started = time.monotonic()
    rows: list[Row] = []
    with children() as servers:
        try:
            start_servers(b, names)
        finally:
            servers.extend(b.servers.values())
        for name in names:
            t0 = time.monotonic()
            rows += SCENARIOS[name](b)
            print(f"[{name}: {time.monotonic() - t0:.1f} s]", file=sys.stderr, flush=True)
    env = environment()
    env.update(
        pin=args.pin, quick=args.quick, rounds=[b.min_rounds, b.max_rounds], window_s=b.seconds
    )
    env["duration_s"] = round(time.monotonic() - started, 1)
    env["loadavg_before"] = [round(x, 2) for x in load_before]
    env["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(
        f"{env['date']} / zpyro {env['zpyro']} / Pyro5 {env['Pyro5']} / RPyC {env['rpyc']} / "
        f"pyzmq {env['pyzmq']} (libzmq {env['libzmq']}) / Python {env['python']} / "
        f"{env['cpu_count']} CPUs / {env['duration_s']} s / {b.min_rounds}-{b.max_rounds} rounds "
        f"of {b.seconds} s / pin {args.pin} / loadavg {env['loadavg_before'][0]} -> {env['loadavg_after'][0]}"
        f"{' / QUICK' if args.quick else ''}"
    )
    print("figures: best round's rate · CPU per call (client + servers, all threads)")
    print(render_table(rows))
    for r in rows:
        if r.notes:
            print(f"  note, {r.scenario}: {r.notes}")
    result = {**env, "rows": [r.as_dict() for r in rows], "measurements": b.measurements}
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round of 0.1 s (smoke run)")
    ap.add_argument("--only", help="run one scenario (sync, newproxy, clients4, window, ...)")
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"), help="figures file")
    ap.add_argument(
        "--pin",
        choices=["none", "split", "same"],
        default="none",
        help="split: client processes on CPU 0, servers on CPU 1; same: all on CPU 0 "
        "(default none: where the scheduler puts them, as programs run)",
    )
    ap.add_argument("--serve", nargs="+", metavar="KIND", help=argparse.SUPPRESS)
    ap.add_argument("--client", metavar="SPEC", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cpus = os.environ.get("ZPYRO_BENCH_CPUS")  # set by the bench for its children (--pin)
    if cpus and (args.serve or args.client):  # before any thread starts: all of them inherit it
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    if args.serve:
        from servers import serve

        serve(args.serve[0], args.serve[1:])
        return 0
    if args.client:
        from workloads import client_main

        return client_main(args.client)
    from scenarios import SCENARIOS

    if args.only and args.only not in SCENARIOS:
        ap.error(f"--only: one of {', '.join(SCENARIOS)}")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
