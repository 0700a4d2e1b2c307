"""The name server as Pyro users run it: ``zpyro-ns`` (here ``python -m zpyro.naming``, which is
``python -m Pyro4.naming`` after the import change) with Pyro's options -- ``-n HOST -p PORT``,
``-x``, ``-s sql:FILE`` -- and Pyro's lines (a script waits for ``URI = ``); ``zpyro-nsc`` lists
names with their metadata as pyro4-nsc does; the sql storage keeps hand-registered names across
a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from launch import HOST, ROOT, Launcher

import zpyro


def start_name_server(launch: Launcher, db: Path) -> tuple[object, zpyro.URI]:
    args = [sys.executable, "-m", "zpyro.naming", "-n", HOST, "-p", "0", "-x", "-s", f"sql:{db}"]
    ns = launch.start("name server", args)
    for line in iter(lambda: ns.wait_for(""), None):  # Pyro's lines, up to the URI
        print(f"  ns: {line}")
        if line.startswith("URI = "):
            return ns, zpyro.URI(line.split("=", 1)[1].strip())
    raise RuntimeError("no URI line")


def nsc(uri: zpyro.URI, *args: str) -> None:
    command = [sys.executable, "-m", "zpyro.nsc", "-n", str(uri.host), "-p", str(uri.port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=30)
    print(f"$ zpyro-nsc {' '.join(args)}")
    print(result.stdout.rstrip())


def main() -> int:
    with tempfile.TemporaryDirectory() as directory, Launcher() as launch:
        db = Path(directory) / "names.sqlite"
        print("starting: python -m zpyro.naming -n 127.0.0.1 -p 0 -x -s sql:names.sqlite")
        ns_proc, uri = start_name_server(launch, db)
        with zpyro.locate_ns(uri.host, uri.port) as ns:
            ns.register("example.weather", "PYRO:weather@127.0.0.1:5001", metadata={"region:eu"})
            ns.register("example.clock", "PYRO:clock@127.0.0.1:5002")
        nsc(uri, "list", "example.")
        nsc(uri, "listmeta_any", "region:eu", "region:us")
        ns_proc.stop()
        print("restarting it on the same storage")
        ns_proc, uri = start_name_server(launch, db)
        with zpyro.locate_ns(uri.host, uri.port) as ns:
            print(f"still there: example.weather -> {ns.lookup('example.weather')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
