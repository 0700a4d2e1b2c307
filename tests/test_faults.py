"""A daemon that dies, comes back, or was never there: callers get errors, never hangs.

The daemon is the real ``zpyro-echo`` server in a subprocess (``python -m zpyro.echo``).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, scaled

import zpyro
from zpyro import errors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

ECHO = [PYTHON, "-m", "zpyro.echo"]
# the same server, printing "SLOW STARTED" when slow() begins: a kill then surely hits a call
# in progress (killing earlier would test "connection refused" instead, by chance)
ANNOUNCING_ECHO = [PYTHON, str(Path(__file__).resolve().parent / "programs" / "echo_announcing.py")]


def start_echo(
    spawn: Any, port: int | None = None, announcing: bool = False
) -> tuple[Any, zpyro.URI]:
    args = list(ANNOUNCING_ECHO if announcing else ECHO)
    if port is not None:
        args += ["--port", str(port)]
    proc = spawn(args)
    line = proc.wait_for("echo uri:")
    proc.wait_for("echoserver running.")
    uri = zpyro.URI(line.split("echo uri:", 1)[1].strip())
    assert uri.host == "127.0.0.1"
    if port is not None:
        assert uri.port == port
    return proc, uri


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kill_during_call_gives_connection_closed(spawn: Any) -> None:
    proc, uri = start_echo(spawn, announcing=True)
    p = zpyro.Proxy(uri)
    assert p.pid() == proc.proc.pid
    outcome: list[Any] = []
    calling = threading.Event()

    def call() -> None:
        calling.set()
        started = time.perf_counter()
        try:
            outcome.append(p.slow(5))
        except BaseException as exc:
            outcome.append(exc)
        outcome.append(time.perf_counter() - started)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    assert calling.wait(scaled(5))
    proc.wait_for("SLOW STARTED")
    proc.kill()  # the daemon dies in the middle of the call
    t.join(scaled(4))
    assert not t.is_alive(), "the caller hangs after its daemon was killed"
    exc, elapsed = outcome
    assert isinstance(exc, errors.ConnectionClosedError), repr(exc)
    assert elapsed < 4.0
    p._pyroRelease()


def test_restarted_daemon_on_same_port_is_reached(spawn: Any) -> None:
    first, uri = start_echo(spawn)
    port = uri.port
    assert port is not None
    p = zpyro.Proxy(uri)
    assert p.pid() == first.proc.pid
    first.kill()
    second, uri2 = start_echo(spawn, port)
    assert uri2 == uri
    assert second.proc.pid != first.proc.pid
    # as in Pyro, the next call says the connection was lost (whatever the daemon held for
    # this proxy is gone); the call after reaches the new daemon
    with pytest.raises(errors.ConnectionClosedError) as lost:
        p.pid()
    assert type(lost.value) is errors.ConnectionClosedError  # never an internal subclass
    assert p.pid() == second.proc.pid
    assert p.echo("still here") == "still here"
    p._pyroRelease()
    # with MAX_RETRIES the lost call is made again on a new connection, transparently
    q = zpyro.Proxy(uri)
    q._pyroMaxRetries = 1
    assert q.pid() == second.proc.pid
    second.kill()
    third, _ = start_echo(spawn, port)
    assert q.pid() == third.proc.pid
    q._pyroRelease()


def test_call_lost_in_a_kill_then_restart_on_same_port(spawn: Any) -> None:
    first, uri = start_echo(spawn, announcing=True)
    p = zpyro.Proxy(uri)
    assert p.pid() == first.proc.pid
    failed: list[BaseException] = []
    calling = threading.Event()

    def call() -> None:
        calling.set()
        try:
            p.slow(5)
        except BaseException as exc:
            failed.append(exc)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    assert calling.wait(scaled(5))
    first.wait_for("SLOW STARTED")
    first.kill()
    t.join(scaled(4))
    assert not t.is_alive()
    assert len(failed) == 1 and isinstance(failed[0], errors.ConnectionClosedError)
    second, _ = start_echo(spawn, uri.port)
    assert p.pid() == second.proc.pid
    p._pyroRelease()


def test_nothing_listening_fails_fast() -> None:
    port = free_port()
    p = zpyro.Proxy(f"PYRO:test.echoserver@127.0.0.1:{port}")
    started = time.perf_counter()
    with pytest.raises(errors.CommunicationError):
        p.echo("anyone?")
    assert time.perf_counter() - started < 2.0
    started = time.perf_counter()
    with pytest.raises(errors.CommunicationError):
        p._pyroBind()
    assert time.perf_counter() - started < 2.0
    p._pyroRelease()


def test_reconnect_after_restart(spawn: Any) -> None:
    first, uri = start_echo(spawn)
    p = zpyro.Proxy(uri)
    assert p.pid() == first.proc.pid
    first.kill()
    second, _ = start_echo(spawn, uri.port)
    p._pyroReconnect(tries=5)
    assert p.pid() == second.proc.pid
    p._pyroRelease()


def test_reconnect_waits_for_the_daemon_to_come_back(spawn: Any) -> None:
    first, uri = start_echo(spawn)
    p = zpyro.Proxy(uri)
    assert p.pid() == first.proc.pid
    first.kill()
    outcome: list[Any] = []
    trying = threading.Event()

    def reconnect() -> None:
        trying.set()
        try:
            p._pyroReconnect(tries=20)
            outcome.append("ok")
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=reconnect, daemon=True)
    t.start()
    assert trying.wait(scaled(5))
    second, _ = start_echo(spawn, uri.port)  # comes back while the proxy keeps trying
    t.join(scaled(15))
    assert not t.is_alive(), "_pyroReconnect did not return"
    assert outcome == ["ok"]
    assert p.pid() == second.proc.pid
    p._pyroRelease()


def test_reconnect_gives_up_after_its_tries() -> None:
    p = zpyro.Proxy(f"PYRO:test.echoserver@127.0.0.1:{free_port()}")
    started = time.perf_counter()
    with pytest.raises(errors.CommunicationError):
        p._pyroReconnect(tries=2)
    assert time.perf_counter() - started < 5.0
