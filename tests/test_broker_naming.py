"""The name server through a real broker process: locate_ns, its methods, resolve, PYRONAME:
and PYROMETA: proxies, a name that moves, and serve(use_ns=True)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from conftest import PYTHON, BrokerProcess, scaled, serving

import zpyro
from zpyro.errors import NamingError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@zpyro.expose
class Named:
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def who(self) -> str:
        return self.tag


def ns_of(broker: BrokerProcess) -> Any:
    return zpyro.locate_ns(broker.host, broker.port)


def test_locate_ns_gives_a_working_name_server(broker: BrokerProcess) -> None:
    ns = ns_of(broker)
    assert ns.ping() is None
    assert ns.count() == 1
    assert ns.list() == {"Pyro.NameServer": broker.uri}
    assert ns.lookup("Pyro.NameServer") == zpyro.URI(broker.uri)


def test_locate_ns_uses_the_configured_host_and_port(broker: BrokerProcess) -> None:
    zpyro.config.NS_HOST = "127.0.0.1"
    zpyro.config.NS_PORT = broker.port
    assert zpyro.locate_ns().count() == 1
    assert zpyro.locateNS().count() == 1  # the Pyro4 name


def test_register_lookup_list_remove_count(broker: BrokerProcess) -> None:
    ns = ns_of(broker)
    ns.register("app.one", "PYRO:one@127.0.0.1:5001", metadata={"region:eu", "kind:a"})
    ns.register("app.two", zpyro.URI("PYRO:two@127.0.0.1:5002"))
    ns.register("other.three", "PYRO:three@./u:/tmp/three.sock", metadata=["kind:a"])
    assert ns.count() == 4
    assert ns.lookup("app.one") == zpyro.URI("PYRO:one@127.0.0.1:5001")
    uri, tags = ns.lookup("app.one", return_metadata=True)
    assert isinstance(uri, zpyro.URI) and tags == {"region:eu", "kind:a"}
    assert ns.list(prefix="app.") == {
        "app.one": "PYRO:one@127.0.0.1:5001",
        "app.two": "PYRO:two@127.0.0.1:5002",
    }
    assert set(ns.list(regex=r".*\.t.*")) == {"app.two", "other.three"}
    assert set(ns.list(metadata_all={"kind:a"})) == {"app.one", "other.three"}
    assert set(ns.list(metadata_any={"region:eu", "nope"})) == {"app.one"}
    assert ns.list(prefix="other.", return_metadata=True) == {
        "other.three": ("PYRO:three@./u:/tmp/three.sock", {"kind:a"})
    }
    with pytest.raises(NamingError, match="already registered"):
        ns.register("app.one", "PYRO:elsewhere@127.0.0.1:1", safe=True)
    ns.register("app.one", "PYRO:moved@127.0.0.1:5009")  # not safe: overwrites
    assert ns.lookup("app.one").object == "moved"
    assert ns.remove(prefix="app.") == 2
    assert ns.remove("app.one") == 0
    assert ns.remove("Pyro.NameServer") == 0  # never removed, as in Pyro
    assert ns.count() == 2
    with pytest.raises(NamingError):
        ns.lookup("app.one")
    with pytest.raises(NamingError):
        ns.register("bad name", "PYRO:x@127.0.0.1:1")
    with pytest.raises(NamingError):
        ns.register("not.a.pyro.uri", "PYRONAME:x")


def test_locate_ns_where_nothing_listens_is_a_naming_error_soon() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(NamingError, match="failed to locate the name server"):
        zpyro.locate_ns("127.0.0.1", port)
    assert time.monotonic() - started < scaled(6)


def test_locate_ns_where_something_mute_listens_is_a_naming_error_within_the_timeout() -> None:
    zpyro.config.CONNECT_TIMEOUT = 1.0
    with socket.socket() as mute:  # accepts TCP but never speaks ZMTP
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        started = time.monotonic()
        with pytest.raises(NamingError):
            zpyro.locate_ns("127.0.0.1", mute.getsockname()[1])
        assert time.monotonic() - started < scaled(4)


def test_resolve_and_name_proxies_reach_a_direct_daemon(broker: BrokerProcess) -> None:
    ns = ns_of(broker)
    with serving() as daemon:
        uri = daemon.register(Named("direct"), "named")
        ns.register("example.named", uri, metadata={"colour:blue", "size:big"})
        at = f"@{broker.host}:{broker.port}"
        assert zpyro.resolve(f"PYRONAME:example.named{at}") == uri
        assert zpyro.resolve(f"PYROMETA:colour:blue{at}") == uri
        assert zpyro.resolve(uri) == uri  # a PYRO: URI is its own answer
        with zpyro.Proxy(f"PYRONAME:example.named{at}") as p:
            assert p.who() == "direct"
        with zpyro.Proxy(f"PYROMETA:colour:blue,size:big{at}") as p:
            assert p.who() == "direct"
        with pytest.raises(NamingError):
            zpyro.resolve(f"PYRONAME:no.such.name{at}")
        with pytest.raises(NamingError, match="no object carries"):
            zpyro.resolve(f"PYROMETA:colour:red{at}")
        # no @host:port: the configured name server
        zpyro.config.NS_HOST, zpyro.config.NS_PORT = broker.host, broker.port
        assert zpyro.Proxy("PYRONAME:example.named").who() == "direct"


def test_a_pyroname_proxy_follows_a_name_that_moved(broker: BrokerProcess) -> None:
    ns = ns_of(broker)
    p = zpyro.Proxy(f"PYRONAME:example.moving@{broker.host}:{broker.port}")
    # the second daemon is up before the first goes: its port cannot be the first one's again
    # (a reused port would let the old connection reconnect to it and hide the loss)
    with serving() as second:
        with serving() as first:
            ns.register("example.moving", first.register(Named("first"), "m"))
            assert p.who() == "first"
            first_uri = p._pyroTarget
        # the first one is gone; the name now points elsewhere
        ns.register("example.moving", second.register(Named("second"), "m"))
        assert ns.lookup("example.moving") != first_uri
        with pytest.raises(zpyro.errors.ConnectionClosedError):
            p.who()  # its connection was lost: said once, as in Pyro
        assert p.who() == "second"  # a new connection resolves the name again
        assert p.who() == "second"
        assert p._pyroTarget.port != first_uri.port


def test_serve_with_use_ns_in_a_subprocess(broker: BrokerProcess, spawn: Any) -> None:
    program = (
        "import zpyro\n"
        "@zpyro.expose\n"
        "class Greeter:\n"
        "    def hello(self, name):\n"
        "        return 'Hello, ' + name\n"
        "zpyro.serve({Greeter: 'example.greeter'}, host='127.0.0.1', use_ns=True)\n"
    )
    env = {"ZPYRO_NS_HOST": broker.host, "ZPYRO_NS_PORT": str(broker.port)}
    served = spawn([PYTHON, "-c", program], env=env)
    served.wait_for("Pyro daemon running.")  # Pyro's printed line
    uri = ns_of(broker).lookup("example.greeter")
    assert uri.host == "127.0.0.1" and uri.port != broker.port  # a direct daemon of its own
    with zpyro.Proxy(f"PYRONAME:example.greeter@{broker.host}:{broker.port}") as p:
        assert p.hello("Irmen") == "Hello, Irmen"


def test_serve_a_brokered_daemon_in_a_thread(broker: BrokerProcess) -> None:
    zpyro.config.NS_HOST, zpyro.config.NS_PORT = broker.host, broker.port
    daemon = zpyro.Daemon(broker=broker.endpoint)
    thread = threading.Thread(
        target=zpyro.serve,
        args=({Named("pooled"): "example.pooled"},),
        kwargs={"daemon": daemon, "use_ns": True, "verbose": False},
        daemon=True,
    )
    thread.start()
    try:
        assert daemon.wait_attached(scaled(10))
        ns = ns_of(broker)
        # a brokered name points at the broker itself: the broker forwards
        assert ns.lookup("example.pooled") == zpyro.URI(f"PYRO:example.pooled@{broker.location}")
        with zpyro.Proxy("PYRONAME:example.pooled") as p:
            assert p.who() == "pooled"
    finally:
        daemon.shutdown()
        thread.join(scaled(10))
    assert not thread.is_alive()
