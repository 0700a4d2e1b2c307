"""Shared pieces of the gateway tests: a real broker, a daemon of test objects and the gateway
itself as a subprocess (``python -m zpyro.gateway``), all on 127.0.0.1 with free ports.

Readiness is always a READY line; waits on the gateway's view of the names are
``eventually(...)`` polls of its HTTP answers (the only thing a gateway user can see).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from conftest import FAST_HEARTBEAT_ENV, PYTHON, BrokerProcess, ServedDaemon, Spawned, scaled

import zpyro

WAIT = scaled(15)


@zpyro.expose
@zpyro.behavior(instance_mode="single")
class Things:
    """What the gateway tests call (served in the test process, so its state can be read)."""

    def __init__(self) -> None:
        self.notes: list[Any] = []
        self.noted_event = threading.Event()
        self.streams_closed = threading.Event()
        self.produced = 0
        self.lock = threading.Lock()

    def echo(self, x: Any = "?") -> Any:
        return x

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def pair(self, a: Any, b: Any = "default") -> list[Any]:
        return [a, b]

    def fail(self) -> None:
        raise ValueError("failed on purpose")

    def sleep(self, seconds: Any) -> float:
        time.sleep(float(seconds))
        return float(seconds)

    def correlation(self) -> Any:
        return zpyro.current_context.correlation_id

    def blob(self) -> bytes:
        return b"\x00\x01zpyro"

    def odd_numbers(self) -> list[float]:
        return [float("nan"), float("inf"), 1.5]

    def count(self, n: Any):  # type: ignore[no-untyped-def]
        return (i for i in range(int(n)))

    def count_then_fail(self, n: Any):  # type: ignore[no-untyped-def]
        yield from range(int(n))
        raise KeyError("the stream broke")

    def endless(self, size: Any = 10):  # type: ignore[no-untyped-def]
        """Items of `size` KB, forever; notes how many it made and when it is closed."""
        item = "x" * (int(size) * 1024)
        try:
            while True:
                with self.lock:
                    self.produced += 1
                yield item
        finally:
            self.streams_closed.set()

    @zpyro.oneway
    def note(self, x: Any) -> None:
        with self.lock:
            self.notes.append(x)
        self.noted_event.set()

    def noted(self) -> list[Any]:
        with self.lock:
            return list(self.notes)

    @property
    def motto(self) -> str:
        return "objects over HTTP"

    def _hidden(self) -> str:
        return "never"


class GatewayProcess:
    """``python -m zpyro.gateway`` on 127.0.0.1, a free port, ready (its READY line read)."""

    def __init__(self, spawned: Spawned) -> None:
        self.spawned = spawned
        self.ready_line = spawned.wait_for("READY", timeout=30)
        self.url = self.ready_line.split()[1]  # http://127.0.0.1:PORT/
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])

    def client(self, **kw: Any) -> httpx.Client:
        kw.setdefault("timeout", scaled(20))
        return httpx.Client(base_url=self.url, **kw)

    def stop(self) -> int:
        self.spawned.stop()
        return self.spawned.proc.returncode


def gateway_args(ns_port: int, pub_port: int, *extra: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "zpyro.gateway",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ns-host",
        "127.0.0.1",
        "--ns-port",
        str(ns_port),
        "--ns-pub-port",
        str(pub_port),
        *extra,
    ]


@contextlib.contextmanager
def processes() -> Iterator[Callable[..., Spawned]]:
    """spawn(args, env=None) for a module's fixtures; every process is stopped by its pid."""
    started: list[Spawned] = []

    def spawn(args: list[str], env: dict[str, str] | None = None) -> Spawned:
        proc = Spawned(args, {**FAST_HEARTBEAT_ENV, **(env or {})})
        started.append(proc)
        return proc

    try:
        yield spawn
    finally:
        for proc in started:
            proc.stop()


def start_broker(spawn: Callable[..., Spawned]) -> BrokerProcess:
    args = [PYTHON, "-m", "zpyro.broker", "--host", "127.0.0.1", "--port", "0", "--pub-port", "0"]
    return BrokerProcess(spawn([*args, "--storage", "memory"]))


def start_gateway(
    spawn: Callable[..., Spawned],
    broker: BrokerProcess,
    *extra: str,
    env: dict[str, str] | None = None,
) -> GatewayProcess:
    env = {"ZPYRO_GATEWAY_KEY": "", **(env or {})}  # no key unless a test gives one
    return GatewayProcess(spawn(gateway_args(broker.port, broker.pub_port, *extra), env))


class Cluster:
    """A broker, a direct daemon serving Things as http.things, and a gateway in front."""

    def __init__(self, spawn: Callable[..., Spawned], *gateway_extra: str) -> None:
        self.spawn = spawn
        self.broker = start_broker(spawn)
        self.things = Things()
        self.served = ServedDaemon(zpyro.Daemon(host="127.0.0.1"))
        self.uri = self.served.register(self.things, "things")
        self.ns = zpyro.locate_ns("127.0.0.1", self.broker.port)
        self.ns.register("http.things", self.uri, metadata={"kind:test"})
        self.ns.register("hidden.things", self.uri)
        self.gateway = start_gateway(spawn, self.broker, *gateway_extra)

    def close(self) -> None:
        self.ns._pyroRelease()
        self.served.stop()
