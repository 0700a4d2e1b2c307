"""zpyro.NameWatcher: a live copy of the name server's names, kept by the broker's announcements.

The first tests run against a real broker subprocess (and a real brokered daemon process); the
last ones drive the watcher from a PUB socket of the test's own with a fake snapshot source, to
make gaps, new epochs and garbage happen exactly when wanted.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import FAST_HEARTBEAT_ENV, PYTHON, ROOT, BrokerProcess, eventually, scaled

import zpyro
from zpyro import announce
from zpyro.announce import Announcement
from zpyro.errors import NamingError, ProtocolError
from zpyro.wire import NAMESERVER_TAGS

pytestmark = pytest.mark.timeout(60)

WAIT = scaled(10)


class Recorder:
    """An on_event callback that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[Announcement] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def __call__(self, ann: Announcement) -> None:
        with self.changed:
            self.events.append(ann)
            self.changed.notify_all()

    def kinds(self) -> list[str]:
        with self.lock:
            return [a.kind for a in self.events]

    def wait(self, test: Any, timeout: float = WAIT) -> Announcement:
        """The first recorded announcement for which test(ann) is true."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for ann in self.events:
                    if test(ann):
                        return ann
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no such announcement within {timeout}s; got {self.events}")
                self.changed.wait(left)


def ns_of(broker: BrokerProcess) -> Any:
    return zpyro.locate_ns(broker.host, broker.port)


def watcher_of(broker: BrokerProcess, **kwargs: Any) -> zpyro.NameWatcher:
    return zpyro.NameWatcher(broker.host, broker.port, broker.pub_port, **kwargs)


def has(name: str, uri: str | None = None) -> Any:
    return lambda names: name in names and (uri is None or names[name][0] == uri)


def lacks(name: str) -> Any:
    return lambda names: name not in names


# -- against a real broker -------------------------------------------------------------------------


def test_the_snapshot_is_the_name_servers_state(broker: BrokerProcess) -> None:
    with ns_of(broker) as ns:
        ns.register("example.one", "PYRO:one@127.0.0.1:5001", metadata={"blue", "round"})
        ns.register("example.two", "PYRO:two@127.0.0.1:5002")
        with watcher_of(broker) as watcher:
            assert watcher.epoch == broker.epoch
            assert watcher.snapshots == 1
            assert watcher.seq == ns.snapshot()["seq"]
            assert watcher.names() == {
                "Pyro.NameServer": (broker.uri, set(NAMESERVER_TAGS)),
                "example.one": ("PYRO:one@127.0.0.1:5001", {"blue", "round"}),
                "example.two": ("PYRO:two@127.0.0.1:5002", set()),
            }
            assert watcher.lookup("example.two") == zpyro.URI("PYRO:two@127.0.0.1:5002")
            uri, tags = watcher.lookup("example.one", return_metadata=True)
            assert (str(uri), tags) == ("PYRO:one@127.0.0.1:5001", {"blue", "round"})
            with pytest.raises(NamingError, match="unknown name: example.three"):
                watcher.lookup("example.three")


def test_registrations_and_removals_through_ns_show_up(broker: BrokerProcess) -> None:
    seen = Recorder()
    with ns_of(broker) as ns, watcher_of(broker, on_event=seen) as watcher:
        ns.register("svc.a", "PYRO:a@127.0.0.1:6001", metadata={"x"})
        ns.register("svc.b", "PYRO:b@127.0.0.1:6002")
        assert watcher.wait_for(lambda n: "svc.a" in n and "svc.b" in n, WAIT)
        assert watcher.names()["svc.a"] == ("PYRO:a@127.0.0.1:6001", {"x"})

        ns.register("svc.a", "PYRO:a2@127.0.0.1:6003")  # moved
        assert watcher.wait_for(has("svc.a", "PYRO:a2@127.0.0.1:6003"), WAIT)
        ns.set_metadata("svc.b", {"green"})
        assert watcher.wait_for(lambda n: n.get("svc.b", ("", set()))[1] == {"green"}, WAIT)

        assert ns.remove("svc.a") == 1
        assert watcher.wait_for(lacks("svc.a"), WAIT)
        assert ns.remove(prefix="svc.") == 1
        assert watcher.wait_for(lacks("svc.b"), WAIT)
        assert set(watcher.names()) == {"Pyro.NameServer"}

        removed = seen.wait(lambda a: a.kind == "name.removed" and a.body["name"] == "svc.b")
        assert removed.epoch == broker.epoch
        seen.wait(lambda a: a.kind == "broker.alive")  # heartbeats are passed on too
        # what the copy holds is what the name server holds
        assert watcher.names() == {
            name: (uri, set(tags)) for name, (uri, tags) in ns.list(return_metadata=True).items()
        }


@pytest.mark.timeout(90)
def test_a_brokered_daemon_joining_and_leaving_shows_its_pool_name(
    broker: BrokerProcess, spawn: Any
) -> None:
    seen = Recorder()
    with watcher_of(broker, on_event=seen) as watcher:
        assert "jobs" not in watcher.names()
        worker = spawn(
            [PYTHON, str(ROOT / "tests/programs/brokered_worker.py"), broker.endpoint, "jobs", "2"],
            env=FAST_HEARTBEAT_ENV,
        )
        worker.wait_for("READY")
        assert watcher.wait_for(has("jobs", f"PYRO:jobs@{broker.location}"), WAIT)
        joined = seen.wait(lambda a: a.kind == "daemon.joined")
        assert joined.body["names"] == ["jobs"] and joined.body["capacity"] == 2

        worker.stop()  # SIGTERM by pid: the daemon says BYE, its pool closes
        assert watcher.wait_for(lacks("jobs"), WAIT)
        left = seen.wait(lambda a: a.kind == "daemon.left")
        assert left.body["names"] == ["jobs"]
        assert left.body["daemon"] == joined.body["daemon"]


@pytest.mark.timeout(90)
def test_a_restarted_broker_is_noticed_and_its_stored_names_are_there(
    start_broker: Any, tmp_path: Path
) -> None:
    storage = "sqlite:" + str(tmp_path / "names.db")
    first = start_broker(storage=storage)
    with ns_of(first) as ns:
        ns.register("kept.name", "PYRO:kept@127.0.0.1:7001", metadata={"stored"})
    seen = Recorder()
    with watcher_of(first, on_event=seen) as watcher:
        assert watcher.wait_for(has("kept.name"), WAIT)
        assert watcher.epoch == first.epoch
        first.stop()

        second = start_broker(port=first.port, pub_port=first.pub_port, storage=storage)
        assert second.epoch != first.epoch
        assert watcher.wait_for(lambda n: watcher.epoch == second.epoch, WAIT), (
            "the watcher never re-synchronised with the restarted broker"
        )
        assert watcher.snapshots >= 2
        assert watcher.names()["kept.name"] == ("PYRO:kept@127.0.0.1:7001", {"stored"})
        seen.wait(lambda a: a.epoch == second.epoch)

        with ns_of(second) as ns:  # and it follows the new broker from then on
            ns.register("after.restart", "PYRO:new@127.0.0.1:7002")
        assert watcher.wait_for(has("after.restart", "PYRO:new@127.0.0.1:7002"), WAIT)


def test_start_fails_clearly_when_no_name_server_answers() -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    zpyro.config.CONNECT_TIMEOUT = 1.0
    watcher = zpyro.NameWatcher("127.0.0.1", port, port, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(NamingError, match="failed to locate the name server"):
        watcher.start()
    assert time.monotonic() - started < scaled(5)
    watcher.close()  # closing again is harmless


# -- driven by hand: the test's own PUB socket and a fake snapshot source --------------------------

EPOCH = 1234


class FakeNameServer:
    """A snapshot source the test controls; counts the snapshots taken."""

    def __init__(self, epoch: int = EPOCH, seq: int = 5) -> None:
        self.state: dict[str, Any] = {"epoch": epoch, "seq": seq, "names": {}}
        self.calls = 0
        self.failures = 0  # how many of the next calls raise
        self.lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            if self.failures:
                self.failures -= 1
                raise zpyro.errors.CommunicationError("name server away (on purpose)")
            return {
                "epoch": self.state["epoch"],
                "seq": self.state["seq"],
                "names": {k: list(v) for k, v in self.state["names"].items()},
            }

    def set(self, seq: int, names: dict[str, Any], epoch: int | None = None) -> None:
        with self.lock:
            self.state = {"epoch": epoch or self.state["epoch"], "seq": seq, "names": names}


class Bench:
    """A PUB bound on 127.0.0.1, a FakeNameServer and a started watcher on them."""

    def __init__(self) -> None:
        self.pub = zmq.Context.instance().socket(zmq.PUB)
        self.pub.linger = 0
        self.pub.bind("tcp://127.0.0.1:0")
        self.fake = FakeNameServer()
        self.seen = Recorder()
        self.watcher = zpyro.NameWatcher(
            pub_endpoint=self.pub.last_endpoint.decode(),
            snapshot=self.fake,
            on_event=self.seen,
            timeout=2.0,
        )
        self.watcher.start()
        self.marks = 0
        self.sync()

    def send(
        self, kind: str, seq: int, body: dict[str, Any] | None = None, epoch: int = EPOCH
    ) -> None:
        self.pub.send_multipart(announce.encode(kind, epoch, seq, body or {}))

    def send_raw(self, frames: list[bytes]) -> None:
        self.pub.send_multipart(frames)

    def sync(self) -> None:
        """Until the SUB is surely subscribed (slow joiner), and after that: until everything
        sent before has been handled: send a harmless marker and wait for it to come back."""
        self.marks += 1
        mark = f"mark-{self.marks}"

        def marker_came_back() -> bool:
            # a heartbeat level with the copy changes nothing but reaches on_event; an extra
            # key (kept by the decoder) tells this one from the others
            body = {"mark": mark}
            self.pub.send_multipart(announce.encode("broker.alive", EPOCH, self.watcher.seq, body))
            with self.seen.changed:
                return self.seen.changed.wait_for(
                    lambda: any(a.body.get("mark") == mark for a in self.seen.events), 0.05
                )

        eventually(marker_came_back, 10, f"the watcher receives marker {mark!r}", pause=0)

    def close(self) -> None:
        self.watcher.close()
        self.pub.close(linger=0)


@pytest.fixture
def bench() -> Iterator[Bench]:
    b = Bench()
    try:
        yield b
    finally:
        b.close()


def reg(name: str, uri: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "uri": uri, "metadata": tags or []}


def test_announcements_in_order_are_applied_without_a_new_snapshot(bench: Bench) -> None:
    w = bench.watcher
    assert (w.epoch, w.seq, w.snapshots) == (EPOCH, 5, 1)
    bench.send("name.registered", 6, reg("a", "PYRO:a@127.0.0.1:1", ["t"]))
    bench.send("name.registered", 7, reg("b", "PYRO:b@127.0.0.1:2"))
    bench.send("daemon.joined", 8, {"daemon": "d1", "names": ["a"], "capacity": 1})
    bench.send("name.removed", 9, {"name": "b"})
    assert w.wait_for(lambda n: w.seq == 9, WAIT)
    assert w.names() == {"a": ("PYRO:a@127.0.0.1:1", {"t"})}
    assert w.snapshots == 1 and bench.fake.calls == 1


def test_announcements_the_snapshot_covers_are_dropped(bench: Bench) -> None:
    w = bench.watcher
    bench.send("name.registered", 3, reg("old", "PYRO:old@127.0.0.1:1"))  # seq <= 5
    bench.send("name.registered", 5, reg("old", "PYRO:old@127.0.0.1:1"))
    bench.sync()
    assert "old" not in w.names()
    assert w.seq == 5 and w.snapshots == 1
    assert not any(a.body.get("name") == "old" for a in bench.seen.events)  # not news either


def test_a_gap_triggers_a_new_snapshot(bench: Bench) -> None:
    w = bench.watcher
    bench.fake.set(8, {"from.snapshot": ["PYRO:s@127.0.0.1:3", ["z"]]})
    bench.send("name.removed", 8, {"name": "whatever"})  # 6 and 7 were lost
    assert w.wait_for(lambda n: w.snapshots == 2, WAIT)
    assert w.seq == 8
    assert w.names() == {"from.snapshot": ("PYRO:s@127.0.0.1:3", {"z"})}
    # the announcement that showed the gap is news, and it was reported
    bench.seen.wait(lambda a: a.kind == "name.removed" and a.seq == 8)
    bench.send("name.registered", 9, reg("next", "PYRO:n@127.0.0.1:4"))
    assert w.wait_for(has("next"), WAIT)
    assert w.snapshots == 2


def test_a_heartbeat_ahead_of_the_copy_triggers_a_new_snapshot(bench: Bench) -> None:
    w = bench.watcher
    bench.send("broker.alive", 5)  # level with the copy: nothing to do
    bench.sync()
    assert w.snapshots == 1
    bench.fake.set(6, {"missed": ["PYRO:m@127.0.0.1:5", []]})
    bench.send("broker.alive", 6)  # announcement 6 never arrived
    assert w.wait_for(has("missed"), WAIT)
    assert (w.seq, w.snapshots) == (6, 2)


def test_a_new_epoch_triggers_a_new_snapshot(bench: Bench) -> None:
    w = bench.watcher
    bench.fake.set(1, {"reborn": ["PYRO:r@127.0.0.1:6", []]}, epoch=EPOCH + 1)
    bench.send("broker.alive", 1, epoch=EPOCH + 1)
    assert w.wait_for(lambda n: w.epoch == EPOCH + 1, WAIT)
    assert w.names() == {"reborn": ("PYRO:r@127.0.0.1:6", set())}
    # the next announcement right after the snapshot of the new epoch is applied in order
    bench.send("name.registered", 2, reg("second", "PYRO:2@127.0.0.1:7"), epoch=EPOCH + 1)
    assert w.wait_for(has("second"), WAIT)
    assert w.snapshots == 2


def test_a_failed_snapshot_is_retried_until_it_works(bench: Bench) -> None:
    w = bench.watcher
    bench.fake.failures = 2
    bench.fake.set(7, {"eventually": ["PYRO:e@127.0.0.1:8", []]})
    bench.send("name.registered", 7, reg("x", "PYRO:x@127.0.0.1:9"))  # gap: 6 is missing
    assert w.wait_for(has("eventually"), WAIT), "the watcher gave up after a failed snapshot"
    assert bench.fake.calls >= 4  # the first one, two failures, the one that worked
    assert w.snapshots == 2 and w.seq == 7


def test_garbage_on_the_pub_is_ignored(bench: Bench) -> None:
    w = bench.watcher
    garbage = [
        [b"just one frame"],
        [b"name.registered", b"not json", b"three frames"],
        [b"name.registered", b"\xff\xfe not utf-8"],
        [b"name.registered", b"[1, 2, 3]"],
        [b"no.such.kind", b'{"epoch":1234,"kind":"no.such.kind","seq":6,"time":1.0}'],
        [b"name.removed", b'{"epoch":1234,"kind":"name.registered","seq":6,"time":1.0}'],
        [b"name.removed", b'{"epoch":-1,"kind":"name.removed","name":"a","seq":6,"time":1.0}'],
        [b"name.registered", b'{"epoch":1234,"kind":"name.registered","seq":6,"time":1.0}'],
        [b"\x00\xff", b"{}"],
        [b"", b""],
    ]
    for frames in garbage:
        bench.send_raw(frames)
    bench.send("name.registered", 6, reg("good", "PYRO:g@127.0.0.1:10"))
    assert w.wait_for(has("good"), WAIT)
    assert w.seq == 6 and w.snapshots == 1  # garbage neither applied nor taken for a gap
    assert w.names() == {"good": ("PYRO:g@127.0.0.1:10", set())}


def test_a_failing_callback_does_not_stop_the_watcher() -> None:
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.linger = 0
    pub.bind("tcp://127.0.0.1:0")
    fake = FakeNameServer(seq=0)
    calls: list[int] = []

    def explode(ann: Announcement) -> None:
        calls.append(ann.seq)
        raise RuntimeError("callback bug")

    endpoint = pub.last_endpoint.decode()
    try:
        with zpyro.NameWatcher(pub_endpoint=endpoint, snapshot=fake, on_event=explode) as w:

            def subscribed() -> bool:
                pub.send_multipart(announce.encode("broker.alive", EPOCH, 0, {}))
                return w.wait_for(lambda n: bool(calls), 0.05)

            eventually(subscribed, 10, "the watcher's first callback", pause=0)
            pub.send_multipart(
                announce.encode("name.registered", EPOCH, 1, reg("a", "PYRO:a@127.0.0.1:1"))
            )
            assert w.wait_for(has("a"), WAIT)
    finally:
        pub.close(linger=0)


def test_a_malformed_first_snapshot_fails_start() -> None:
    watcher = zpyro.NameWatcher(
        pub_endpoint="tcp://127.0.0.1:1", snapshot=lambda: {"epoch": 1, "names": {}}
    )
    with pytest.raises(ProtocolError, match="malformed name-server snapshot"):
        watcher.start()


def test_close_is_prompt_and_ends_the_thread(bench: Bench) -> None:
    thread = bench.watcher._thread
    assert thread is not None and thread.is_alive()
    started = time.monotonic()
    bench.watcher.close()
    assert time.monotonic() - started < scaled(1)
    assert not thread.is_alive()


def test_a_bad_endpoint_fails_start_at_once() -> None:
    watcher = zpyro.NameWatcher(pub_endpoint="nonsense://x", snapshot=FakeNameServer())
    started = time.monotonic()
    with pytest.raises(zmq.ZMQError):
        watcher.start()
    assert time.monotonic() - started < scaled(2)
