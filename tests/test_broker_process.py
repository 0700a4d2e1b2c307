"""The broker as a command: its options, default storage, signals, exit codes and logging.

The broker runs as a real subprocess with stdout and stderr kept apart, so the tests can tell
the READY line from the logs.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_HEARTBEAT_ENV, PYTHON, ROOT, scaled

import zpyro

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

WORKER = str(ROOT / "tests" / "programs" / "brokered_worker.py")


class BrokerCommand:
    """`python -m zpyro.broker ARGS` with stdout and stderr read apart, line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "zpyro.broker", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(ROOT),
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True)),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _read(self, stream: Any, into: list[str], queued: bool) -> None:
        for line in stream:
            into.append(line)
            if queued:
                self._lines.put(line)
        if queued:
            self._lines.put(None)

    def ready_line(self) -> str:
        """The READY line on stdout (fails the test if the process ends or stays silent)."""
        bound = scaled(15)
        while True:
            try:
                line = self._lines.get(timeout=bound)
            except queue.Empty:
                pytest.fail(f"no READY within {bound}s; stderr: {''.join(self.stderr)}")
            if line is None:
                self.finish()
                pytest.fail(f"broker ended before READY; stderr: {''.join(self.stderr)}")
            if line.startswith("READY"):
                return line

    @property
    def port(self) -> int:
        uri = self.stdout[0].split()[1]
        return int(uri.rsplit(":", 1)[1])

    def finish(self, timeout: float = 10) -> int:
        """Wait for the exit (bounded) and for both streams to be read to their end."""
        rc = self.proc.wait(scaled(timeout))
        for reader in self._readers:
            reader.join(scaled(5))
        return rc

    def signal_and_wait(self, signum: int) -> tuple[int, float]:
        """Send `signum` to the broker's pid: (exit code, seconds it took)."""
        started = time.monotonic()
        os.kill(self.proc.pid, signum)
        rc = self.finish()
        return rc, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(scaled(10))


@pytest.fixture
def run_broker() -> Iterator[Any]:
    """run_broker(*args, env=None) -> BrokerCommand; killed by pid at teardown."""
    started: list[BrokerCommand] = []

    def run(*args: str, env: dict[str, str] | None = None) -> BrokerCommand:
        full = dict(os.environ)
        full.update({"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **FAST_HEARTBEAT_ENV})
        full.update(env or {})
        command = BrokerCommand(list(args), full)
        started.append(command)
        return command

    yield run
    for command in started:
        command.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stored_names(path: Path) -> dict[str, tuple[str, list[str]]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, uri, metadata FROM names").fetchall()
    return {name: (uri, json.loads(tags)) for name, uri, tags in rows}


def register_some(port: int) -> None:
    ns = zpyro.locate_ns("127.0.0.1", port)
    ns.register("app.kept", "PYRO:kept@127.0.0.1:5001", metadata={"region:eu"})
    ns.register("app.also", "PYRO:also@127.0.0.1:5002")
    ns.register("app.gone", "PYRO:gone@127.0.0.1:5003")
    assert ns.remove("app.gone") == 1
    ns._pyroRelease()


def test_help_lists_every_option(run_broker: Any) -> None:
    command = run_broker("--help")
    assert command.finish() == 0
    text = "".join(command.stdout)
    for option in ("--host", "--port", "--pub-port", "--storage", "--max-queue", "-v"):
        assert option in text
    assert "memory | sqlite:PATH" in text


def test_default_storage_is_sqlite_in_xdg_state_home_one_file_per_port(
    run_broker: Any, tmp_path: Path
) -> None:
    port = free_port()
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state), "HOME": str(tmp_path / "home")}
    command = run_broker("--host", "127.0.0.1", "--port", str(port), "--pub-port", "0", env=env)
    expected = state / "zpyro" / f"names-{port}.db"
    assert f"storage=sqlite:{expected}" in command.ready_line()
    assert expected.is_file()
    register_some(port)
    rc, took = command.signal_and_wait(signal.SIGTERM)
    assert rc == 0 and took < scaled(5)
    assert "zpyro-broker stopped" in "".join(command.stdout)
    names = stored_names(expected)
    assert names == {
        "app.kept": ("PYRO:kept@127.0.0.1:5001", ["region:eu"]),
        "app.also": ("PYRO:also@127.0.0.1:5002", []),
    }


def test_without_xdg_state_home_the_file_goes_under_home_and_sigint_stops_cleanly(
    run_broker: Any, tmp_path: Path
) -> None:
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    # a relative XDG_STATE_HOME is invalid by the XDG spec: ignored
    env = {"HOME": str(home), "XDG_STATE_HOME": "relative/state"}
    command = run_broker("--host", "127.0.0.1", "--port", str(port), "--pub-port", "0", env=env)
    expected = home / ".local" / "state" / "zpyro" / f"names-{port}.db"
    assert f"storage=sqlite:{expected}" in command.ready_line()
    register_some(port)
    rc, took = command.signal_and_wait(signal.SIGINT)
    assert rc == 0 and took < scaled(5)
    assert "Traceback" not in "".join(command.stderr)
    assert set(stored_names(expected)) == {"app.kept", "app.also"}


def test_another_port_gets_another_file(run_broker: Any, tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    ports = [free_port(), free_port()]
    commands = [
        run_broker("--host", "127.0.0.1", "--port", str(p), "--pub-port", "0", env=env)
        for p in ports
    ]
    for command in commands:
        command.ready_line()
    zpyro.locate_ns("127.0.0.1", ports[0]).register("only.first", "PYRO:x@127.0.0.1:1")
    for command in commands:
        assert command.signal_and_wait(signal.SIGTERM)[0] == 0
    first, second = (tmp_path / "zpyro" / f"names-{p}.db" for p in ports)
    assert set(stored_names(first)) == {"only.first"}
    assert stored_names(second) == {}


def test_brokers_on_port_0_sit_side_by_side_with_their_own_pub_port_and_file(
    run_broker: Any, tmp_path: Path
) -> None:
    """`--port 0` alone: a free announcement port too (not the fixed 9091, which a second broker
    could not bind), and a default storage file named after the port actually bound."""
    env = {"XDG_STATE_HOME": str(tmp_path)}
    commands = [run_broker("--host", "127.0.0.1", "--port", "0", env=env) for _ in range(2)]
    seen = []
    for command in commands:
        words = dict(w.split("=", 1) for w in command.ready_line().split()[2:])
        pub_port = int(words["pub"].rsplit(":", 1)[1])
        expected = tmp_path / "zpyro" / f"names-{command.port}.db"
        assert words["storage"] == f"sqlite:{expected}" and expected.is_file()
        assert command.port != 0 and pub_port not in (0, zpyro.config.NS_PUB_PORT)
        seen.append((command.port, pub_port, expected))
    assert len({p for s in seen for p in s[:2]}) == 4  # four distinct ports
    zpyro.locate_ns("127.0.0.1", seen[0][0]).register("only.first", "PYRO:x@127.0.0.1:1")
    zpyro.locate_ns("127.0.0.1", seen[1][0]).register("only.second", "PYRO:x@127.0.0.1:2")
    for command in commands:
        assert command.signal_and_wait(signal.SIGTERM)[0] == 0
    assert set(stored_names(seen[0][2])) == {"only.first"}
    assert set(stored_names(seen[1][2])) == {"only.second"}
    assert not (tmp_path / "zpyro" / "names-0.db").exists()


def test_an_explicit_pub_port_is_kept_with_port_0(run_broker: Any) -> None:
    pub = free_port()
    command = run_broker(
        "--host", "127.0.0.1", "--port", "0", "--pub-port", str(pub), "--storage", "memory"
    )
    assert f"pub=127.0.0.1:{pub} " in command.ready_line()


@pytest.mark.parametrize("which", ["--port", "--pub-port"])
def test_a_port_already_in_use_is_a_clear_error_and_exit_code_1(
    run_broker: Any, which: str
) -> None:
    first = run_broker(
        "--host", "127.0.0.1", "--port", "0", "--pub-port", "0", "--storage", "memory"
    )
    line = first.ready_line()
    busy = first.port if which == "--port" else int(line.split("pub=")[1].split()[0].split(":")[1])
    args = {"--port": "0", "--pub-port": "0", which: str(busy)}
    second = run_broker(
        "--host", "127.0.0.1", *[x for kv in args.items() for x in kv], "--storage", "memory"
    )
    assert second.finish() == 1
    err = "".join(second.stderr)
    assert f"cannot bind tcp://127.0.0.1:{busy}" in err and "in use" in err
    assert "Traceback" not in err
    assert second.stdout == []  # no READY: nothing to connect to
    zpyro.locate_ns("127.0.0.1", first.port).ping()  # the first broker is unharmed


@pytest.mark.parametrize(
    ("spec", "message"),
    [("bogus", "unknown storage 'bogus'"), ("sqlite:/nonexistent-dir/x/names.db", "cannot use")],
)
def test_bad_storage_is_a_clear_error_and_exit_code_1(
    run_broker: Any, spec: str, message: str
) -> None:
    command = run_broker("--host", "127.0.0.1", "--port", "0", "--pub-port", "0", "--storage", spec)
    assert command.finish() == 1
    err = "".join(command.stderr)
    assert message in err and "Traceback" not in err


def test_an_unusable_state_dir_is_a_clear_error_and_exit_code_1(
    run_broker: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    env = {"XDG_STATE_HOME": str(blocker)}
    command = run_broker("--host", "127.0.0.1", "--port", "0", "--pub-port", "0", env=env)
    assert command.finish() == 1
    err = "".join(command.stderr)
    assert "cannot create the storage directory" in err and "Traceback" not in err


def test_verbose_logs_daemons_joining_and_leaving_on_stderr(run_broker: Any, spawn: Any) -> None:
    command = run_broker(
        "--host", "127.0.0.1", "--port", "0", "--pub-port", "0", "--storage", "memory", "-v"
    )
    command.ready_line()
    worker = spawn([PYTHON, WORKER, f"tcp://127.0.0.1:{command.port}", "jobs", "3"])
    pid = worker.wait_for("READY").split()[1]
    worker.stop()
    assert worker.proc.returncode == 0
    assert command.signal_and_wait(signal.SIGTERM)[0] == 0
    err = "".join(command.stderr)
    assert f"(pid {pid}) joined: jobs, capacity 3" in err
    assert "left (closed)" in err
    assert [line.split()[0] for line in command.stdout] == ["READY", "zpyro-broker"]


def test_quiet_by_default_and_stdout_has_only_the_ready_and_stopped_lines(
    run_broker: Any, spawn: Any
) -> None:
    command = run_broker(
        "--host", "127.0.0.1", "--port", "0", "--pub-port", "0", "--storage", "memory"
    )
    command.ready_line()
    worker = spawn([PYTHON, WORKER, f"tcp://127.0.0.1:{command.port}", "jobs"])
    worker.wait_for("READY")
    assert command.signal_and_wait(signal.SIGTERM)[0] == 0
    assert "joined" not in "".join(command.stderr)
    assert len(command.stdout) == 2
    assert command.stdout[1].strip() == "zpyro-broker stopped"
