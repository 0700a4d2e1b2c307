"""Registered objects as Pyro programs use them (``import zpyro as Pyro4``): they know their
daemon (``self._pyroDaemon``, ``self._pyroId``), they travel as proxies both ways (returned, and
passed as arguments: the callback idiom), Pyro's current_context facts about the message and the
caller, exposed dunder methods, and a daemon's COMMTIMEOUT dropping idle clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from conftest import ServedDaemon, raw_dealer, scaled, serving

import zpyro as Pyro4
from zpyro import wire
from zpyro.serializers import get_serializer

pytestmark = pytest.mark.timeout(60)

SERIALIZERS = ["serpent", "json", "msgpack", "pickle"]


@Pyro4.expose
class Thingy:
    def __init__(self, number: int) -> None:
        self.number = number
        self.lock = threading.Lock()  # not serializable by value: only a proxy can travel

    def speak(self, message: str) -> str:
        return f"thingy {self.number} says: {message}"


@Pyro4.expose
class Factory:
    def __init__(self) -> None:
        self.made: list[Thingy] = []

    def make(self, number: int) -> Thingy:
        thing = Thingy(number)
        self._pyroDaemon.register(thing)  # type: ignore[attr-defined]
        self.made.append(thing)
        return thing

    def whoami(self) -> str:
        return self._pyroId  # type: ignore[attr-defined, no-any-return]

    def stop_my_daemon(self) -> None:
        self._pyroDaemon.shutdown()  # type: ignore[attr-defined]


@Pyro4.expose
class Worker:
    def work(self, steps: int, callback: Any) -> list[Any]:
        """The callback idiom: the caller passes its own registered object; it arrives here as
        a proxy, also inside containers."""
        assert isinstance(callback, Pyro4.Proxy), type(callback)
        return [callback.progress(step) for step in range(steps)]

    def nested(self, things: dict[str, Any]) -> list[Any]:
        return [type(v).__name__ for v in things["list"]] + [things["one"].progress(9)]


@pytest.fixture
def client_daemon() -> Iterator[ServedDaemon]:
    with serving() as served:
        yield served


def test_registered_objects_know_their_daemon_and_id() -> None:
    with serving() as served:
        factory = Factory()
        uri = served.register(factory, "example.factory")
        with Pyro4.Proxy(uri) as p:
            assert p.whoami() == "example.factory"
            one = p.make(1)
            assert isinstance(one, Pyro4.Proxy)
            assert one.speak("hi") == "thingy 1 says: hi"
            p.stop_my_daemon()  # Pyro's remote-shutdown idiom
        served.thread.join(scaled(10))
        assert not served.thread.is_alive()


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_registered_object_passed_as_an_argument_arrives_as_a_proxy(
    serializer: str, client_daemon: ServedDaemon
) -> None:
    class Progress:
        def __init__(self) -> None:
            self.steps: list[int] = []
            self.lock = threading.Lock()

        @Pyro4.expose
        def progress(self, step: int) -> int:
            with self.lock:
                self.steps.append(step)
            return step * 10

    callback = Progress()
    client_daemon.daemon.register(callback)
    with serving(serializers_accepted={"serpent", "json", "msgpack", "pickle"}) as server:
        uri = server.register(Worker())
        with Pyro4.Proxy(uri) as worker:
            worker._pyroSerializer = serializer
            assert worker.work(3, callback) == [0, 10, 20]
            if serializer != "json":  # json has no tuples: the list comes back a list anyway
                assert worker.nested({"list": [callback, callback], "one": callback}) == [
                    "Proxy",
                    "Proxy",
                    90,
                ]
    assert callback.steps[:3] == [0, 1, 2]


def test_pyro_object_to_auto_proxy() -> None:
    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        thing = Thingy(5)
        assert Pyro4.core.pyroObjectToAutoProxy(thing) is thing  # not registered: itself
        uri = daemon.register(thing)
        proxy = Pyro4.core.pyroObjectToAutoProxy(thing)
        assert isinstance(proxy, Pyro4.Proxy) and proxy._pyroUri == uri


# -- current_context: Pyro's facts about the message and the caller --------------------------------


@Pyro4.expose
class Facts:
    def facts(self) -> dict[str, Any]:
        ctx = Pyro4.current_context
        return {
            "seq": ctx.seq,
            "call_id": ctx.call_id,
            "msg_flags": ctx.msg_flags,
            "serializer_id": ctx.serializer_id,
            "client_sock_addr": ctx.client_sock_addr,
            "client_is_conn": ctx.client is not None and ctx.client.identity == ctx.client_id,
        }

    @Pyro4.oneway
    def fire(self, box: list[Any]) -> None:
        pass

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> str:
        return "abc"[index]


@pytest.mark.parametrize("serializer", ["serpent", "msgpack"])
def test_current_context_tells_seq_flags_serializer_and_address(serializer: str) -> None:
    with serving() as served:
        uri = served.register(Facts())
        with Pyro4.Proxy(uri) as p:
            p._pyroSerializer = serializer
            first, second = p.facts(), p.facts()
    assert second["seq"] == second["call_id"] > first["seq"] > 0
    assert first["msg_flags"] == 0
    assert first["serializer_id"] == get_serializer(serializer).serializer_id
    host, port = first["client_sock_addr"]
    assert host == "127.0.0.1" and port > 0
    assert first["client_is_conn"] is True


def test_a_plain_daemon_tells_every_callers_address_without_watching_them_go() -> None:
    # no session-mode class, no hook: the lean loop (no monitor), yet each caller's address is
    # known from its first message -- also for a caller whose connection's descriptor is one a
    # gone caller had (noted again, never the old caller's address)
    with serving() as served:
        uri = served.register(Facts())
        seen = []
        for _ in range(5):
            with Pyro4.Proxy(uri) as p:
                host, port = p.facts()["client_sock_addr"]
                assert p.facts()["client_sock_addr"] == (host, port)
            assert host == "127.0.0.1"
            seen.append(port)
        assert len(set(seen)) == 5  # a new connection each time: a new port, never a stale one
        assert served.daemon._serving.watch is None


def test_client_sock_addr_of_unix_and_inproc_callers(tmp_path: Any) -> None:
    with serving(unixsocket=str(tmp_path / "facts.sock")) as served:
        facts = Pyro4.Proxy(served.register(Facts())).facts()
        assert facts["client_sock_addr"] == ""  # an unnamed unix socket, as getpeername() says
    with serving(inproc=f"facts-{id(tmp_path)}") as served:
        facts = Pyro4.Proxy(served.register(Facts())).facts()
        assert facts["client_sock_addr"] is None  # no socket: not known
        assert facts["client_is_conn"] is True


def test_exposed_dunder_methods_are_callable_by_name() -> None:
    with serving() as served:
        uri = served.register(Facts())
        with Pyro4.Proxy(uri) as p:
            assert p._pyroInvoke("__len__", (), {}) == 3
            assert p._pyroInvoke("__getitem__", (1,), {}) == "b"
            with pytest.raises(AttributeError):
                p._pyroInvoke("__reduce__", (), {})  # Python's machinery: never
            with pytest.raises(AttributeError):
                p._pyroInvoke("__init__", (), {})
        with Pyro4.Proxy(uri) as p:
            with pytest.raises(AttributeError):  # metadata not known yet: a probe never connects
                p.__len__  # noqa: B018
            assert p._pyroConnection is None
            p._pyroBind()
            assert p.__len__() == 3 and p.__getitem__(1) == "b"  # as Pyro: exposed, by name
            with pytest.raises(AttributeError):
                p.__deepcopy__  # noqa: B018 - not exposed: copy's probe finds nothing


# -- COMMTIMEOUT on the daemon side -----------------------------------------------------------------


class Watching(Pyro4.Daemon):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gone: list[Any] = []
        self.changed = threading.Condition()

    def clientDisconnect(self, conn: Any) -> None:  # noqa: N802
        with self.changed:
            self.gone.append(conn)
            self.changed.notify_all()


@Pyro4.expose
class Sleeper:
    def nap(self, seconds: float) -> str:
        time.sleep(seconds)
        return "rested"


def test_commtimeout_drops_idle_clients_but_not_while_their_call_runs() -> None:
    Pyro4.config.COMMTIMEOUT = 0.3
    daemon = Watching(host="127.0.0.1")
    uri = daemon.register(Sleeper())
    served = ServedDaemon(daemon)
    try:
        with Pyro4.Proxy(uri) as p:
            p._pyroTimeout = None  # (COMMTIMEOUT is the proxy's call timeout too)
            assert p.nap(1.0) == "rested"  # three times the limit, and still connected
            assert daemon.gone == []
            started = time.monotonic()
            with daemon.changed:
                assert daemon.changed.wait_for(lambda: len(daemon.gone) == 1, scaled(10))
            assert 0.25 <= time.monotonic() - started < scaled(5)
        # a raw client sees its connection closed by the daemon
        sock = raw_dealer(uri.endpoint)
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        try:
            ser = get_serializer("serpent")
            payload, _ = ser.dumps([[0.0], {}])
            sock.send_multipart(
                wire.encode(wire.CALL, 0, ser.serializer_id, 1, uri.object, "nap", payload)
            )
            assert wire.decode(sock.recv_multipart()).kind == wire.RESULT
            assert monitor.poll(int(scaled(10) * 1000)), "the idle connection was not dropped"
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)
    finally:
        served.stop()


def test_commtimeout_where_it_cannot_apply_says_so(caplog: pytest.LogCaptureFixture) -> None:
    Pyro4.config.COMMTIMEOUT = 1.0
    with caplog.at_level("WARNING", logger="zpyro.server"):
        Pyro4.Daemon(inproc=f"no-idle-{id(caplog)}").close()
    assert "idle clients are not dropped here" in caplog.text and "inproc" in caplog.text
