"""Pyro's test echo server as Pyro users run it: ``python -m zpyro.test.echoserver`` (=
``python -m Pyro4.test.echoserver`` after the import change) and Pyro5's
``zpyro.utils.echoserver``, with ``-N``/``-n``/``-v``/``-q``, Pyro's printed lines and methods;
and the gateway under Pyro's ``utils.httpgateway``."""

from __future__ import annotations

import math
import os
import subprocess
import time
from typing import Any

import pytest
from conftest import PYTHON, ROOT, scaled

import zpyro as Pyro4
from zpyro import echo, errors

pytestmark = pytest.mark.timeout(90)

ECHOSERVER = [PYTHON, "-m", "zpyro.test.echoserver", "-H", "127.0.0.1"]


def read_facts(server: Any) -> dict[str, str]:
    """Pyro's lines up to ``echoserver running.``, as ``key: value`` facts."""
    facts: dict[str, str] = {}
    while True:
        line = server.wait_for("").rstrip("\n")
        if line.startswith("using name server at "):
            facts["ns"] = line.split()[-1]
        elif ": " in line:
            key, value = line.split(": ", 1)
            facts[key] = value
        if line == "echoserver running.":
            return facts


def test_echoserver_with_its_own_name_server(spawn: Any) -> None:
    server = spawn([*ECHOSERVER, "-N", "-v"], env={"ZPYRO_NS_PORT": "0"})
    facts = read_facts(server)
    assert facts["object name"] == "test.echoserver"
    assert facts["echo uri"].startswith("PYRO:test.echoserver@127.0.0.1:")
    assert "not using a broadcast server\n" in server.output
    ns_uri = Pyro4.URI(facts["ns"])
    with Pyro4.Proxy(f"PYRONAME:test.echoserver@127.0.0.1:{ns_uri.port}") as p:
        assert p.echo([1, "two", {"three": 3}]) == [1, "two", {"three": 3}]
        with pytest.raises(ValueError, match="expected error from echoserver error"):
            p.error()
        with pytest.raises(ValueError, match="the message of the error"):
            p.error_with_text()
        started = time.monotonic()
        assert p.oneway_slow() is None  # 5 s in the server: the caller does not wait
        assert p.oneway_echo("nobody waits") is None
        assert time.monotonic() - started < 4.0
        assert p.slow(0.05) == "Finally, an answer!"
        assert math.isnan(p.nan()) and p.inf() == math.inf
        assert list(p.generator()) == ["one", "two", "three"]
        with pytest.raises(AttributeError):
            p._private()
        assert p.verbose is True
        p.verbose = False
        assert p.verbose is False
        assert p.shutdown() is None
    server.wait_for("echoserver stopped.")
    assert server.proc.wait(scaled(20)) == 0


def test_echoserver_registers_quietly_in_a_running_name_server(spawn: Any) -> None:
    ns_proc = spawn([PYTHON, "-m", "zpyro.naming", "-n", "127.0.0.1", "-p", "0", "-x"])
    ns_uri = Pyro4.URI(ns_proc.wait_for("URI = ").split("=", 1)[1].strip())
    env = {"ZPYRO_NS_HOST": "127.0.0.1", "ZPYRO_NS_PORT": str(ns_uri.port)}
    server = spawn([*ECHOSERVER, "-n", "-q"], env=env)
    with Pyro4.locateNS("127.0.0.1", ns_uri.port) as ns:
        uri = ns.lookup("test.echoserver", delay_time=scaled(30))  # -q: no line says it is up
        with Pyro4.Proxy(uri) as p:
            assert p.echo("quiet") == "quiet"
            p.shutdown()
    assert server.proc.wait(scaled(20)) == 0
    assert server.output == []  # -q: nothing at all


def test_echoserver_refuses_an_hmac_key() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [*ECHOSERVER, "-k", "secret"], env=env, capture_output=True, text=True, timeout=scaled(30)
    )
    assert result.returncode == 2 and "HMAC keys are not supported" in result.stderr


def test_pyro5s_module_path_serves_the_same(spawn: Any) -> None:
    server = spawn([PYTHON, "-m", "zpyro.utils.echoserver", "-H", "127.0.0.1"])
    facts = read_facts(server)
    with Pyro4.Proxy(facts["echo uri"]) as p:
        assert p.echo(b"\x00bytes") == b"\x00bytes"
        p.shutdown()
    assert server.proc.wait(scaled(20)) == 0


def test_main_without_looping_as_pyros_unit_tests_use_it() -> None:
    daemon, server, uri = echo.main(["-H", "127.0.0.1", "-q"], returnWithoutLooping=True)
    try:
        assert isinstance(server, echo.EchoServer) and uri.object == "test.echoserver"
        assert daemon.uriFor("test.echoserver") == uri
    finally:
        daemon.close()
    with pytest.raises(errors.CommunicationError):  # closed: nothing listens any more
        with Pyro4.Proxy(uri) as p:
            p._pyroTimeout = 2
            p.echo(1)


def test_pyros_gateway_module_path_is_zpyro_gateway() -> None:
    """``python -m Pyro4.utils.httpgateway``: the same command, with Pyro's options."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [PYTHON, "-m", "zpyro.utils.httpgateway", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: zpyro-gateway")
    for option in ("-H HOST", "-p PORT", "-e REGEX", "-g GATEWAY_KEY", "-t TIMEOUT", "-c ORIGIN"):
        assert option in result.stdout
