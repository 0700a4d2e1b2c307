"""A Pyro4 program ports by changing its import: the intro's greeting example, and zpyro-echo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, ROOT, eventually, scaled

import zpyro
from zpyro import errors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

PROGRAMS = Path(__file__).resolve().parent / "programs"
FORTUNE = (
    "Hello, Irmen. Here is your fortune message:\n"
    "Behold the warranty -- the bold print giveth and the fine print taketh away.\n"
)
LOOPBACK = {"ZPYRO_HOST": "127.0.0.1"}  # Pyro4.Daemon() binds config.HOST


def start_greeting_server(spawn: Any, script: str, env: dict[str, str]) -> str:
    server = spawn([PYTHON, str(PROGRAMS / script)], env={**LOOPBACK, **env})
    line = server.wait_for("Ready. Object uri =")
    uri = line.split("Ready. Object uri =", 1)[1].strip()
    assert zpyro.URI(uri).host == "127.0.0.1"
    return uri


def run_greeting_client(uri: str, name: str = "Irmen") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT))
    env.pop("ZPYRO_REQUIRE_EXPOSE", None)  # the client side does not matter for exposure
    return subprocess.run(
        [PYTHON, str(PROGRAMS / "greeting_client.py")],
        input=f"{uri}\n{name}\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=scaled(30),
    )


@pytest.fixture
def no_expose_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spawned server sees no ZPYRO_REQUIRE_EXPOSE (spawn copies os.environ)."""
    monkeypatch.delenv("ZPYRO_REQUIRE_EXPOSE", raising=False)


def test_greeting_example(spawn: Any, no_expose_env: None) -> None:
    uri = start_greeting_server(spawn, "greeting_server.py", {})
    result = run_greeting_client(uri)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "What is the Pyro uri of the greeting object? What is your name? " + FORTUNE
    )
    assert result.stderr == ""


def test_greeting_example_undecorated_with_require_expose_off(spawn: Any) -> None:
    uri = start_greeting_server(
        spawn, "greeting_server_undecorated.py", {"ZPYRO_REQUIRE_EXPOSE": "0"}
    )
    result = run_greeting_client(uri)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(FORTUNE)


def test_greeting_example_undecorated_is_refused_by_default(
    spawn: Any, no_expose_env: None
) -> None:
    uri = start_greeting_server(spawn, "greeting_server_undecorated.py", {})
    result = run_greeting_client(uri)
    assert result.returncode != 0
    assert "Behold the warranty" not in result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("AttributeError"), result.stderr
    assert "get_fortune" in last_line
    # and from this process too: the same refusal, also when asking the daemon directly
    with zpyro.Proxy(uri) as p:
        with pytest.raises(AttributeError, match="get_fortune"):
            p.get_fortune("Irmen")
        with pytest.raises(AttributeError, match="get_fortune"):
            p._pyroInvoke("get_fortune", ("Irmen",), {})


def test_echo_server_module(spawn: Any) -> None:
    server = spawn([PYTHON, "-m", "zpyro.echo"])
    line = server.wait_for("echo uri:")
    server.wait_for("echoserver running.")
    uri = zpyro.URI(line.split("echo uri:", 1)[1].strip())
    assert uri.object == "test.echoserver"
    assert uri.host == "127.0.0.1"
    with zpyro.Proxy(uri) as p:
        assert p.echo("hello") == "hello"
        assert p.echo([1, (2, 3), {"x": b"\x00\x01"}]) == [1, (2, 3), {"x": b"\x00\x01"}]
        assert p.pid() == server.proc.pid
        with pytest.raises(ValueError, match="expected error from echoserver"):
            p.error()
        assert p.oneway_echo("fire and forget") is None
        # oneway calls promise no ordering: ask until it ran
        eventually(lambda: p.oneway_count() == 1, 5, "the oneway call runs", pause=0)
        assert p.slow(0.05) == "Finally, an answer!"
        assert p.shutdown() is None  # answered, then the loop ends and so does the process
    server.wait_for("echoserver stopped.")
    assert server.proc.wait(scaled(10)) == 0


def test_echo_server_unixsocket(spawn: Any, tmp_path: Path) -> None:
    path = tmp_path / "echo.sock"
    server = spawn([PYTHON, "-m", "zpyro.echo", "--unixsocket", str(path)])
    line = server.wait_for("echo uri:")
    server.wait_for("echoserver running.")
    uri = zpyro.URI(line.split("echo uri:", 1)[1].strip())
    assert str(uri) == f"PYRO:test.echoserver@./u:{path}"
    with zpyro.Proxy(uri) as p:
        assert p.echo("over ipc") == "over ipc"
    server.stop()  # SIGTERM: a clean stop
    assert server.proc.returncode == 0
    server.wait_for("echoserver stopped.")  # (the reader thread may still be on its way to it)


def test_pyro4_names_exist() -> None:
    """What the ported programs touch, under their Pyro4 names."""
    Pyro4 = zpyro  # noqa: N806 - the point of the test
    assert callable(Pyro4.Daemon.requestLoop)
    assert callable(Pyro4.Daemon.uriFor)
    assert Pyro4.errors.PyroError is errors.ZPyroError
    assert issubclass(Pyro4.errors.CommunicationError, Pyro4.errors.PyroError)
