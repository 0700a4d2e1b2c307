"""The Python side of bench_js.mjs: ``serve`` (a zpyro daemon with echo(), printing
``READY <uri>``; it exits when stdin closes) or ``client URI SECONDS`` (the Python proxy rows, as
JSON on stdout), so both languages are measured against the same daemon in one run."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import zpyro

PIPELINE = 2000


@zpyro.expose
class Service:
    def echo(self, value: Any) -> Any:
        return value


def serve() -> None:
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Service(), "bench")
    threading.Thread(target=daemon.request_loop, daemon=True).start()
    print("READY", uri, flush=True)
    sys.stdin.read()
    daemon.shutdown()
    daemon.close()


def rate(seconds: float, run: Any) -> float:
    """Calls per second: run() returns how many calls it made; repeated for `seconds`."""
    run()  # warm up (connection, metadata, caches)
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        calls += run()
    return calls / elapsed


def client(uri: str, seconds: float) -> None:
    rows = []
    for serializer in ("serpent", "msgpack"):
        p = zpyro.Proxy(uri)
        p._pyroSerializer = serializer

        def sync(p: Any = p) -> int:
            for _ in range(200):
                p.echo("hello")
            return 200

        rows.append({"row": f"Python proxy, sync echo [{serializer}]", "rate": rate(seconds, sync)})
        a = zpyro.asyncproxy(p)

        def futures(a: Any = a) -> int:
            pending = [a.echo(i) for i in range(PIPELINE)]
            for f in pending:
                f.result(60)
            return PIPELINE

        rows.append(
            {
                "row": f"Python futures, {PIPELINE} in flight [{serializer}]",
                "rate": rate(seconds, futures),
            }
        )
        a._pyroRelease()
        p._pyroRelease()
    print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        client(sys.argv[2], float(sys.argv[3]))
