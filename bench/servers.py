"""The server processes of the benchmark: ``bench.py --serve KIND [ARGS]``.

Every server prints ``READY <address>`` once it serves, answers ``cpu`` on stdin with
``CPU <seconds>`` (its own user + system CPU so far, all threads, from ``getrusage``), and exits
when its stdin pipe from the bench closes, so no server outlives the run.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from raw_protocol import BIG_THRESHOLD, RAW_SERIALIZERS, RAW_SIGNATURE

HOST = "127.0.0.1"
OBJECT_ID = "bench"
BIG_SIZE = 50_000_000  # the "50 MB" rows
SERVER_LIFETIME = 1800.0  # seconds; servers also exit when their parent's pipe closes
JOB_SECONDS = 0.02  # the pool row's job


class Service:
    """The same object behind every server (RPyC wraps it, see serve_rpyc)."""

    def __init__(self, big: bool = True) -> None:
        self._big = b"x" * BIG_SIZE if big else b""  # made once: the 50 MB rows time no allocation
        self._hits = 0
        self._lock = threading.Lock()

    def echo(self, value: Any) -> Any:
        return value

    def data(self, size: int) -> bytes:
        return self._big if size == BIG_SIZE else b"x" * size

    def bump(self) -> None:
        """Oneway (see below): count one call."""
        with self._lock:
            self._hits += 1

    bump._pyroOneway = True  # type: ignore[attr-defined]  # what zpyro.oneway and Pyro5 set

    def count(self) -> int:
        """How many bump() calls have run so far."""
        with self._lock:
            return self._hits

    def job(self, n: int) -> int:
        time.sleep(JOB_SECONDS)
        return n


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (also those already finished)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def thread_stats() -> list[dict[str, Any]]:
    """Per thread of this process: name, CPU ns (schedstat) and context switches so far.

    Python threads are named as ``threading`` knows them; libzmq's own threads by their comm
    (``ZMQbg/IO/0``, ``ZMQbg/Reaper``). Used by bench/profile_calls.py.
    """
    names = {t.native_id: t.name for t in threading.enumerate()}
    stats = []
    for tid in os.listdir("/proc/self/task"):
        base = f"/proc/self/task/{tid}"
        try:
            with open(f"{base}/comm") as fh:
                comm = fh.read().strip()
            with open(f"{base}/schedstat") as fh:
                cpu_ns = int(fh.read().split()[0])
            with open(f"{base}/status") as fh:
                status = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:  # the thread has just ended
            continue
        switches = [
            int(status[k]) for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        ]
        name = names.get(int(tid), comm)
        stats.append({"tid": int(tid), "name": name, "cpu_ns": cpu_ns, "switches": switches})
    return stats


def answer_commands() -> None:
    """A daemon thread: ``cpu`` -> ``CPU <s>``; ``threads`` -> ``THREADS <json>``;
    end of stdin -> exit at once."""

    def loop() -> None:
        for line in sys.stdin:
            if line.strip() == "cpu":
                print(f"CPU {cpu_seconds()!r}", flush=True)
            elif line.strip() == "threads":
                print(f"THREADS {json.dumps(thread_stats())}", flush=True)
        os._exit(0)

    threading.Thread(target=loop, name="bench-commands", daemon=True).start()


def _ready(address: str) -> None:
    print(f"READY {address}", flush=True)


def _until(deadline: float) -> Callable[[], bool]:
    return lambda: time.monotonic() < deadline


def serve_zpyro(args: list[str]) -> None:
    import zpyro

    everything = {"serpent", "json", "msgpack", "marshal", "pickle"}
    daemon = zpyro.Daemon(host=HOST, serializers_accepted=everything)
    uri = daemon.register(zpyro.expose(Service)(), OBJECT_ID)
    _ready(str(uri))
    daemon.request_loop(_until(time.monotonic() + SERVER_LIFETIME))
    daemon.close()


def serve_pyro5(args: list[str]) -> None:
    import Pyro5.api

    # Pyro5 5.x accepts serpent, json, marshal and msgpack (it has no SERIALIZERS_ACCEPTED);
    # the client picks with config.SERIALIZER. SERVERTYPE "thread" is the default.
    Pyro5.config.SERVERTYPE = "thread"
    daemon = Pyro5.api.Daemon(host=HOST)
    uri = daemon.register(Pyro5.api.expose(Service)(), OBJECT_ID)
    _ready(str(uri))
    daemon.requestLoop(_until(time.monotonic() + SERVER_LIFETIME))
    daemon.close()


def serve_rpyc(args: list[str]) -> None:
    import rpyc
    from rpyc.utils.server import ThreadedServer

    service = Service(big=False)

    class EchoService(rpyc.Service):  # type: ignore[misc]
        def exposed_echo(self, value: Any) -> Any:
            return service.echo(value)

    server = ThreadedServer(EchoService, hostname=HOST, port=0)
    _ready(f"{HOST}:{server.port}")
    server.start()


def serve_raw(args: list[str]) -> None:
    """Single-threaded ROUTER. A request whose first frame is RAW_SIGNATURE goes back as it came
    (the bytes-only round trip); otherwise frames [serializer, dumps((method, args))] are a call:
    loads, getattr, call, dumps, reply (the hand-written RPC)."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.linger = 0
    sock.sndhwm = sock.rcvhwm = 0  # a ROUTER drops replies at its HWM: pipelined clients
    sock.rcvtimeo = 500  # a blocking receive that still re-checks the deadline
    port = sock.bind_to_random_port(f"tcp://{HOST}")
    service = Service()
    _ready(f"tcp://{HOST}:{port}")
    deadline = time.monotonic() + SERVER_LIFETIME
    recv, send = sock.recv_multipart, sock.send_multipart
    while time.monotonic() < deadline:
        try:
            frames = recv()
        except zmq.Again:
            continue
        if frames[1] == RAW_SIGNATURE:
            send(frames)
            continue
        ident, tag, payload = frames
        dumps, loads = RAW_SERIALIZERS[tag.decode()]
        method, call_args = loads(payload)
        result = getattr(service, method)(*call_args)
        if isinstance(result, bytes) and len(result) >= BIG_THRESHOLD:
            sock.send_multipart([ident, tag, b""], zmq.SNDMORE)
            sock.send(result, copy=False)
        else:
            send([ident, tag, dumps(result)])
    sock.close(linger=0)


def serve_broker(args: list[str]) -> None:
    """``python -m zpyro.broker`` in this process (so it answers ``cpu`` too); it prints READY."""
    from zpyro.broker.__main__ import main

    main(["--host", HOST, "--port", "0", "--pub-port", "0", "--storage", "memory"])


def serve_brokered(args: list[str]) -> None:
    """A daemon attached to the broker at args[0], serving Service as args[1], capacity args[2]."""
    import zpyro

    endpoint, name, capacity = args
    daemon = zpyro.Daemon(broker=endpoint, capacity=int(capacity))
    daemon.register(zpyro.expose(Service)(big=False), name)
    loop = threading.Thread(target=daemon.request_loop, daemon=True)
    loop.start()
    if not daemon.wait_attached(30):
        raise SystemExit("not attached to the broker")
    _ready(name)
    loop.join()


SERVERS: dict[str, Callable[[list[str]], None]] = {
    "zpyro": serve_zpyro,
    "pyro5": serve_pyro5,
    "rpyc": serve_rpyc,
    "raw": serve_raw,
    "broker": serve_broker,
    "brokered": serve_brokered,
}


def serve(kind: str, args: list[str]) -> None:
    answer_commands()
    SERVERS[kind](args)
