"""Autoproxy (registered objects travel as proxies) and callbacks (the server calls the client)."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServedDaemon, scaled, serving

import zpyro
from zpyro import errors

pytestmark = pytest.mark.timeout(60)

# serializers that carry a Proxy (marshal carries builtin types only)
PROXY_SERIALIZERS = ["serpent", "json", "msgpack", "pickle"]


# -- autoproxy ------------------------------------------------------------------------------------


@zpyro.expose
class Car:
    def __init__(self, model: str) -> None:
        self.model = model
        self.odometer = 0

    def drive(self, km: int) -> int:
        self.odometer += km
        return self.odometer

    def describe(self) -> str:
        return f"{self.model} at {self.odometer} km"


@zpyro.expose
class Factory:
    def __init__(self, daemon: zpyro.Daemon) -> None:
        self.daemon = daemon
        self.cars: list[Car] = []

    def build(self, model: str, register: bool = True) -> Car:
        car = Car(model)
        if register:
            self.daemon.register(car)
            self.cars.append(car)
        return car

    def garage(self) -> list[Car]:
        return list(self.cars)

    def garage_tuple(self) -> tuple[Any, ...]:
        return ("cars", tuple(self.cars))

    def by_model(self) -> dict[str, Any]:
        return {car.model: car for car in self.cars} | {"count": len(self.cars)}

    def nested(self) -> dict[str, Any]:
        return {"rows": [[car, car.model] for car in self.cars]}

    def mixed(self) -> list[Any]:
        return [1, "two", None, Car("unregistered"), self.cars[0]]

    def scrap(self, model: str) -> None:
        for car in self.cars:
            if car.model == model:
                self.daemon.unregister(car)

    async def build_later(self, model: str) -> Car:
        return self.build(model)

    def total_km(self) -> int:
        return sum(car.odometer for car in self.cars)

    def myself(self) -> Factory:
        return self


@pytest.fixture
def factory() -> Iterator[tuple[ServedDaemon, Factory, zpyro.URI]]:
    with serving(serializers_accepted=frozenset([*PROXY_SERIALIZERS, "marshal"])) as served:
        obj = Factory(served.daemon)
        yield served, obj, served.register(obj, "autoproxy.factory")


@pytest.mark.parametrize("serializer", PROXY_SERIALIZERS)
def test_registered_result_arrives_as_a_proxy(factory: Any, serializer: str) -> None:
    served, obj, uri = factory
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = serializer
        beetle = p.build("Beetle")
        assert isinstance(beetle, zpyro.Proxy)
        assert beetle._pyroUri == served.daemon.uri_for(obj.cars[0])
        with beetle:
            beetle._pyroSerializer = serializer
            assert beetle.drive(120) == 120
            assert beetle.drive(30) == 150
        # it drove the server's car, not a copy
        assert obj.cars[0].odometer == 150
        assert p.total_km() == 150


def test_proxies_inside_lists_tuples_and_dicts(factory: Any) -> None:
    _, obj, uri = factory
    with zpyro.Proxy(uri) as p:
        for model in ("Beetle", "Mini", "2CV"):
            p.build(model)._pyroRelease()
        garage = p.garage()
        assert [type(c) for c in garage] == [zpyro.Proxy] * 3
        label, cars = p.garage_tuple()
        assert label == "cars" and all(isinstance(c, zpyro.Proxy) for c in cars)
        by_model = p.by_model()
        assert by_model["count"] == 3
        assert all(isinstance(by_model[m], zpyro.Proxy) for m in ("Beetle", "Mini", "2CV"))
        rows = p.nested()["rows"]
        assert [(type(car), model) for car, model in rows] == [
            (zpyro.Proxy, "Beetle"),
            (zpyro.Proxy, "Mini"),
            (zpyro.Proxy, "2CV"),
        ]
        for car, model in rows:
            with car:
                assert car.describe() == f"{model} at 0 km"
        with by_model["Mini"] as mini:
            mini.drive(5)
        assert obj.cars[1].odometer == 5


def test_everything_else_travels_by_value(factory: Any) -> None:
    _, obj, uri = factory
    with zpyro.Proxy(uri) as p:
        p.build("Beetle")._pyroRelease()
        copy = p.build("Copy", register=False)
        assert not isinstance(copy, zpyro.Proxy)
        assert copy["model"] == "Copy" and copy["odometer"] == 0  # serpent: a dict of its vars
        one, two, none, unregistered, registered = p.mixed()
        assert (one, two, none) == (1, "two", None)
        assert not isinstance(unregistered, zpyro.Proxy)
        assert unregistered["model"] == "unregistered"
        assert isinstance(registered, zpyro.Proxy)
        registered._pyroRelease()


def test_returning_itself_gives_a_proxy_to_the_same_object(factory: Any) -> None:
    _, _, uri = factory
    with zpyro.Proxy(uri) as p:
        same = p.myself()
        assert isinstance(same, zpyro.Proxy)
        assert same == p  # same URI
        same._pyroRelease()


def test_autoproxy_from_async_methods_batches_and_futures(factory: Any) -> None:
    _, obj, uri = factory
    with zpyro.Proxy(uri) as p:
        later = p.build_later("Later")
        assert isinstance(later, zpyro.Proxy)
        later._pyroRelease()

        b = zpyro.BatchProxy(p)
        b.build("Batched")
        b.total_km()
        batched, km = b()
        assert isinstance(batched, zpyro.Proxy) and km == 0
        with batched:
            assert batched.drive(7) == 7

        with zpyro.asyncproxy(copy.copy(p)) as ap:
            future = ap.build("Future")
            car = future.result(timeout=scaled(5))
            assert isinstance(car, zpyro.Proxy)
            car._pyroRelease()
        assert [c.model for c in obj.cars] == ["Later", "Batched", "Future"]


def test_unregistered_object_no_longer_reachable(factory: Any) -> None:
    _, _, uri = factory
    with zpyro.Proxy(uri) as p:
        with p.build("Trabant") as trabant:
            assert trabant.drive(1) == 1
            p.scrap("Trabant")
            with pytest.raises(errors.DaemonError, match="unknown object"):
                trabant.drive(1)


# -- callbacks ------------------------------------------------------------------------------------


@zpyro.expose
class Server:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def add_up(self, numbers: list[int], listener: Any) -> int:
        total = 0
        for count, number in enumerate(numbers, 1):
            total += number
            listener.progress(count, len(numbers))  # calls back into the waiting client
        return total

    def ping_pong(self, listener: Any, depth: int) -> list[str]:
        """A->B->A->B...: the listener calls this server again from inside its callback."""
        self.seen.append(f"server {depth}")
        if depth <= 0:
            return ["bottom"]
        return [f"server {depth}", *listener.pong(depth - 1)]

    def provoke(self, listener: Any, method: str) -> str:
        try:
            getattr(listener, method)()
        except ValueError as exc:
            return f"listener raised ValueError: {exc}"
        return "listener did not raise"

    def notify(self, listener: Any, message: str) -> str:
        listener.tell(message)  # oneway: no waiting for the client
        return "notified"

    def call_me_later(self, listener: Any, times: int) -> str:
        threading.Thread(target=lambda: [listener.tell(f"later {n}") for n in range(times)]).start()
        return "will call"


@zpyro.expose
class Listener:
    def __init__(self, server_uri: zpyro.URI | None = None) -> None:
        self.progress_seen: list[tuple[int, int]] = []
        self.told: list[str] = []
        self.told_all = threading.Event()
        self.expect_told = 1
        self.server_uri = server_uri
        self.threads: set[str] = set()

    @zpyro.callback
    def progress(self, done: int, total: int) -> None:
        self.progress_seen.append((done, total))

    def pong(self, depth: int) -> list[str]:
        with zpyro.Proxy(self.server_uri) as server:  # B->A while the server's call waits
            return [f"client {depth}", *server.ping_pong(self_proxy(self), depth)]

    @zpyro.callback
    def broken(self) -> None:
        raise ValueError("the listener cannot handle this")

    def broken_quietly(self) -> None:
        raise ValueError("no callback marker")

    @zpyro.oneway
    @zpyro.callback
    def tell(self, message: str) -> None:
        self.told.append(message)
        if len(self.told) >= self.expect_told:
            self.told_all.set()


_listener_uris: dict[int, zpyro.URI] = {}


def self_proxy(listener: Listener) -> zpyro.Proxy:
    return zpyro.Proxy(_listener_uris[id(listener)])


@pytest.fixture
def sides() -> Iterator[tuple[zpyro.URI, Server, ServedDaemon]]:
    """The server's daemon and the client's own daemon (both serving in threads)."""
    with (
        serving(serializers_accepted=frozenset(PROXY_SERIALIZERS)) as server_side,
        serving() as client_side,
    ):
        server = Server()
        yield server_side.register(server, "callbacks.server"), server, client_side


def listen(client_side: ServedDaemon, listener: Listener) -> zpyro.Proxy:
    uri = client_side.register(listener)
    _listener_uris[id(listener)] = uri
    return zpyro.Proxy(uri)


@pytest.mark.parametrize("serializer", PROXY_SERIALIZERS)
def test_server_calls_back_while_the_client_waits(sides: Any, serializer: str) -> None:
    server_uri, _, client_side = sides
    listener = Listener()
    with zpyro.Proxy(server_uri) as server:
        server._pyroSerializer = serializer
        assert server.add_up([1, 2, 3, 4], listen(client_side, listener)) == 10
    assert listener.progress_seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_nested_callbacks_do_not_deadlock(sides: Any) -> None:
    """client -> server -> client -> server -> ... while every earlier call is still waiting."""
    server_uri, server, client_side = sides
    listener = Listener(server_uri)
    with zpyro.Proxy(server_uri) as proxy:
        result = proxy.ping_pong(listen(client_side, listener), 4)
    assert result == [
        "server 4",
        "client 3",
        "server 3",
        "client 2",
        "server 2",
        "client 1",
        "server 1",
        "client 0",
        "bottom",
    ]
    assert server.seen == ["server 4", "server 3", "server 2", "server 1", "server 0"]


def test_nested_callbacks_from_many_clients_at_once(sides: Any) -> None:
    server_uri, _, client_side = sides
    results: list[Any] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        listener = Listener(server_uri)
        with zpyro.Proxy(server_uri) as proxy:
            value = proxy.ping_pong(listen(client_side, listener), 2)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(20))
    assert results == [["server 2", "client 1", "server 1", "client 0", "bottom"]] * 8


def test_callback_exception_is_logged_by_the_callee_and_raised_in_the_caller(
    sides: Any, caplog: Any
) -> None:
    server_uri, _, client_side = sides
    listener_proxy = listen(client_side, Listener())
    with caplog.at_level(logging.WARNING, logger="zpyro.dispatch"):
        with zpyro.Proxy(server_uri) as server:
            answer = server.provoke(listener_proxy, "broken")
            assert answer == "listener raised ValueError: the listener cannot handle this"
            quiet = server.provoke(listener_proxy, "broken_quietly")
            assert quiet == "listener raised ValueError: no callback marker"
    logged = [r for r in caplog.records if r.name == "zpyro.dispatch"]
    callback_errors = [r for r in logged if r.levelno == logging.ERROR]
    assert len(callback_errors) == 1
    record = callback_errors[0]
    assert "exception in callback" in record.getMessage() and "broken" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert "the listener cannot handle this" in caplog.text  # with its traceback
    # an ordinary method's exception is not a logged error, just a warning
    assert not any(
        r.levelno >= logging.ERROR and "broken_quietly" in r.getMessage() for r in logged
    )


def test_oneway_callbacks(sides: Any) -> None:
    server_uri, _, client_side = sides
    listener = Listener()
    listener.expect_told = 3
    listener_proxy = listen(client_side, listener)
    with zpyro.Proxy(server_uri) as server:
        assert server.notify(listener_proxy, "hello") == "notified"
        assert server.call_me_later(listener_proxy, 2) == "will call"  # after the reply
        assert listener.told_all.wait(scaled(5))
    assert listener.told[0] == "hello" and sorted(listener.told[1:]) == ["later 0", "later 1"]


def test_a_daemon_calling_its_own_object_while_serving() -> None:
    """A->A: a served call makes a call to the same daemon and waits for it."""

    @zpyro.expose
    class Recursive:
        def __init__(self) -> None:
            self.uri: zpyro.URI | None = None

        def countdown(self, n: int) -> list[int]:
            if n == 0:
                return [0]
            with zpyro.Proxy(self.uri) as me:
                return [n, *me.countdown(n - 1)]

    with serving() as served:
        obj = Recursive()
        obj.uri = served.register(obj, "callbacks.recursive")
        with zpyro.Proxy(obj.uri) as p:
            assert p.countdown(5) == [5, 4, 3, 2, 1, 0]


def test_a_call_finishing_after_a_takeover_does_not_stall_the_daemon() -> None:
    """A taken-over call that ends while the new owner is busy in a long call of its own must not
    hide that call from the standby (else nobody serves the daemon until it ends)."""

    @zpyro.expose
    class Tangle:
        def __init__(self) -> None:
            self.uri: zpyro.URI | None = None
            self.c_started = threading.Event()
            self.c_release = threading.Event()

        def a(self) -> str:
            # served inline, then taken over while it waits; c runs inline on the new owner
            with zpyro.Proxy(self.uri) as me:
                me.c()
            assert self.c_started.wait(5)
            return "a done"  # ends while c is still running

        @zpyro.oneway
        def c(self) -> None:
            self.c_started.set()
            self.c_release.wait(5)  # until release() is served

        def release(self) -> str:
            self.c_release.set()
            return "released"

    with serving() as served:
        obj = Tangle()
        obj.uri = served.register(obj, "callbacks.tangle")
        with zpyro.Proxy(obj.uri) as p, zpyro.Proxy(obj.uri) as q:
            p._pyroTimeout = q._pyroTimeout = 2.0
            assert p.a() == "a done"  # its reply is sent by whoever serves while c runs
            assert q.release() == "released"  # served by a standby that took c over
