"""Pyro.NameServer served by a plain Daemon, called through real proxies (tcp 127.0.0.1), its
announcements caught by a real PUB/SUB pair."""

from __future__ import annotations

import copy
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import ServedDaemon, eventually, scaled, serving

import zpyro
from zpyro import announce
from zpyro.broker.announcer import Announcer
from zpyro.broker.nameserver import NAME, NameServer
from zpyro.broker.registry import Registry
from zpyro.broker.storage import MemoryStorage, SqliteStorage
from zpyro.errors import NamingError
from zpyro.serializers import SERIALIZERS
from zpyro.wire import NAMESERVER_TAGS

pytestmark = pytest.mark.timeout(60)

SERIALIZERS_TESTED = ["serpent", "json", "msgpack"]
U1 = "PYRO:one@127.0.0.1:5001"
U2 = "PYRO:two@127.0.0.1:5002"
U3 = "PYRO:three@./u:/tmp/three.sock"
TABLE = {
    "register", "lookup", "list", "yplookup", "set_metadata", "remove", "count", "ping", "snapshot",
}  # fmt: skip


class Capture:
    """A PUB for the Announcer and a SUB that has surely joined (probed, not slept)."""

    def __init__(self) -> None:
        ctx = zmq.Context.instance()
        self.pub = ctx.socket(zmq.PUB)
        self.pub.linger = 0
        port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        self.sub = ctx.socket(zmq.SUB)
        self.sub.linger = 0
        self.sub.subscribe(b"")
        self.sub.connect(f"tcp://127.0.0.1:{port}")

        def probe_arrived() -> bool:  # the slow joiner: publish probes until one gets through
            self.pub.send_multipart([b"probe", b""])
            return bool(self.sub.poll(20))

        eventually(probe_arrived, 10, "the SUB receives a probe", pause=0)

    def next(self, timeout: float = 5.0) -> announce.Announcement:
        deadline = time.monotonic() + scaled(timeout)
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self.sub.poll(int(remaining * 1000)), "no announcement"
            frames = self.sub.recv_multipart()
            if frames[0] != b"probe":  # probes still in flight when the SUB joined
                return announce.decode(frames)

    def close(self) -> None:
        self.sub.close(linger=0)
        self.pub.close(linger=0)


class Setup:
    def __init__(self, served: ServedDaemon, storage: Any, capture: Capture) -> None:
        self.served = served
        self.storage = storage
        self.capture = capture
        self.announcer = Announcer(capture.pub.send_multipart, epoch=4242)
        self.self_uri = f"PYRO:{NAME}@{served.daemon.location}"
        self.ns = NameServer(Registry(), storage, self.announcer, self.self_uri)
        served.register(self.ns, NAME)
        first = capture.next()  # the name server announces itself
        assert (first.kind, first.seq, first.body["name"]) == ("name.registered", 1, NAME)

    def proxy(self, serializer: str = "serpent") -> zpyro.Proxy:
        p = zpyro.Proxy(self.self_uri)
        p._pyroSerializer = serializer
        p._pyroTimeout = scaled(10)
        return p


@pytest.fixture
def setup() -> Iterator[Setup]:
    capture = Capture()
    try:
        with serving() as served:
            yield Setup(served, MemoryStorage(), capture)
    finally:
        capture.close()


@pytest.mark.parametrize("serializer", SERIALIZERS_TESTED)
def test_register_lookup_list(setup: Setup, serializer: str) -> None:
    with setup.proxy(serializer) as ns:
        assert ns.ping() is None
        ns.register("app.one", U1, metadata={"region:eu", "fast"})
        ns.register("app.two", zpyro.URI(U2))
        assert ns.count() == 3

        uri = ns.lookup("app.one")
        assert isinstance(uri, zpyro.URI) and uri == zpyro.URI(U1)
        found, tags = ns.lookup("app.one", return_metadata=True)
        assert isinstance(found, zpyro.URI) and found == U1
        assert set(tags) == {"region:eu", "fast"}

        assert ns.list() == {NAME: setup.self_uri, "app.one": U1, "app.two": U2}
        assert ns.list(prefix="app.", metadata_any=["fast"]) == {"app.one": U1}
        assert ns.list(regex=r"app\.t") == {"app.two": U2}
        listed = ns.list(prefix="app.", return_metadata=True)
        assert {k: (v[0], set(v[1])) for k, v in listed.items()} == {
            "app.one": (U1, {"region:eu", "fast"}),
            "app.two": (U2, set()),
        }
        yp = ns.yplookup(meta_all=["region:eu"])
        assert list(yp) == ["app.one"] and set(yp["app.one"][1]) == {"region:eu", "fast"}
        assert ns.yplookup(meta_any=["fast"], return_metadata=False) == {"app.one": U1}


def test_results_keep_python_types_with_serpent(setup: Setup) -> None:
    with setup.proxy("serpent") as ns:
        ns.register("n", U1, metadata=["t"])
        assert ns.lookup("n", return_metadata=True) == (zpyro.URI(U1), {"t"})
        assert ns.list(prefix="n", return_metadata=True) == {"n": (U1, {"t"})}


@pytest.mark.parametrize("serializer", SERIALIZERS_TESTED)
def test_errors_reach_the_caller_as_naming_error(setup: Setup, serializer: str) -> None:
    with setup.proxy(serializer) as ns:
        with pytest.raises(NamingError, match="unknown name: nope"):
            ns.lookup("nope")
        ns.register("taken", U1)
        with pytest.raises(NamingError, match="already registered: taken"):
            ns.register("taken", U2, safe=True)
        with pytest.raises(NamingError, match="invalid regex"):
            ns.list(regex="(")
        with pytest.raises(NamingError, match="single str"):
            ns.register("x", U1, metadata="region:eu")
        with pytest.raises(NamingError, match="only PYRO"):
            ns.register("x", "PYRONAME:elsewhere")
        with pytest.raises(NamingError, match="whitespace"):
            ns.register("a name", U1)
        with pytest.raises(NamingError, match="unknown name"):
            ns.set_metadata("nope", ["t"])
        assert ns.lookup("taken") == U1
        assert ns.count() == 2


def test_exposed_surface_is_the_table(setup: Setup) -> None:
    with zpyro.Proxy(f"PYRO:Pyro.Daemon@{setup.served.daemon.location}") as daemon:
        meta = daemon.get_metadata(NAME)
    assert set(meta["methods"]) == TABLE
    assert not meta["attrs"]
    with setup.proxy() as ns, pytest.raises(AttributeError, match="add_lease"):
        ns.add_lease("evil", U1)  # the broker's own method is not reachable remotely
    assert setup.ns.count() == 1


def test_announcements_follow_changes(setup: Setup) -> None:
    cap = setup.capture
    with setup.proxy() as ns:
        ns.register("a", U1, metadata=["t2", "t1"])
        a = cap.next()
        assert a == announce.Announcement(
            "name.registered", 4242, 2, a.time, {"name": "a", "uri": U1, "metadata": ["t1", "t2"]}
        )
        ns.register("a", U1, metadata={"t1", "t2"})  # same as before: nothing to announce
        ns.set_metadata("a", ["t3"])
        a = cap.next()
        assert (a.kind, a.seq, a.body["metadata"]) == ("name.registered", 3, ["t3"])
        ns.register("b", U2)
        ns.register("c", U3)
        assert [cap.next().seq for _ in range(2)] == [4, 5]
        assert ns.remove(prefix="nothing") == 0
        assert ns.remove(regex="[bc]") == 2
        removed = [cap.next() for _ in range(2)]
        assert [(r.kind, r.seq, r.body) for r in removed] == [
            ("name.removed", 6, {"name": "b"}),
            ("name.removed", 7, {"name": "c"}),
        ]
        snap = ns.snapshot()
    assert snap == {
        "epoch": 4242,
        "seq": 7,
        "names": {NAME: [setup.self_uri, sorted(NAMESERVER_TAGS)], "a": [U1, ["t3"]]},
    }
    setup.announcer.alive()
    alive = cap.next()
    assert (alive.kind, alive.seq, alive.body) == ("broker.alive", 7, {})


def test_name_server_cannot_be_removed(setup: Setup) -> None:
    with setup.proxy() as ns:
        ns.register("Pyro.Other", U1)
        assert ns.remove(NAME) == 0
        assert ns.remove(prefix="Pyro.") == 1
        assert ns.lookup(NAME) == setup.self_uri
        assert ns.list() == {NAME: setup.self_uri}


def test_leases_shadow_stored_names_and_stay_out_of_storage(setup: Setup) -> None:
    cap, ns_obj = setup.capture, setup.ns
    with setup.proxy() as ns:
        ns.register("svc", U1, metadata=["stored"])
        assert cap.next().body["uri"] == U1
        ns_obj.add_lease("svc", U2, frozenset({"pooled"}))
        a = cap.next()
        assert (a.kind, a.body["uri"], a.body["metadata"]) == ("name.registered", U2, ["pooled"])
        assert ns.lookup("svc", return_metadata=True) == (zpyro.URI(U2), {"pooled"})
        ns_obj.add_lease("svc", U2, ["pooled"])  # a second daemon of the pool: no news
        ns_obj.add_lease("pool.only", U3)
        assert cap.next().body["name"] == "pool.only"
        # the storage holds the hand-registered name only, under the lease
        assert setup.storage.load() == {"svc": (U1, frozenset({"stored"}))}
        ns.set_metadata("svc", ["retagged"])  # changes the visible lease, in memory only
        assert cap.next().body["metadata"] == ["retagged"]
        assert setup.storage.load() == {"svc": (U1, frozenset({"stored"}))}

        ns_obj.drop_lease("svc")  # the stored entry shows again
        a = cap.next()
        assert (a.kind, a.body["uri"], a.body["metadata"]) == ("name.registered", U1, ["stored"])
        assert ns.lookup("svc") == U1
        ns_obj.drop_lease("pool.only")
        assert cap.next().body == {"name": "pool.only"} and ns.count() == 2
        ns_obj.drop_lease("never.leased")  # nothing happens, nothing announced
        ns.remove("svc")
        a = cap.next()
        assert (a.kind, a.body) == ("name.removed", {"name": "svc"})
        assert setup.storage.load() == {}


def test_storage_is_written_through(tmp_path: Path) -> None:
    path = tmp_path / "names.db"
    capture = Capture()
    try:
        with serving() as served:
            setup = Setup(served, SqliteStorage(path), capture)
            with setup.proxy("json") as ns:
                ns.register("kept", U1, metadata=["t"])
                ns.register("gone", U2)
                ns.remove("gone")
                ns.register("retagged", U3)
                ns.set_metadata("retagged", ["x", "y"])
            setup.storage.close()
        # a new broker on the same file: the names are back, the old leases are not
        storage = SqliteStorage(path)
        ns2 = NameServer(Registry(), storage, Announcer(lambda f: None), "PYRO:Pyro.NameServer@h:1")
        assert ns2.snapshot()["names"] == {
            NAME: ["PYRO:Pyro.NameServer@h:1", sorted(NAMESERVER_TAGS)],
            "kept": [U1, ["t"]],
            "retagged": [U3, ["x", "y"]],
        }
        storage.close()
    finally:
        capture.close()


def test_failed_storage_changes_nothing(setup: Setup) -> None:
    with setup.proxy() as ns:
        ns.register("before", U1)
        assert setup.capture.next().body["name"] == "before"
        setup.storage.close()
        with pytest.raises(NamingError, match="storage failed, nothing changed.*closed"):
            ns.register("after", U2)
        with pytest.raises(NamingError, match="storage failed"):
            ns.remove("before")
        with pytest.raises(NamingError, match="storage failed"):
            ns.set_metadata("before", ["t"])
        assert ns.list() == {NAME: setup.self_uri, "before": U1}
        uri, tags = ns.lookup("before", return_metadata=True)
        assert uri == U1 and not tags  # (serpent writes an empty set as ())
        seq = ns.snapshot()["seq"]
    assert seq == 2  # nothing was announced for the refused changes
    assert setup.announcer.seq == 2


@pytest.mark.timeout(90)
def test_snapshot_plus_later_announcements_is_the_state(setup: Setup) -> None:
    """A subscriber's recipe (docs/BROKER.md) rebuilds the state exactly, under concurrency."""
    cap = setup.capture
    errors: list[BaseException] = []
    half = threading.Barrier(5)

    def writer(k: int) -> None:
        try:
            with setup.proxy(SERIALIZERS_TESTED[k % 3]) as ns:
                for i in range(20):
                    ns.register(f"w{k}.n{i}", U1, metadata=[f"v{i}"])
                    if i % 3 == 0:
                        ns.remove(f"w{k}.n{i // 2}")
                    if i == 10:
                        half.wait(scaled(30))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    half.wait(scaled(30))
    with setup.proxy() as ns:
        snap = ns.snapshot()  # taken while the writers go on
    for t in threads:
        t.join(scaled(60))
    assert not errors, errors
    final = setup.ns.snapshot()
    state = {name: list(value) for name, value in snap["names"].items()}
    seq = snap["seq"]
    while seq < final["seq"]:
        a = cap.next()
        if a.seq <= snap["seq"]:
            continue  # already in the snapshot
        assert a.seq == seq + 1, "gap"
        seq = a.seq
        if a.kind == "name.registered":
            state[a.body["name"]] = [a.body["uri"], a.body["metadata"]]
        else:
            state.pop(a.body["name"], None)
    assert 0 < snap["seq"] < final["seq"]
    assert state == final["names"]


# -- URIs through every serializer (registered next to the Proxy's hook in zpyro/client.py) ----


@pytest.mark.parametrize("name", SERIALIZERS_TESTED)
def test_uri_survives_serializers(name: str) -> None:
    s = SERIALIZERS[name]
    value = [zpyro.URI(U1), {"k": zpyro.URI("PYRO:x@[::1]:7")}, (zpyro.URI(U3), 1)]
    payload, buffers = s.dumps(value)
    assert b"zpyro.URI" in payload
    back = s.loads(payload, buffers)
    assert isinstance(back[0], zpyro.URI) and back[0] == U1
    assert isinstance(back[1]["k"], zpyro.URI) and back[1]["k"] == "PYRO:x@[::1]:7"
    assert isinstance(back[2][0], zpyro.URI) and back[2][0].sockpath == "/tmp/three.sock"


def test_uri_pickles_and_copies() -> None:
    uri = zpyro.URI(U1)
    for twin in (pickle.loads(pickle.dumps(uri)), copy.copy(uri), copy.deepcopy(uri)):
        assert isinstance(twin, zpyro.URI) and twin == uri and twin.port == 5001
    s = SERIALIZERS["pickle"]
    assert s.loads(*s.dumps(uri)) == uri
