"""What one fresh client process does: ``bench.py --client SPEC`` (SPEC is JSON).

The process imports what its contender needs, prints ``READY``, and waits for ``go T0`` on
stdin. From T0 (CLOCK_MONOTONIC, so several clients start together) it is timed: it makes its
proxy or socket, its first call (connect, handshake, metadata: what a program pays) and then
calls until ``seconds`` have passed, finishing the calls still in flight. It prints
``RESULT calls start end cpu`` (cpu: its own user + system seconds in that span, all threads),
waits for one more line (the bench reads the servers' CPU meanwhile), then releases and exits.
Nothing before T0 is timed, and no call is made before it: every contender starts equally cold.

A workload is ``fn(spec, deadline) -> (calls, cleanup)``; ``WORKLOADS[workload][kind]``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from raw_protocol import RAW_SERIALIZERS, bytes_message
from servers import BIG_SIZE, OBJECT_ID, cpu_seconds, thread_stats

Cleanup = Callable[[], None]
Workload = Callable[[dict[str, Any], float], tuple[int, Cleanup]]
RESULT_TIMEOUT = 60.0  # longest wait for any single result
WINDOW = 1000  # calls in flight in the "window" workload
BATCH_CALLS = 2000
POOL_JOBS = 400
INT_ARG = 123_456  # the argument of a bytes-only message (its size stands for echo(i))
STEP = 10  # calls between two clock reads

IMPORTS = {  # what each contender's process imports before READY
    "zpyro": ["zpyro"],
    "zpyro-aio": ["zpyro", "zpyro.aio"],
    "pyro5": ["Pyro5.api", "serpent"],
    "rpyc": ["rpyc"],
    "raw": ["zmq"],
    "rawrpc": ["zmq"],
}


def _nothing() -> None:
    pass


def _release(proxy: Any) -> Cleanup:
    return proxy._pyroRelease  # type: ignore[no-any-return]


def _check(value: Any, expected: Any, what: str) -> None:
    if value != expected:
        raise AssertionError(f"{what}: got {value!r:.80}, expected {expected!r:.80}")


def _loop(call: Callable[[Any], Any], arg: str, deadline: float, step: int = STEP) -> int:
    """Call ``call(x)`` until the deadline; each result must be x. Returns the calls made."""
    clock = time.perf_counter
    n = 0
    if arg == "int":
        while True:
            for i in range(n, n + step):
                if call(i) != i:
                    _check(call(i), i, "echo")
            n += step
            if clock() >= deadline:
                return n
    while True:
        for _ in range(step):
            if call("hello") != "hello":
                _check(call("hello"), "hello", "echo")
        n += step
        if clock() >= deadline:
            return n


# ---- the proxies and sockets ------------------------------------------------------------------


def zpyro_proxy(spec: dict[str, Any]) -> Any:
    import zpyro

    return zpyro.Proxy(spec["address"])


def pyro5_proxy(spec: dict[str, Any]) -> Any:
    import Pyro5.api

    return Pyro5.api.Proxy(spec["address"])


def dealer(address: str, unbounded: bool = False) -> Any:
    import zmq

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    if unbounded:  # no HWM: a whole window queues before the first reply is read
        sock.sndhwm = sock.rcvhwm = 0
        sock.rcvtimeo = int(RESULT_TIMEOUT * 1000)
    sock.connect(address)
    return sock


def raw_bytes_caller(sock: Any, spec: dict[str, Any]) -> Callable[[Any], Any]:
    frames = bytes_message(spec["serializer"], OBJECT_ID, "echo", INT_ARG)
    send, recv = sock.send_multipart, sock.recv_multipart

    def call(x: Any) -> Any:
        send(frames)
        return x if len(recv()) == 3 else None

    return call


def raw_rpc_caller(sock: Any, serializer: str, method: str = "echo") -> Callable[[Any], Any]:
    tag = serializer.encode()
    dumps, loads = RAW_SERIALIZERS[serializer]
    send, recv = sock.send_multipart, sock.recv_multipart

    def call(x: Any) -> Any:
        send([tag, dumps((method, (x,)))])
        return loads(recv()[1])

    return call


# ---- sync: one proxy, echo(i) or echo("hello") -------------------------------------------------


def sync_zpyro(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    p = zpyro_proxy(spec)
    return _loop(lambda x: p.echo(x), spec["arg"], deadline), _release(p)


def sync_pyro5(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    p = pyro5_proxy(spec)
    return _loop(lambda x: p.echo(x), spec["arg"], deadline), _release(p)


def sync_raw(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    sock = dealer(spec["address"])
    return _loop(raw_bytes_caller(sock, spec), spec["arg"], deadline), sock.close


def sync_rawrpc(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    sock = dealer(spec["address"])
    return _loop(raw_rpc_caller(sock, spec["serializer"]), spec["arg"], deadline), sock.close


# ---- newproxy: new proxy, one call, release ----------------------------------------------------


def newproxy_zpyro(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import zpyro

    uri = spec["address"]

    def once(x: Any) -> Any:
        with zpyro.Proxy(uri) as p:
            return p.echo(x)

    return _loop(once, "int", deadline), _nothing


def newproxy_pyro5(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import Pyro5.api

    uri = spec["address"]

    def once(x: Any) -> Any:
        with Pyro5.api.Proxy(uri) as p:
            return p.echo(x)

    return _loop(once, "int", deadline), _nothing


def newproxy_raw(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    frames = bytes_message(spec["serializer"], OBJECT_ID, "echo", INT_ARG)

    def once(x: Any) -> Any:
        sock = dealer(spec["address"])
        try:
            sock.send_multipart(frames)
            return x if len(sock.recv_multipart()) == 3 else None
        finally:
            sock.close(linger=0)

    return _loop(once, "int", deadline), _nothing


# ---- big: a 50 MB bytes result -----------------------------------------------------------------


def _big_loop(call: Callable[[], Any], deadline: float) -> int:
    n = 0
    while True:
        got = call()
        _check((type(got), len(got)), (bytes, BIG_SIZE), "data")
        n += 1
        del got
        if time.perf_counter() >= deadline:
            return n


def big_zpyro(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    p = zpyro_proxy(spec)
    return _big_loop(lambda: p.data(BIG_SIZE), deadline), _release(p)


def big_pyro5(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import serpent

    p = pyro5_proxy(spec)

    def call() -> Any:
        got = p.data(BIG_SIZE)  # serpent: a base64 dict (no SERPENT_BYTES_REPR)
        return serpent.tobytes(got) if isinstance(got, dict) else got

    return _big_loop(call, deadline), _release(p)


def big_raw(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    """Raw RPC; the result comes as its own frame, received without a copy, made bytes."""
    sock = dealer(spec["address"])
    tag = spec["serializer"].encode()
    dumps, loads = RAW_SERIALIZERS[spec["serializer"]]

    def call() -> Any:
        sock.send_multipart([tag, dumps(("data", (BIG_SIZE,)))])
        frames = sock.recv_multipart(copy=False)
        return frames[2].bytes if len(frames) > 2 else loads(frames[1].bytes)

    return _big_loop(call, deadline), sock.close


# ---- window: WINDOW calls in flight, each result awaited in order -------------------------------


def _window_loop(submit: Callable[[int], Any], wait: Callable[[Any], Any], deadline: float) -> int:
    """Keep `window` calls in flight: wait for the oldest, submit the next, until the deadline;
    then wait for the rest. Results must come back in order. Returns the calls made."""
    window: deque[Any] = deque()
    width = WINDOW
    sent = answered = 0
    clock = time.perf_counter
    while True:
        for _ in range(100):
            if len(window) >= width:
                _check(wait(window.popleft()), answered, "windowed echo")
                answered += 1
            window.append(submit(sent))
            sent += 1
        if clock() >= deadline:
            break
    while window:
        _check(wait(window.popleft()), answered, "windowed echo")
        answered += 1
    return sent


def window_zpyro(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import zpyro

    p = zpyro_proxy(spec)
    a = zpyro.asyncproxy(p)
    calls = _window_loop(lambda i: a.echo(i), lambda f: f.result(RESULT_TIMEOUT), deadline)

    def release() -> None:
        a._pyroRelease()
        p._pyroRelease()

    return calls, release


def window_zpyro_aio(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    from zpyro import aio

    async def run() -> int:
        async with aio.Proxy(spec["address"]) as p:
            window: deque[Any] = deque()
            sent = answered = 0
            clock = time.perf_counter
            ensure = asyncio.ensure_future
            while True:
                for _ in range(100):
                    if len(window) >= WINDOW:
                        _check(await window.popleft(), answered, "aio windowed echo")
                        answered += 1
                    window.append(ensure(p.echo(sent)))
                    sent += 1
                if clock() >= deadline:
                    break
            while window:
                _check(await window.popleft(), answered, "aio windowed echo")
                answered += 1
            return sent

    loop = asyncio.new_event_loop()
    calls = loop.run_until_complete(asyncio.wait_for(run(), RESULT_TIMEOUT * 10))
    return calls, loop.close


def window_rpyc(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import rpyc

    host, port = spec["address"].rsplit(":", 1)
    conn = rpyc.connect(host, int(port))
    echo = rpyc.async_(conn.root.echo)
    return _window_loop(lambda i: echo(i), lambda r: r.value, deadline), conn.close


def window_raw(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    sock = dealer(spec["address"], unbounded=True)
    frames = bytes_message(spec["serializer"], OBJECT_ID, "echo", INT_ARG)
    send, recv = sock.send_multipart, sock.recv_multipart

    def submit(i: int) -> int:
        send(frames)
        return i

    def wait(i: int) -> int:
        return i if len(recv()) == 3 else -1

    return _window_loop(submit, wait, deadline), sock.close


# ---- oneway: oneway bump() until the deadline, timed until the server has run them all ----------


def _oneway_run(p: Any, deadline: float, most: int) -> int:
    start = p.count()
    n = 0
    while n < most:
        for _ in range(100):
            p.bump()
        n += 100
        if time.perf_counter() >= deadline:
            break
    give_up = time.monotonic() + RESULT_TIMEOUT
    while p.count() - start < n:  # a sync call: the time runs until all n have run
        if time.monotonic() > give_up:
            raise TimeoutError(f"{n} oneway calls not all run in {RESULT_TIMEOUT} s")
        time.sleep(0.0005)
    _check(p.count() - start, n, "oneway calls run")
    return n


def oneway_zpyro(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    p = zpyro_proxy(spec)
    return _oneway_run(p, deadline, spec["most"]), _release(p)


def oneway_pyro5(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    p = pyro5_proxy(spec)
    return _oneway_run(p, deadline, spec["most"]), _release(p)


# ---- batch: BATCH_CALLS echo(i) in one batch, batches until the deadline ------------------------


def _batch_loop(make: Callable[[], Any], deadline: float) -> int:
    expected = list(range(BATCH_CALLS))
    n = 0
    while True:
        batch = make()
        for i in expected:
            batch.echo(i)
        _check(list(batch()), expected, "batch")
        n += BATCH_CALLS
        if time.perf_counter() >= deadline:
            return n


def batch_zpyro(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import zpyro

    p = zpyro_proxy(spec)
    return _batch_loop(lambda: zpyro.BatchProxy(p), deadline), _release(p)


def batch_pyro5(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import Pyro5.api

    p = pyro5_proxy(spec)
    return _batch_loop(lambda: Pyro5.api.BatchProxy(p), deadline), _release(p)


# ---- pool: POOL_JOBS futures of job(i) on a brokered pool (one run, no deadline) ----------------


def pool_zpyro(spec: dict[str, Any], deadline: float) -> tuple[int, Cleanup]:
    import zpyro

    a = zpyro.asyncproxy(zpyro_proxy(spec))
    futures = [a.job(i) for i in range(POOL_JOBS)]
    _check([f.result(RESULT_TIMEOUT) for f in futures], list(range(POOL_JOBS)), "pool jobs")
    return POOL_JOBS, _release(a)


WORKLOADS: dict[str, dict[str, Workload]] = {
    "sync": {
        "zpyro": sync_zpyro,
        "pyro5": sync_pyro5,
        "raw": sync_raw,
        "rawrpc": sync_rawrpc,
    },
    "newproxy": {"zpyro": newproxy_zpyro, "pyro5": newproxy_pyro5, "raw": newproxy_raw},
    "big": {"zpyro": big_zpyro, "pyro5": big_pyro5, "raw": big_raw},
    "window": {
        "zpyro": window_zpyro,
        "zpyro-aio": window_zpyro_aio,
        "rpyc": window_rpyc,
        "raw": window_raw,
    },
    "oneway": {"zpyro": oneway_zpyro, "pyro5": oneway_pyro5},
    "batch": {"zpyro": batch_zpyro, "pyro5": batch_pyro5},
    "pool": {"zpyro": pool_zpyro},
}


def prepare(spec: dict[str, Any]) -> None:
    """Imports and settings: the untimed part of the process's start."""
    for module in IMPORTS[spec["kind"]]:
        importlib.import_module(module)
    serializer = spec.get("serializer", "serpent")
    if spec["kind"].startswith("zpyro"):
        import zpyro

        zpyro.config.SERIALIZER = serializer
    elif spec["kind"] == "pyro5":
        import Pyro5.api

        Pyro5.config.SERIALIZER = serializer


def client_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    workload = WORKLOADS[spec["workload"]][spec["kind"]]
    prepare(spec)
    print("READY client", flush=True)
    words = sys.stdin.readline().split()
    if not words or words[0] != "go":
        return 1
    t0 = float(words[1])
    while (wait := t0 - time.perf_counter()) > 0:
        time.sleep(wait)
    before = thread_stats() if spec.get("threads") else []
    cpu0 = cpu_seconds()
    start = time.perf_counter()
    calls, cleanup = workload(spec, start + spec["seconds"])
    end = time.perf_counter()
    cpu = cpu_seconds() - cpu0
    print(f"RESULT {calls} {start!r} {end!r} {cpu!r}", flush=True)
    if spec.get("threads"):  # bench/profile_calls.py: where this process's CPU went, per thread
        print(f"THREADS {json.dumps({'before': before, 'after': thread_stats()})}", flush=True)
    sys.stdin.readline()  # the bench has read the servers' CPU: release now
    cleanup()
    return 0
