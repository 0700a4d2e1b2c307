"""Shared fixtures: daemons in threads or subprocesses, ready before the test goes on.

Readiness is always an event or a READY line, never a sleep. Every wait has a bound, scaled by
ZPYRO_TEST_TIMESCALE (e.g. 3 on a slow machine).
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import hypothesis
import pytest
import zmq
import zmq_leaks

import zpyro

ROOT = Path(__file__).resolve().parent.parent
TIMESCALE = float(os.environ.get("ZPYRO_TEST_TIMESCALE", "1"))

# Hypothesis's per-example deadline (200 ms) is a timing assertion: on a loaded machine it fails
# tests that are right. Every bound here is a timeout instead.
hypothesis.settings.register_profile("zpyro", deadline=None)
hypothesis.settings.load_profile("zpyro")


def scaled(seconds: float) -> float:
    return seconds * TIMESCALE


T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    *,
    pause: float = 0.02,
) -> T:
    """Poll `predicate` until it returns a true value, and return that value.

    Only for state nothing signals (a remote counter, another process's log, the garbage
    collector's work): where there is an event or a READY line, wait on that instead. `pause` is
    the pace of the polling, not a wait for readiness. After ``scaled(timeout)`` seconds the test
    fails, saying `what` was waited for (a callable is asked then, so it can show the state) and
    the predicate's last value, unless that was just False or None.
    """
    bound = scaled(timeout)
    deadline = time.monotonic() + bound
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            waited_for = what() if callable(what) else what
            last = "" if value is None or isinstance(value, bool) else f" (last value {value!r})"
            pytest.fail(f"not within {bound:g} s: {waited_for}{last}")
        time.sleep(pause)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts processes through `spawn` (so also through `broker`, `start_broker`,
    `start_worker`) is slow wherever it is; files that start them otherwise are marked whole."""
    for item in items:
        if "spawn" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item: the leak check needs to know how it went."""
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"zpyro_report_{report.when}", report)


# seconds (scaled) for late closes by other threads and by the collector; longer than the 5 s
# after which an idle connection reaper retires and lets go of its connection
LEAK_BOUND = 10.0


@pytest.fixture(autouse=True)
def no_zmq_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test that leaves zmq sockets or contexts open behind it.

    Set up before the test's other fixtures, so checked after they are torn down: its daemons,
    brokers, served threads and proxies are closed by then. A leak is

    * a socket made during the test that is still open once the test's objects are gone and the
      garbage collector has run, polled for ``scaled(LEAK_BOUND)`` seconds: a connection may be
      closed a moment later by the thread leading it, a proxy dropped in a reference cycle is
      closed when the collector finds it, and a connection reaper (the thread reading futures'
      replies) keeps its connection until it retires, after 5 s idle;
    * a ``zmq.Context`` made during the test, other than the process-wide
      ``zmq.Context.instance()``, neither terminated nor collected.

    Not a leak, because the library keeps them on purpose:

    * the process-wide context the library shares (``zpyro.sockets.context()``);
    * the ZAP authenticator's sockets, made by the first CURVE server, kept for the process;
    * the name-server proxies kept per location for resolving ``PYRONAME:`` (``zpyro.naming``):
      released here after each test (so tests stay apart), not counted;
    * threads are not counted: connection reapers retire after an idle period and worker pools
      end with their daemon.

    A test that failed is not checked: its traceback keeps its objects, and their sockets, alive.
    A fixture must close what it opens: pytest keeps fixture values until after this check.
    """
    before = zmq_leaks.Snapshot()
    yield
    zmq_leaks.release_shared_name_servers(before.shared_name_servers)
    report = getattr(request.node, "zpyro_report_call", None)
    if report is None or not report.passed or not before.leaked():
        return  # not run, failed, or nothing open: no collection needed

    def collected_and_closed() -> bool:
        gc.collect()
        return not before.leaked()

    def still_open() -> str:
        found = "\n  ".join(zmq_leaks.describe(before.leaked()))
        return f"the zmq sockets and contexts the test made are closed; open:\n  {found}"

    eventually(collected_and_closed, LEAK_BOUND, still_open, pause=0.05)


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    """Each test starts from the default config and leaves it that way."""
    zpyro.config.reset(use_environment=False)
    yield
    zpyro.config.reset(use_environment=False)


class ServedDaemon:
    """A Daemon running its request loop in a background thread."""

    def __init__(self, daemon: zpyro.Daemon) -> None:
        self.daemon = daemon
        self.thread = threading.Thread(target=daemon.request_loop, daemon=True)
        self.thread.start()

    def register(self, obj: Any, object_id: str | None = None) -> zpyro.URI:
        return self.daemon.register(obj, object_id)

    def stop(self) -> None:
        self.daemon.shutdown()
        self.thread.join(scaled(10))
        self.daemon.close()
        assert not self.thread.is_alive(), "daemon request loop did not stop"


# A runner started in the background by a shell without job control (a CI script's `cmd &`)
# ignores SIGINT, and every process it starts inherits that: the tests that stop a daemon, a
# broker or the gateway with Ctrl-C (SIGINT) would wait in vain. Python's own handler here
# makes the spawned processes start with SIGINT's default again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def serving(**daemon_kwargs: Any) -> Iterator[ServedDaemon]:
    daemon_kwargs.setdefault("host", "127.0.0.1")
    served = ServedDaemon(zpyro.Daemon(**daemon_kwargs))
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def served() -> Iterator[ServedDaemon]:
    """A tcp daemon on 127.0.0.1 (random port), serving in a thread."""
    with serving() as s:
        yield s


class Spawned:
    """A subprocess whose stdout lines are collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.setdefault("PYTHONPATH", str(ROOT))
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            cwd=str(ROOT),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, marker: str, timeout: float = 15.0) -> str:
        """The first output line containing `marker`; fails the test after `timeout`."""
        bound = scaled(timeout)
        while True:
            try:
                line = self.lines.get(timeout=bound)
            except queue.Empty:
                pytest.fail(f"no {marker!r} within {bound}s; output so far: {''.join(self.output)}")
            if line is None:
                pytest.fail(f"process ended before {marker!r}; output: {''.join(self.output)}")
            if marker in line:
                return line

    def stop(self) -> None:
        """Stop by pid: terminate, then kill if it does not go within the bound."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(scaled(10))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(scaled(10))


@pytest.fixture
def spawn() -> Iterator[Any]:
    """spawn(args, env=None) -> Spawned; every process is stopped by its pid at teardown."""
    started: list[Spawned] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> Spawned:
        proc = Spawned(args, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


PYTHON = sys.executable


def raw_dealer(endpoint: str) -> zmq.Socket:
    """A plain DEALER for speaking (or mis-speaking) the protocol by hand."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.rcvtimeo = int(scaled(5) * 1000)
    sock.connect(endpoint)
    return sock


# -- the broker as a real subprocess ----------------------------------------------------------

# heartbeats fast enough that dead daemons are noticed within a test's patience
FAST_HEARTBEAT_ENV = {"ZPYRO_HEARTBEAT_INTERVAL": "0.2", "ZPYRO_HEARTBEAT_TIMEOUT": "1.0"}


class BrokerProcess:
    """`python -m zpyro.broker` on 127.0.0.1 with free ports, ready (its READY line read)."""

    def __init__(self, spawned: Spawned) -> None:
        self.spawned = spawned
        line = spawned.wait_for("READY")
        # READY PYRO:Pyro.NameServer@HOST:PORT pub=HOST:PUBPORT epoch=E storage=SPEC
        words = dict(w.split("=", 1) for w in line.split()[2:])
        self.uri = line.split()[1]
        self.location = self.uri.split("@", 1)[1]
        self.host, port = self.location.rsplit(":", 1)
        self.port = int(port)
        self.pub_port = int(words["pub"].rsplit(":", 1)[1])
        self.pub_endpoint = f"tcp://{words['pub']}"
        self.endpoint = f"tcp://{self.location}"
        self.epoch = int(words["epoch"])

    @property
    def pid(self) -> int:
        return self.spawned.proc.pid

    def stop(self) -> int:
        self.spawned.stop()
        return self.spawned.proc.returncode


@pytest.fixture
def start_broker(spawn: Any) -> Any:
    """start_broker(*extra_args, env=None, port=0, pub_port=0, storage="memory") -> BrokerProcess."""

    def start(
        *extra: str,
        env: dict[str, str] | None = None,
        port: int = 0,
        pub_port: int = 0,
        storage: str = "memory",
    ) -> BrokerProcess:
        args = [PYTHON, "-m", "zpyro.broker", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--pub-port", str(pub_port), "--storage", storage, *extra]
        return BrokerProcess(spawn(args, env={**FAST_HEARTBEAT_ENV, **(env or {})}))

    return start


@pytest.fixture
def broker(start_broker: Any) -> BrokerProcess:
    """A broker subprocess (memory storage, fast heartbeats), stopped by pid at teardown."""
    return start_broker()


class Worker:
    """A tests/programs/brokered_worker.py process, attached to its broker (READY read)."""

    def __init__(self, spawned: Spawned) -> None:
        self.spawned = spawned
        self.pid = int(spawned.wait_for("READY").split()[1])


@pytest.fixture
def start_worker(spawn: Any) -> Any:
    """start_worker(broker, name="jobs", capacity=2, env=None) -> Worker (fast heartbeats)."""

    def start(
        broker: BrokerProcess,
        name: str = "jobs",
        capacity: int = 2,
        env: dict[str, str] | None = None,
    ) -> Worker:
        program = str(ROOT / "tests" / "programs" / "brokered_worker.py")
        args = [PYTHON, program, broker.endpoint, name, str(capacity)]
        return Worker(spawn(args, env={**FAST_HEARTBEAT_ENV, **(env or {})}))

    return start


def raw_dumps(serializer_name: str, value: Any) -> bytes:
    """`value` in that serializer's format exactly as written, without zpyro's marker escaping:
    for payloads that hold markers (or junk shaped like them) on purpose."""
    import json as _json
    import marshal as _marshal
    import pickle as _pickle

    import msgpack as _msgpack
    import serpent as _serpent

    if serializer_name == "serpent":
        return _serpent.dumps(value, module_in_classname=True, bytes_repr=True)
    if serializer_name == "json":
        return _json.dumps(value).encode()
    if serializer_name == "msgpack":
        return _msgpack.packb(value, use_bin_type=True)
    if serializer_name == "marshal":
        return _marshal.dumps(value)
    return _pickle.dumps(value)
