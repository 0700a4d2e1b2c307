"""CURVE: keys, allowlists, clear SecurityErrors, the caller's key in current_context, the broker."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import FAST_HEARTBEAT_ENV, PYTHON, ROOT, scaled, serving

import zpyro
from zpyro import announce, errors, security

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class WhoAmI:
    def who(self) -> str | None:
        key = zpyro.current_context.client_key
        return key.decode() if key else None


class Keys:
    """A server key pair, an allowed client (alice) and a stranger (mallory)."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.server_public, self.server_secret = security.keygen(str(root), "server")
        self.allowed = root / "allowed"
        self.alice_public, self.alice_secret = security.keygen(str(self.allowed), "alice")
        self.mallory_public, self.mallory_secret = security.keygen(str(root / "other"), "mallory")

    def z85(self, public_file: str) -> str:
        return security.load_public(public_file).decode()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


@pytest.fixture(autouse=True)
def _fresh_client_keys() -> Any:
    security._ephemeral = None  # each test its own ephemeral client pair
    yield
    security._ephemeral = None


def proxy_as(uri: Any, secret: str | None, server_key: str | None, timeout: float = 5.0) -> Any:
    zpyro.config.CURVE_SECRET_KEY = secret or ""
    p = zpyro.Proxy(uri)
    p._pyroCurveServerKey = server_key
    p._pyroTimeout = scaled(timeout)
    return p


@pytest.mark.slow
def test_keygen_command_writes_a_key_pair(tmp_path: Path) -> None:
    out = subprocess.run(
        [PYTHON, "-m", "zpyro.security", "node1", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    public, secret = tmp_path / "node1.key", tmp_path / "node1.key_secret"
    assert f"public key: {public}" in out.stdout
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    pub_only, nothing = zmq.auth.load_certificate(str(public))
    assert nothing is None
    assert security.load_keys(str(secret))[0] == pub_only


def test_bad_key_files_give_security_errors(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(errors.SecurityError, match="no secret key"):
        security.load_keys(keys.server_public)
    with pytest.raises(errors.SecurityError, match="cannot read"):
        security.load_keys(str(tmp_path / "missing.key_secret"))
    with pytest.raises(errors.SecurityError, match="cannot read CURVE public key"):
        security.load_public(str(tmp_path / "missing.key"))
    assert (
        security.load_public(keys.z85(keys.server_public)) == keys.z85(keys.server_public).encode()
    )


def test_allowed_client_calls_and_its_key_reaches_current_context(keys: Keys) -> None:
    with serving(curve_secret_key=keys.server_secret, curve_allowed_clients=str(keys.allowed)) as s:
        uri = s.register(WhoAmI(), "who")
        with proxy_as(uri, keys.alice_secret, keys.server_public) as p:
            assert p.who() == keys.z85(keys.alice_public)


def test_server_public_key_from_config_as_z85_text(keys: Keys) -> None:
    with serving(curve_secret_key=keys.server_secret) as s:
        uri = s.register(WhoAmI(), "who")
        zpyro.config.CURVE_SERVER_PUBLIC_KEY = keys.z85(keys.server_public)
        with proxy_as(uri, None, None) as p:  # ephemeral client pair: any client is allowed
            who = p.who()
        assert who is not None and who == security.client_keys()[0].decode()


def test_unknown_client_key_gets_security_error_fast(keys: Keys, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "zpyro.security")
    with serving(curve_secret_key=keys.server_secret, curve_allowed_clients=str(keys.allowed)) as s:
        uri = s.register(WhoAmI(), "who")
        p = proxy_as(uri, keys.mallory_secret, keys.server_public, timeout=10)
        started = time.monotonic()
        with pytest.raises(errors.SecurityError, match="refused our credentials"):
            p.who()
        assert time.monotonic() - started < scaled(5), "not within the timeout"
        p._pyroRelease()
        assert keys.z85(keys.mallory_public) in caplog.text  # the daemon logged whom it refused
        with proxy_as(uri, keys.alice_secret, keys.server_public) as ok:  # others unaffected
            assert ok.who() == keys.z85(keys.alice_public)


def test_plain_client_to_curve_daemon_gets_security_error(keys: Keys) -> None:
    with serving(curve_secret_key=keys.server_secret) as s:
        uri = s.register(WhoAmI(), "who")
        p = proxy_as(uri, None, None)
        # libzmq reports a mechanism mismatch, or (racing the server's close) just a failure
        with pytest.raises(
            (errors.SecurityError, errors.CommunicationError),
            match="another security mechanism|require CURVE",
        ):
            p.who()
        p._pyroRelease()


def test_wrong_server_key_gets_security_error(keys: Keys) -> None:
    with serving(curve_secret_key=keys.server_secret) as s:
        uri = s.register(WhoAmI(), "who")
        p = proxy_as(uri, keys.alice_secret, keys.alice_public)  # not the server's key
        with pytest.raises(errors.SecurityError):
            p.who()
        p._pyroRelease()


def test_without_curve_nothing_changes(served: Any) -> None:
    uri = served.register(WhoAmI(), "who")
    with zpyro.Proxy(uri) as p:
        assert p.who() is None  # no CURVE, no key


def test_two_daemons_keep_their_allowlists_apart(keys: Keys, tmp_path: Path) -> None:
    only_mallory = tmp_path / "only-mallory"
    only_mallory.mkdir()
    (only_mallory / "mallory.key").write_text(Path(keys.mallory_public).read_text())
    with (
        serving(curve_secret_key=keys.server_secret, curve_allowed_clients=str(keys.allowed)) as a,
        serving(curve_secret_key=keys.server_secret, curve_allowed_clients=str(only_mallory)) as b,
    ):
        uri_a, uri_b = a.register(WhoAmI(), "who"), b.register(WhoAmI(), "who")
        with proxy_as(uri_a, keys.alice_secret, keys.server_public) as p:
            assert p.who() == keys.z85(keys.alice_public)
        p = proxy_as(uri_b, keys.alice_secret, keys.server_public)
        with pytest.raises(errors.SecurityError):
            p.who()
        p._pyroRelease()
        with proxy_as(uri_b, keys.mallory_secret, keys.server_public) as p:
            assert p.who() == keys.z85(keys.mallory_public)


def test_exposure_warning_rules(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "zpyro.security")
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        security.warn_if_exposed(host, "daemon", secure=False)
    assert caplog.text == ""
    security.warn_if_exposed("10.1.2.3", "daemon", secure=True)
    assert caplog.text == ""
    security.warn_if_exposed("10.1.2.3", "broker", secure=False)
    assert "broker binds 10.1.2.3 without CURVE" in caplog.text
    assert not security.is_loopback("example.org")


# -- the broker with CURVE ----------------------------------------------------------------------


def curve_env(secret: str, server_public: str) -> dict[str, str]:
    return {
        **FAST_HEARTBEAT_ENV,
        "ZPYRO_CURVE_SECRET_KEY": secret,
        "ZPYRO_CURVE_SERVER_PUBLIC_KEY": server_public,
    }


def test_broker_with_curve_serves_allowed_callers_and_daemons(
    keys: Keys, start_broker: Any, spawn: Any
) -> None:
    broker = start_broker(
        "--curve-secret", keys.server_secret, "--curve-allowed", str(keys.allowed)
    )
    worker = spawn(
        [PYTHON, str(ROOT / "tests/programs/brokered_worker.py"), broker.endpoint, "jobs", "2"],
        env=curve_env(keys.alice_secret, keys.server_public),
    )
    worker.wait_for("READY")
    zpyro.config.CURVE_SECRET_KEY = keys.alice_secret
    zpyro.config.CURVE_SERVER_PUBLIC_KEY = keys.server_public
    ns = zpyro.locate_ns(broker.host, broker.port)
    assert "jobs" in ns.list()
    with zpyro.Proxy(f"PYRONAME:jobs@{broker.location}") as p:
        pid, x = p.work(7)
        assert x == 7 and pid == worker.proc.pid
        # the broker passes the caller's key on: the brokered daemon knows who calls
        assert p.caller_key() == keys.z85(keys.alice_public)
    ns._pyroRelease()
    # a stranger's key: refused by the broker, clearly and quickly
    p = proxy_as(f"PYRO:jobs@{broker.location}", keys.mallory_secret, keys.server_public)
    with pytest.raises(errors.SecurityError):
        p.work(1)
    p._pyroRelease()


def test_broker_announcements_need_the_server_key(keys: Keys, start_broker: Any) -> None:
    broker = start_broker("--curve-secret", keys.server_secret)
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.subscribe(b"")
    security.apply_client(sub, security.load_public(keys.server_public))
    sub.connect(broker.pub_endpoint)
    try:
        assert sub.poll(int(scaled(10) * 1000)), "no announcement over CURVE"
        got = announce.decode(sub.recv_multipart())
        assert got.epoch == broker.epoch
    finally:
        sub.close(linger=0)
    plain = ctx.socket(zmq.SUB)
    plain.linger = 0
    plain.subscribe(b"")
    plain.connect(broker.pub_endpoint)
    try:
        assert not plain.poll(int(scaled(1.0) * 1000)), "a plain SUB read a CURVE PUB"
    finally:
        plain.close(linger=0)


@pytest.mark.slow
def test_broker_refuses_to_start_with_a_bad_key_file(tmp_path: Path) -> None:
    out = subprocess.run(
        [PYTHON, "-m", "zpyro.broker", "--host", "127.0.0.1", "--port", "0", "--pub-port", "0"]
        + ["--storage", "memory", "--curve-secret", str(tmp_path / "nope.key_secret")],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 1
    assert "cannot read CURVE key file" in out.stderr


def test_nsc_and_name_watcher_over_curve(keys: Keys, start_broker: Any) -> None:
    broker = start_broker("--curve-secret", keys.server_secret)
    base = [PYTHON, "-m", "zpyro.nsc", "-n", broker.host, "-p", str(broker.port), "-t", "5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    listing = subprocess.run(
        [*base, "--server-key", keys.server_public, "list"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env=env,
    )
    assert listing.returncode == 0, listing.stderr
    assert f"Pyro.NameServer --> {broker.uri}" in listing.stdout
    refused = subprocess.run(
        [*base, "-t", "2", "list"], capture_output=True, text=True, timeout=scaled(30), env=env
    )
    assert refused.returncode == 1
    assert "another security mechanism" in refused.stderr or "require CURVE" in refused.stderr
    zpyro.config.CURVE_SERVER_PUBLIC_KEY = keys.server_public
    ns = zpyro.locate_ns(broker.host, broker.port)
    with zpyro.NameWatcher(broker.host, broker.port, broker.pub_port) as watcher:
        ns.register("secure.thing", "PYRO:x@127.0.0.1:1")
        assert watcher.wait_for(lambda names: "secure.thing" in names, scaled(10))
    ns._pyroRelease()
