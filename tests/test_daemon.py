"""Daemon behaviour beyond plain calls: other event loops, its own object, slow-call learning,
and the proxy's metadata cache."""

from __future__ import annotations

import copy
import pickle
import threading
import time

import pytest
import zmq
from conftest import scaled, serving

import zpyro
from zpyro import metadata
from zpyro.wire import DAEMON_OBJECT_ID

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class Worker:
    def __init__(self) -> None:
        self.calls = 0

    def add(self, a: int, b: int) -> int:
        self.calls += 1
        return a + b

    def nap(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds


def test_daemon_in_a_foreign_poll_loop() -> None:
    """daemon.sockets + daemon.events(ready): the host loop polls, the daemon never blocks it."""
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Worker(), "w")
    stop = threading.Event()
    loops = []

    def host_loop() -> None:
        poller = zmq.Poller()
        for sock in daemon.sockets:
            poller.register(sock, zmq.POLLIN)
        for _ in range(100_000):  # bounded
            if stop.is_set():
                return
            ready = dict(poller.poll(50))
            loops.append(1)
            if ready:
                daemon.events(ready)

    thread = threading.Thread(target=host_loop, daemon=True)
    thread.start()
    try:
        with zpyro.Proxy(uri) as p:
            assert p.add(2, 3) == 5
            # a slow call runs on the pool: the host loop keeps turning meanwhile
            before = len(loops)
            assert p.nap(0.3) == 0.3
            assert len(loops) > before + 2
            assert [p.add(i, i) for i in range(20)] == [2 * i for i in range(20)]
    finally:
        stop.set()
        thread.join(scaled(5))
        daemon.close()
    assert not thread.is_alive()


def test_two_daemons_in_one_foreign_loop() -> None:
    daemons = [zpyro.Daemon(host="127.0.0.1") for _ in range(2)]
    uris = [d.register(Worker(), f"w{i}") for i, d in enumerate(daemons)]
    owner = {}
    poller = zmq.Poller()
    for d in daemons:
        for sock in d.sockets:
            poller.register(sock, zmq.POLLIN)
            owner[sock] = d
    stop = threading.Event()

    def loop() -> None:
        for _ in range(100_000):
            if stop.is_set():
                return
            ready = dict(poller.poll(50))
            for d in {owner[s] for s in ready}:
                d.events({s: e for s, e in ready.items() if owner[s] is d})

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        for i, uri in enumerate(uris):
            with zpyro.Proxy(uri) as p:
                assert p.add(i, 10) == i + 10
    finally:
        stop.set()
        thread.join(scaled(5))
        for d in daemons:
            d.close()


def test_the_daemon_object() -> None:
    with serving() as served:
        served.register(Worker(), "w")
        with zpyro.Proxy(f"PYRO:{DAEMON_OBJECT_ID}@{served.daemon.location}") as d:
            assert d.ping() is None
            assert set(d.registered()) == {"w", DAEMON_OBJECT_ID}
            assert served.daemon.location in d.info()
            meta = d.get_metadata("w")
            assert {"add", "nap"} <= set(meta["methods"])
            assert meta["max_message_size"] == zpyro.config.MAX_MESSAGE_SIZE
            with pytest.raises(zpyro.errors.DaemonError):
                d.get_metadata("nope")


def test_a_method_that_keeps_being_slow_moves_to_the_pool() -> None:
    """After a takeover, the slow method runs on workers: fast calls never queue behind it."""
    with serving() as served:
        uri = served.register(Worker(), "w")
        with zpyro.Proxy(uri) as p:
            assert p.nap(0.1) == 0.1  # runs inline, gets taken over, is learned as slow
        results: list[float] = []
        sleepers = [
            threading.Thread(target=lambda: results.append(zpyro.Proxy(uri).nap(0.5)))
            for _ in range(3)
        ]
        for t in sleepers:
            t.start()
        with zpyro.Proxy(uri) as fast:
            started = time.perf_counter()
            for _ in range(10):
                assert fast.add(1, 1) == 2
            assert time.perf_counter() - started < scaled(0.4)
        for t in sleepers:
            t.join(scaled(5))
        assert results == [0.5, 0.5, 0.5]


def test_register_errors_and_unregister() -> None:
    with zpyro.Daemon(host="127.0.0.1") as daemon:
        w = Worker()
        uri = daemon.register(w, "w")
        assert daemon.uri_for(w) == uri
        with pytest.raises(zpyro.errors.DaemonError):
            daemon.register(Worker(), "w")
        with pytest.raises(zpyro.errors.DaemonError):
            daemon.register(w)
        daemon.unregister(DAEMON_OBJECT_ID)  # never removable
        daemon.unregister("w")
        with pytest.raises(zpyro.errors.DaemonError):
            daemon.uri_for(w)
        daemon.register(w)
        assert daemon.proxy_for(w)._pyroUri.object.startswith("obj_")
    with pytest.raises(zpyro.errors.DaemonError):
        daemon.register(Worker())


def test_bind_failure_is_a_daemon_error() -> None:
    with zpyro.Daemon(host="127.0.0.1") as first:
        port = int(first.location.rsplit(":", 1)[1])
        with pytest.raises(zpyro.errors.DaemonError, match="cannot bind"):
            zpyro.Daemon(host="127.0.0.1", port=port)


def test_second_proxy_uses_cached_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving() as served:
        uri = served.register(Worker(), "w")
        fetched = []
        real = served.daemon.dispatcher.metadata
        monkeypatch.setattr(
            served.daemon.dispatcher, "metadata", lambda oid: fetched.append(oid) or real(oid)
        )
        with zpyro.Proxy(uri) as first:
            assert first.add(1, 2) == 3
        assert fetched == ["w"]
        with zpyro.Proxy(uri) as second:
            assert second.add(2, 2) == 4
        assert fetched == ["w"], "a second proxy within the trust window asks nothing extra"
        # once the cache entry is old, the first call has it confirmed in the same round trip
        monkeypatch.setattr(metadata, "META_TRUST_SECONDS", 0.0)
        with zpyro.Proxy(uri) as third:
            assert third.add(3, 3) == 6
            assert third._pyroMetaFresh
        assert fetched == ["w", "w"]


def test_method_added_on_restart_is_found_despite_the_cache() -> None:
    with serving() as served:
        uri = served.register(Worker(), "w")
        with zpyro.Proxy(uri) as p:
            assert p.add(1, 1) == 2

    @zpyro.expose
    class Worker2(Worker):
        def mul(self, a: int, b: int) -> int:
            return a * b

    port = int(uri.location.rsplit(":", 1)[1])
    with serving(port=port) as again:
        again.register(Worker2(), "w")
        with zpyro.Proxy(uri) as p:
            assert p.mul(3, 4) == 12
            with pytest.raises(AttributeError):
                p.nosuch  # noqa: B018


def test_proxy_copy_equality_pickle() -> None:
    p = zpyro.Proxy("PYRO:obj@127.0.0.1:5555")
    p._pyroTimeout = 2.5
    p._pyroOneway.add("log")
    twin = copy.copy(p)
    assert twin == p and hash(twin) == hash(p) and twin is not p
    assert twin._pyroTimeout == 2.5 and twin._pyroOneway == {"log"}
    assert twin._pyroConnection is None
    back = pickle.loads(pickle.dumps(p))
    assert back == p
    assert "not connected" in repr(p)
    assert p != zpyro.Proxy("PYRO:other@127.0.0.1:5555")


def test_reconnect_gives_up_after_its_tries() -> None:
    with zpyro.Daemon(host="127.0.0.1") as d:
        uri = d.register(Worker(), "w")
    p = zpyro.Proxy(uri)
    started = time.perf_counter()
    with pytest.raises(zpyro.errors.CommunicationError):
        p._pyroReconnect(tries=1)
    assert time.perf_counter() - started < scaled(3)
