"""zpyro vs raw pyzmq vs Pyro5, side by side in one run, on 127.0.0.1.

Every server runs in its own subprocess (``bench.py --serve KIND``), the client side is
measured in this process (and, for the concurrency scenario, in ``bench.py --client KIND``
subprocesses). See ``bench/README.md`` for what the rows mean.

Adding a scenario: write ``def my_rows(b: Bench) -> list[Row]`` and decorate it with
``@scenario("name")``; it runs in registration order and is selectable with ``--only name``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import marshal
import os
import platform
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import msgpack
import serpent
import zmq

import zpyro

HOST = "127.0.0.1"
OBJECT_ID = "bench"
BIG_SIZE = 50_000_000  # the "50 MB" of scenario 3
BIG_THRESHOLD = 64 * 1024  # raw server: results at least this big go out as their own frame
ECHO_TAG = b"echo"  # raw protocol: first frame = serializer name, or this for the bytes echo
SERVER_LIFETIME = 900.0  # seconds; servers also exit when their parent's pipe closes
MAX_CALLS = 50_000_000  # upper bound of every timing loop
MAX_CLIENT_ROUNDS = 20
ZPYRO_SERIALIZERS = {"serpent", "json", "msgpack", "marshal", "pickle"}
PIPELINE_CALLS = 2000  # calls outstanding at once (pipelined, aiogather)
ONEWAY_CALLS = 20_000  # oneway calls per timed run (quick: ONEWAY_CALLS_QUICK)
ONEWAY_CALLS_QUICK = 4000
BATCH_CALLS = 2000  # calls in one batch
RESULT_TIMEOUT = 60.0  # seconds: longest wait for any pipelined/batched/oneway result


# ---- the served object (same code behind every server) ----------------------------------------


class Service:
    def __init__(self) -> None:
        self._big = b"x" * BIG_SIZE
        self._hits = 0
        self._lock = threading.Lock()

    def echo(self, value: Any) -> Any:
        return value

    def data(self, size: int) -> bytes:
        return self._big if size == BIG_SIZE else b"x" * size

    # zpyro.oneway only sets `_pyroOneway`, which Pyro5 reads too: oneway on both servers
    @zpyro.oneway
    def bump(self) -> None:
        """Oneway: count one call (scenario "oneway")."""
        with self._lock:
            self._hits += 1

    def count(self) -> int:
        """How many bump() calls have run so far."""
        with self._lock:
            return self._hits


# ---- raw pyzmq RPC: frames [serializer name, dumps((method, args))] ----------------------------


def _json_dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _msgpack_dumps(obj: Any) -> bytes:
    return msgpack.packb(obj)  # type: ignore[no-any-return]


RAW_SERIALIZERS: dict[str, tuple[Callable[[Any], bytes], Callable[[Any], Any]]] = {
    "serpent": (serpent.dumps, serpent.loads),
    "json": (_json_dumps, json.loads),
    "msgpack": (_msgpack_dumps, msgpack.unpackb),
    "marshal": (marshal.dumps, marshal.loads),
}


class RawClient:
    """The hand-written DEALER side: dumps, send 2 frames, recv, loads."""

    def __init__(self, address: str, serializer: str = "serpent", pipelined: bool = False) -> None:
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        if pipelined:  # no HWM: all requests queue up before the first reply is read
            self.sock.sndhwm = self.sock.rcvhwm = 0
            self.sock.rcvtimeo = self.sock.sndtimeo = int(RESULT_TIMEOUT * 1000)
        self.sock.connect(address)
        self.tag = serializer.encode()
        self.dumps, self.loads = RAW_SERIALIZERS.get(serializer, (bytes, bytes))

    def call(self, method: str, *args: Any) -> Any:
        self.sock.send_multipart([self.tag, self.dumps((method, args))])
        return self.loads(self.sock.recv_multipart()[1])

    def call_big(self, method: str, *args: Any) -> Any:
        """A call whose result may come as its own frame (received without copy, made bytes)."""
        self.sock.send_multipart([self.tag, self.dumps((method, args))])
        frames = self.sock.recv_multipart(copy=False)
        return frames[2].bytes if len(frames) > 2 else self.loads(frames[1].bytes)

    def pipelined(self, method: str, args: list[tuple[Any, ...]]) -> list[Any]:
        """Send every request, then receive every reply (in order: one single-threaded server).

        Needs ``pipelined=True`` (no HWM, and a receive timeout of RESULT_TIMEOUT).
        """
        send, tag, dumps = self.sock.send_multipart, self.tag, self.dumps
        for a in args:
            send([tag, dumps((method, a))])
        recv, loads = self.sock.recv_multipart, self.loads
        return [loads(recv()[1]) for _ in range(len(args))]

    def echo_bytes(self, payload: bytes) -> bytes:
        self.sock.send_multipart([ECHO_TAG, payload])
        return self.sock.recv_multipart()[1]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sock.close(linger=0)


def raw_one_shot(address: str, payload: bytes) -> Any:
    """New DEALER + connect + one serpent call + close."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(address)
    try:
        sock.send_multipart([b"serpent", payload])
        return serpent.loads(sock.recv_multipart()[1])
    finally:
        sock.close(linger=0)


# ---- server processes -------------------------------------------------------------------------


def _ready(address: str) -> None:
    print(f"READY {address}", flush=True)


def _exit_with_parent() -> None:
    """Exit as soon as stdin (a pipe from the parent) closes, so no server outlives the bench."""

    def watch() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def serve_zpyro(deadline: float) -> None:
    daemon = zpyro.Daemon(host=HOST, serializers_accepted=ZPYRO_SERIALIZERS)
    uri = daemon.register(zpyro.expose(Service)(), OBJECT_ID)
    _ready(str(uri))
    daemon.request_loop(lambda: time.monotonic() < deadline)
    daemon.close()


def serve_pyro5(deadline: float) -> None:
    import Pyro5.api

    # Pyro5 5.x accepts serpent, json, marshal and msgpack (it has no SERIALIZERS_ACCEPTED);
    # the client picks with config.SERIALIZER. SERVERTYPE "thread" is the default.
    Pyro5.config.SERVERTYPE = "thread"
    daemon = Pyro5.api.Daemon(host=HOST)
    uri = daemon.register(Pyro5.api.expose(Service)(), OBJECT_ID)
    _ready(str(uri))
    daemon.requestLoop(lambda: time.monotonic() < deadline)
    daemon.close()


def serve_raw(deadline: float) -> None:
    """Single-threaded ROUTER: loads, call, dumps, reply."""
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.linger = 0
    sock.sndhwm = sock.rcvhwm = 0  # a ROUTER drops replies at its HWM: pipelined clients
    port = sock.bind_to_random_port(f"tcp://{HOST}")
    service = Service()
    _ready(f"tcp://{HOST}:{port}")
    while time.monotonic() < deadline:
        if not sock.poll(500):
            continue
        for _ in range(256):
            try:
                ident, tag, payload = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if tag == ECHO_TAG:
                sock.send_multipart([ident, tag, payload])
                continue
            dumps, loads = RAW_SERIALIZERS[tag.decode()]
            method, args = loads(payload)
            result = getattr(service, method)(*args)
            if isinstance(result, bytes) and len(result) >= BIG_THRESHOLD:
                sock.send_multipart([ident, tag, b""], zmq.SNDMORE)
                sock.send(result, copy=False)
            else:
                sock.send_multipart([ident, tag, dumps(result)])
    sock.close(linger=0)


SERVERS: dict[str, Callable[[float], None]] = {
    "zpyro": serve_zpyro,
    "pyro5": serve_pyro5,
    "raw": serve_raw,
}


# ---- client processes (scenario "clients4") ---------------------------------------------------


def make_caller(kind: str, address: str, serializer: str) -> tuple[Callable[[], Any], Any]:
    """A no-argument small call for `kind`, and the object to close afterwards."""
    if kind == "zpyro":
        zp = zpyro.Proxy(address)
        zp._pyroSerializer = serializer
        return (lambda: zp.echo("hello")), zp
    if kind == "pyro5":
        import Pyro5.api

        Pyro5.config.SERIALIZER = serializer
        pp = Pyro5.api.Proxy(address)
        return (lambda: pp.echo("hello")), pp
    raw = RawClient(address, serializer)
    return (lambda: raw.call("echo", "hello")), raw


def close_quietly(thing: Any) -> None:
    for name in ("_pyroRelease", "close"):
        method = getattr(thing, name, None)
        if method is not None:
            try:
                method()
            except Exception:
                pass
            return


def run_client(kind: str, address: str, serializer: str, count: int) -> None:
    """Warm up, print READY; then per 'go' line: `count` calls, print 'start end'."""
    call, handle = make_caller(kind, address, serializer)
    for _ in range(max(50, count // 10)):
        call()
    _ready(kind)
    for _ in range(MAX_CLIENT_ROUNDS):
        if sys.stdin.readline().strip() != "go":
            break
        start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        for _ in range(count):
            call()
        print(f"{start!r} {time.perf_counter()!r}", flush=True)
    close_quietly(handle)


# ---- child process handling -------------------------------------------------------------------


class Child:
    """A subprocess of this script, talked to by lines on stdin/stdout; stopped by its pid."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._buf = b""

    def read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line from {self.proc.args[2:]} within {timeout} s")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"{self.proc.args[2:]} exited ({self.proc.wait(5)})")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode().strip()

    def expect_ready(self, timeout: float = 60.0) -> str:
        line = self.read_line(timeout)
        if not line.startswith("READY "):
            raise RuntimeError(f"unexpected line from {self.proc.args[2:]}: {line!r}")
        return line.split(" ", 1)[1]

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.terminate()  # SIGTERM to this pid only
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def children(argvs: list[list[str]]) -> Iterator[list[Child]]:
    started: list[Child] = []
    try:
        for argv in argvs:
            started.append(Child(*argv))
        yield started
    finally:
        for child in started:
            child.stop()


# ---- results ----------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    unit: str  # "calls/s" or "MB/s"; higher is better
    zpyro: float | None = None
    raw: float | None = None
    pyro5: float | None = None
    min_vs_raw: float | None = None  # target: zpyro / raw >= this
    min_vs_pyro5: float | None = None  # target: zpyro / Pyro5 >= this
    min_zpyro: float | None = None  # target: the zpyro figure itself >= this (in `unit`)
    notes: str = ""

    @property
    def ratio_raw(self) -> float | None:
        return _ratio(self.zpyro, self.raw)

    @property
    def ratio_pyro5(self) -> float | None:
        return _ratio(self.zpyro, self.pyro5)

    @property
    def target(self) -> str:
        parts = []
        if self.min_vs_raw is not None:
            parts.append(f">= {self.min_vs_raw:g}x raw")
        if self.min_vs_pyro5 is not None:
            parts.append(f">= {self.min_vs_pyro5:g}x Pyro5")
        if self.min_zpyro is not None:
            parts.append(f">= {self.min_zpyro:,.0f} {self.unit}")
        return ", ".join(parts) or "-"

    @property
    def met(self) -> bool | None:
        checks = [
            (self.ratio_raw, self.min_vs_raw),
            (self.ratio_pyro5, self.min_vs_pyro5),
            (self.zpyro, self.min_zpyro),
        ]
        wanted = [(r, m) for r, m in checks if m is not None]
        if not wanted:
            return None
        return all(r is not None and r >= m for r, m in wanted)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ratio_vs_raw=self.ratio_raw, ratio_vs_pyro5=self.ratio_pyro5)
        d.update(target=self.target, met=self.met)
        return d


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} {unit}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render_table(rows: list[Row]) -> str:
    head = ["scenario", "zpyro", "raw pyzmq", "Pyro5", "ratio vs raw", "ratio vs Pyro5"]
    head += ["target", "met?"]
    body = [
        [
            r.scenario,
            _num(r.zpyro, r.unit),
            _num(r.raw, r.unit),
            _num(r.pyro5, r.unit),
            _x(r.ratio_raw),
            _x(r.ratio_pyro5),
            r.target,
            {None: "-", True: "yes", False: "NO"}[r.met],
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(head), sep, *(fmt(line) for line in body)])


# ---- measuring --------------------------------------------------------------------------------


def timed_rate(fn: Callable[[], Any], seconds: float, batch: int = 10) -> float:
    """Calls of fn per second over a round of about `seconds` (at least one batch)."""
    calls = 0
    start = now = time.perf_counter()
    deadline = start + seconds
    while calls < MAX_CALLS:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            break
    return calls / (now - start)


@dataclass
class Bench:
    """What scenarios get: server addresses, settings and measuring helpers."""

    addresses: dict[str, str]
    quick: bool
    rounds: int = 5
    round_s: float = 0.3
    warmup_s: float = 0.3
    clients: int = 4
    client_calls: int = 3000
    oneway_calls: int = ONEWAY_CALLS
    log: list[str] = field(default_factory=list)

    @property
    def zpyro_uri(self) -> str:
        return self.addresses["zpyro"]

    @property
    def pyro5_uri(self) -> str:
        return self.addresses["pyro5"]

    @property
    def raw_address(self) -> str:
        return self.addresses["raw"]

    def compare(
        self,
        row: Row,
        contenders: dict[str, Callable[[], Any]],
        batch: int = 10,
        scale: float = 1.0,
    ) -> None:
        """Fill row.<contender> with the best rate (times `scale`) of interleaved rounds.

        Every contender is warmed up, then the rounds alternate between them (A B C A B C ...),
        so a slow patch of the machine hits all of them instead of one.
        """
        for fn in contenders.values():
            timed_rate(fn, self.warmup_s, batch)
        best = dict.fromkeys(contenders, 0.0)
        for _ in range(self.rounds):
            for name, fn in contenders.items():
                best[name] = max(best[name], timed_rate(fn, self.round_s, batch))
        for name, rate in best.items():
            setattr(row, name, rate * scale)

    def zpyro_proxy(self, serializer: str) -> zpyro.Proxy:
        proxy = zpyro.Proxy(self.zpyro_uri)
        proxy._pyroSerializer = serializer
        proxy._pyroBind()
        return proxy

    def pyro5_proxy(self, serializer: str) -> Any:
        import Pyro5.api

        Pyro5.config.SERIALIZER = serializer
        proxy = Pyro5.api.Proxy(self.pyro5_uri)
        proxy._pyroSerializer = serializer  # else config.SERIALIZER at call time
        proxy._pyroBind()
        return proxy

    @contextmanager
    def using(self, thing: Any) -> Iterator[Any]:
        try:
            yield thing
        finally:
            close_quietly(thing)


SCENARIOS: dict[str, Callable[[Bench], list[Row]]] = {}


def scenario(name: str) -> Callable[[Callable[[Bench], list[Row]]], Callable[[Bench], list[Row]]]:
    def register(fn: Callable[[Bench], list[Row]]) -> Callable[[Bench], list[Row]]:
        SCENARIOS[name] = fn
        return fn

    return register


def _check(value: Any, expected: Any, what: str) -> None:
    if value != expected:
        raise AssertionError(f"{what}: got {value!r:.80}, expected {expected!r:.80}")


# ---- scenarios --------------------------------------------------------------------------------


@scenario("sync")
def sync_small_calls(b: Bench) -> list[Row]:
    """1. p.echo("hello") on one connected proxy, one thread."""
    rows = []
    plan = [  # serializer, with Pyro5?, targets (vs raw, vs Pyro5)
        ("serpent", True, (0.85, 1.3)),
        ("marshal", True, (None, None)),
        ("json", False, (None, None)),
        ("msgpack", False, (None, None)),
    ]
    for ser, with_pyro5, (t_raw, t_pyro5) in plan:
        row = Row(f"sync echo [{ser}]", "calls/s", min_vs_raw=t_raw, min_vs_pyro5=t_pyro5)
        _sync_echo(b, row, ser, with_pyro5)
        rows.append(row)
    echo = Row("raw bytes echo (no serializer)", "calls/s", notes="reference only")
    with b.using(RawClient(b.raw_address, "echo")) as raw:
        _check(raw.echo_bytes(b"hello"), b"hello", "raw bytes echo")
        b.compare(echo, {"raw": lambda: raw.echo_bytes(b"hello")})
    rows.append(echo)
    return rows


def _sync_echo(b: Bench, row: Row, ser: str, with_pyro5: bool) -> None:
    with ExitStack() as stack:
        p = stack.enter_context(b.using(b.zpyro_proxy(ser)))
        raw = stack.enter_context(b.using(RawClient(b.raw_address, ser)))
        contenders = {"zpyro": lambda: p.echo("hello"), "raw": lambda: raw.call("echo", "hello")}
        if with_pyro5:
            pp = stack.enter_context(b.using(b.pyro5_proxy(ser)))
            contenders["pyro5"] = lambda: pp.echo("hello")
        for name, fn in contenders.items():
            _check(fn(), "hello", f"{name} {ser} echo")
        b.compare(row, contenders)


@scenario("newproxy")
def new_proxy_calls(b: Bench) -> list[Row]:
    """2. A new proxy (connection) for every call: connect, call, release."""
    import Pyro5.api

    row = Row("new proxy + 1 call [serpent]", "calls/s", min_vs_raw=0.8)
    payload = serpent.dumps(("echo", ("hello",)))

    def zpyro_once() -> None:
        with zpyro.Proxy(b.zpyro_uri) as p:
            p.echo("hello")

    def pyro5_once() -> None:
        with Pyro5.api.Proxy(b.pyro5_uri) as p:
            p.echo("hello")

    Pyro5.config.SERIALIZER = "serpent"
    _check(raw_one_shot(b.raw_address, payload), "hello", "raw one-shot echo")
    contenders = {
        "zpyro": zpyro_once,
        "raw": lambda: raw_one_shot(b.raw_address, payload),
        "pyro5": pyro5_once,
    }
    b.compare(row, contenders, batch=5)
    return [row]


@scenario("bigdata")
def big_result(b: Bench) -> list[Row]:
    """3. p.data(50_000_000): a prebuilt 50 MB bytes object as the result (MB/s)."""
    rows = []
    for ser in ("serpent", "json", "msgpack"):
        row = Row(f"50 MB bytes result [{ser}]", "MB/s", min_vs_raw=0.8)
        _big_result(b, row, ser)
        if ser == "serpent":
            row.pyro5 = _pyro5_big_result(b, ser)
            row.notes = "Pyro5: 1 call, 1 round"
        rows.append(row)
    return rows


def _big_result(b: Bench, row: Row, ser: str) -> None:
    with ExitStack() as stack:
        p = stack.enter_context(b.using(b.zpyro_proxy(ser)))
        raw = stack.enter_context(b.using(RawClient(b.raw_address, ser)))
        contenders = {
            "zpyro": lambda: p.data(BIG_SIZE),
            "raw": lambda: raw.call_big("data", BIG_SIZE),
        }
        for name, fn in contenders.items():
            got = fn()
            _check((type(got), len(got)), (bytes, BIG_SIZE), f"{name} {ser} data")
            del got
        b.compare(row, contenders, batch=1, scale=BIG_SIZE / 1e6)


def _pyro5_big_result(b: Bench, ser: str) -> float:
    """MB/s of one 50 MB call (Pyro5 is too slow for rounds); the bytes made bytes again."""
    with b.using(b.pyro5_proxy(ser)) as pp:
        pp.data(1000)  # warm up with a small one
        start = time.perf_counter()
        got = pp.data(BIG_SIZE)  # a base64 dict unless SERPENT_BYTES_REPR
        got = serpent.tobytes(got) if isinstance(got, dict) else got
        rate = BIG_SIZE / 1e6 / (time.perf_counter() - start)
        _check((type(got), len(got)), (bytes, BIG_SIZE), "Pyro5 data")
        return rate


@scenario("clients4")
def concurrent_clients(b: Bench) -> list[Row]:
    """4. N client processes doing sync small calls against ONE server: total calls/s."""
    row = Row(
        f"{b.clients} client processes, sync echo [serpent]",
        "calls/s",
        min_vs_raw=0.7,
        notes=f"{b.client_calls} calls per client per round",
    )
    row.zpyro = multi_client_rate(b, "zpyro", b.zpyro_uri)
    row.raw = multi_client_rate(b, "raw", b.raw_address)
    row.pyro5 = multi_client_rate(b, "pyro5", b.pyro5_uri)
    return [row]


def multi_client_rate(b: Bench, kind: str, address: str) -> float:
    argv = ["--client", kind, "--address", address, "--count", str(b.client_calls)]
    argv += ["--serializer", "serpent"]
    best = 0.0
    with children([argv] * b.clients) as procs:
        for proc in procs:
            proc.expect_ready()
        for _ in range(b.rounds):
            for proc in procs:
                proc.send("go")
            spans = [tuple(map(float, p.read_line(120.0).split())) for p in procs]
            elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
            best = max(best, b.clients * b.client_calls / elapsed)
    return best


def _missing(feature: str) -> str | None:
    """None if zpyro has `feature` ("asyncproxy", "BatchProxy", "aio"), else a note."""
    if feature == "aio":
        try:
            from zpyro import aio  # noqa: F401
        except ImportError:
            return "zpyro.aio missing: zpyro not measured"
        return None
    return None if hasattr(zpyro, feature) else f"zpyro.{feature} missing: zpyro not measured"


def _raw_pipelined(b: Bench, stack: ExitStack, n: int) -> Callable[[], Any]:
    """Raw: one DEALER sends n serpent echo requests, then receives the n replies."""
    raw = stack.enter_context(b.using(RawClient(b.raw_address, "serpent", pipelined=True)))
    args = [(i,) for i in range(n)]
    _check(raw.pipelined("echo", args), list(range(n)), "raw pipelined echo")
    return lambda: raw.pipelined("echo", args)


@scenario("pipelined")
def pipelined_calls(b: Bench) -> list[Row]:
    """5. PIPELINE_CALLS futures outstanding at once on one proxy: submit all, then wait all."""
    n = PIPELINE_CALLS
    row = Row(f"pipelined {n} futures [serpent]", "calls/s", min_vs_raw=0.4)
    with ExitStack() as stack:
        contenders = {"raw": _raw_pipelined(b, stack, n)}
        row.notes = _missing("asyncproxy") or ""
        if not row.notes:
            p = stack.enter_context(b.using(b.zpyro_proxy("serpent")))
            a = stack.enter_context(b.using(zpyro.asyncproxy(p)))  # a copy of p: closed too

            def zpyro_pipelined() -> list[Any]:
                futures = [a.echo(i) for i in range(n)]
                return [f.result(RESULT_TIMEOUT) for f in futures]

            _check(zpyro_pipelined(), list(range(n)), "zpyro pipelined echo")
            contenders = {"zpyro": zpyro_pipelined, **contenders}
        b.compare(row, contenders, batch=1, scale=n)
    return [row]


@scenario("aiogather")
def aio_gather(b: Bench) -> list[Row]:
    """6. aio.Proxy + asyncio.gather of PIPELINE_CALLS calls, vs raw pipelined."""
    n = PIPELINE_CALLS
    row = Row(f"aio.Proxy gather {n} calls [serpent]", "calls/s", min_vs_raw=0.3)
    with ExitStack() as stack:
        contenders = {"raw": _raw_pipelined(b, stack, n)}
        row.notes = _missing("aio") or ""
        if not row.notes:
            contenders = {"zpyro": _aio_gatherer(b, stack, n), **contenders}
        b.compare(row, contenders, batch=1, scale=n)
    return [row]


def _aio_gatherer(b: Bench, stack: ExitStack, n: int) -> Callable[[], Any]:
    """A sync function running one gather of n calls on a loop and aio.Proxy kept open."""
    from zpyro import aio

    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    astack = AsyncExitStack()
    stack.callback(lambda: loop.run_until_complete(asyncio.wait_for(astack.aclose(), 10)))
    proxy = aio.Proxy(b.zpyro_uri)
    proxy._pyroSerializer = "serpent"  # the default; set as the raw side uses serpent
    proxy = loop.run_until_complete(astack.enter_async_context(proxy))

    async def gather() -> list[Any]:
        calls = asyncio.gather(*(proxy.echo(i) for i in range(n)))
        return await asyncio.wait_for(calls, RESULT_TIMEOUT)

    def run() -> list[Any]:
        return loop.run_until_complete(gather())

    _check(run(), list(range(n)), "zpyro aio gather echo")
    return run


@scenario("oneway")
def oneway_calls(b: Bench) -> list[Row]:
    """7. oneway bump() calls from one proxy, timed until the server has run all of them."""
    n = b.oneway_calls
    row = Row(f"oneway {n} calls, confirmed [serpent]", "calls/s", min_zpyro=50_000)
    row.notes = "until a sync count() sees all N run"
    with ExitStack() as stack:
        p = stack.enter_context(b.using(b.zpyro_proxy("serpent")))
        pp = stack.enter_context(b.using(b.pyro5_proxy("serpent")))
        _check("bump" in p._pyroOneway, True, "zpyro sees bump as oneway")
        _check("bump" in pp._pyroOneway, True, "Pyro5 sees bump as oneway")
        contenders = {"zpyro": _oneway_run(p, n, "zpyro"), "pyro5": _oneway_run(pp, n, "Pyro5")}
        # fewer rounds: one run of N is already long; a warmup of 0 s is still one run
        rounds, warmup = b.rounds, b.warmup_s
        b.rounds, b.warmup_s = min(3, b.rounds), 0.0
        try:
            b.compare(row, contenders, batch=1, scale=n)
        finally:
            b.rounds, b.warmup_s = rounds, warmup
    return [row]


def _oneway_run(proxy: Any, n: int, who: str) -> Callable[[], None]:
    def run() -> None:
        start = proxy.count()
        bump = proxy.bump
        for _ in range(n):
            bump()
        deadline = time.monotonic() + RESULT_TIMEOUT
        while proxy.count() - start < n:  # a sync call: the time runs until all N have run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{who}: {n} oneway calls not all run in {RESULT_TIMEOUT} s")
            time.sleep(0.0005)
        _check(proxy.count() - start, n, f"{who} oneway calls run")

    return run


@scenario("batch")
def batch_calls(b: Bench) -> list[Row]:
    """8. BATCH_CALLS echo calls in one batch: zpyro.BatchProxy vs Pyro5.api.BatchProxy."""
    import Pyro5.api

    n = BATCH_CALLS
    rows = []
    for ser, target in (("serpent", 2.0), ("msgpack", 1.0)):
        row = Row(f"batch of {n} calls [{ser}]", "calls/s", min_vs_pyro5=target)
        with ExitStack() as stack:
            pp = stack.enter_context(b.using(b.pyro5_proxy(ser)))

            def pyro5_batch(pp: Any = pp) -> list[Any]:
                batch = Pyro5.api.BatchProxy(pp)
                for i in range(n):
                    batch.echo(i)
                return list(batch())

            contenders = {"pyro5": pyro5_batch}
            row.notes = _missing("BatchProxy") or ""
            if not row.notes:
                p = stack.enter_context(b.using(b.zpyro_proxy(ser)))

                def zpyro_batch(p: Any = p) -> list[Any]:
                    batch = zpyro.BatchProxy(p)
                    for i in range(n):
                        batch.echo(i)
                    return list(batch())

                contenders = {"zpyro": zpyro_batch, **contenders}
            for name, fn in contenders.items():
                _check(fn(), list(range(n)), f"{name} {ser} batch")
            b.compare(row, contenders, batch=1, scale=n)
        rows.append(row)
    return rows


# ---- main -------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import Pyro5

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "pyzmq": zmq.pyzmq_version(),
        "libzmq": zmq.zmq_version(),
        "zpyro": zpyro.__version__,
        "Pyro5": Pyro5.__version__,
        "serpent": serpent.__version__,
        "msgpack": ".".join(map(str, msgpack.version)),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def run(args: argparse.Namespace) -> int:
    names = [args.only] if args.only else list(SCENARIOS)
    b = Bench(addresses={}, quick=args.quick)
    if args.quick:
        b.rounds, b.round_s, b.warmup_s, b.client_calls = 3, 0.1, 0.05, 300
        b.oneway_calls = ONEWAY_CALLS_QUICK
    started = time.monotonic()
    rows: list[Row] = []
    with children([["--serve", kind] for kind in SERVERS]) as servers:
        for kind, child in zip(SERVERS, servers, strict=True):
            b.addresses[kind] = child.expect_ready()
        for name in names:
            t0 = time.monotonic()
            new_rows = SCENARIOS[name](b)
            rows += new_rows
            print(f"[{name}: {time.monotonic() - t0:.1f} s]", file=sys.stderr, flush=True)
    env = environment()
    env["quick"] = args.quick
    env["duration_s"] = round(time.monotonic() - started, 1)
    print(
        f"zpyro {env['zpyro']} / Pyro5 {env['Pyro5']} / pyzmq {env['pyzmq']} "
        f"(libzmq {env['libzmq']}) / Python {env['python']} / {env['cpu_count']} CPUs"
        f" / {env['duration_s']} s{' / QUICK' if args.quick else ''}"
    )
    print(render_table(rows))
    for r in rows:
        if r.notes:
            print(f"  note, {r.scenario}: {r.notes}")
    result = {**env, "rows": [r.as_dict() for r in rows]}
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    default_json = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short rounds (smoke run, < 40 s)")
    ap.add_argument("--only", choices=list(SCENARIOS), help="run one scenario")
    ap.add_argument("--json", default=default_json, help="where to write the figures")
    ap.add_argument("--serve", choices=list(SERVERS), help=argparse.SUPPRESS)
    ap.add_argument("--client", choices=["zpyro", "raw", "pyro5"], help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    ap.add_argument("--serializer", default="serpent", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=1000, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        _exit_with_parent()
        SERVERS[args.serve](time.monotonic() + SERVER_LIFETIME)
        return 0
    if args.client:
        run_client(args.client, args.address, args.serializer, args.count)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
