"""The same small call over every transport: tcp (IPv4 and IPv6 loopback), ipc, inproc."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ServedDaemon, serving

import zpyro

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class Greeter:
    def hello(self, name: str) -> str:
        return f"Hello, {name}"

    def blob(self, size: int) -> bytes:
        return b"b" * size


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _check_served(served: ServedDaemon) -> zpyro.URI:
    uri = served.register(Greeter(), "greeter")
    with zpyro.Proxy(uri) as p:
        assert p.hello("tcp-or-not") == "Hello, tcp-or-not"
        big = p.blob(100_000)  # also an out-of-band frame
        assert type(big) is bytes and big == b"b" * 100_000
    with zpyro.Proxy(str(uri)) as p:  # a plain string works too
        assert p.hello("again") == "Hello, again"
    # the URI of the daemon round-trips through zpyro.URI
    again = zpyro.URI(str(uri))
    assert again == uri
    assert str(again) == str(uri)
    assert again.location == served.daemon.location
    assert again.endpoint == served.daemon.endpoint
    assert served.daemon.uri_for("greeter") == uri
    return uri


def test_tcp_ipv4() -> None:
    with serving(host="127.0.0.1") as s:
        uri = _check_served(s)
    assert uri.host == "127.0.0.1"
    assert uri.port is not None and uri.port > 0
    assert str(uri) == f"PYRO:greeter@127.0.0.1:{uri.port}"
    assert uri.endpoint == f"tcp://127.0.0.1:{uri.port}"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="the kernel has no IPv6 loopback (::1)")
def test_tcp_ipv6() -> None:
    with serving(host="::1") as s:
        uri = _check_served(s)
    assert uri.is_ipv6
    assert uri.host == "::1"
    assert str(uri) == f"PYRO:greeter@[::1]:{uri.port}"
    assert uri.endpoint == f"tcp://[::1]:{uri.port}"


def test_ipc(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    with serving(unixsocket=path) as s:
        uri = _check_served(s)
        assert Path(path).exists()
    assert str(uri) == f"PYRO:greeter@./u:{path}"
    assert uri.sockpath == path
    assert uri.endpoint == f"ipc://{path}"


def test_ipc_uri_written_by_hand(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    with serving(unixsocket=path) as s:
        s.register(Greeter(), "greeter")
        with zpyro.Proxy(f"PYRO:greeter@./u:{path}") as p:
            assert p.hello("ipc") == "Hello, ipc"


@pytest.fixture
def inproc_name() -> Iterator[str]:
    yield f"zpyro-test-{uuid.uuid4().hex}"


def test_inproc(inproc_name: str) -> None:
    with serving(inproc=inproc_name) as s:
        uri = _check_served(s)
    assert str(uri) == f"PYRO:greeter@./inproc:{inproc_name}"
    assert uri.inproc == inproc_name
    assert uri.endpoint == f"inproc://{inproc_name}"


def test_two_transports_side_by_side(tmp_path: Path, inproc_name: str) -> None:
    """Daemons on different transports in one process do not get in each other's way."""
    uris: list[Any] = []
    with (
        serving(host="127.0.0.1") as a,
        serving(unixsocket=str(tmp_path / "b.sock")) as b,
        serving(inproc=inproc_name) as c,
    ):
        for served, name in ((a, "a"), (b, "b"), (c, "c")):
            uris.append(served.register(Greeter(), name))
        proxies = [zpyro.Proxy(u) for u in uris]
        for _ in range(3):
            for p, name in zip(proxies, "abc", strict=True):
                assert p.hello(name) == f"Hello, {name}"
        for p in proxies:
            p._pyroRelease()
    assert len({u.endpoint for u in uris}) == 3
