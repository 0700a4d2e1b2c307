"""A broker pair (Binary Star) as real processes: one active broker, the other passive and in
step; a kill -9 of the primary mid-traffic; clients, daemons, watchers and zpyro-nsc following.

The brokers run on 127.0.0.1 with free call and announcement ports; their pair link goes over
ipc sockets in a short temporary directory (both ends are known before either starts), their
names into sqlite files the tests read directly. Heartbeats are fast (FAST_HEARTBEAT_ENV):
``HEARTBEAT_TIMEOUT`` is 1 s, so a failover is due within 2 s.
"""

from __future__ import annotations

import copy
import json
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.utils.monitor
from conftest import (
    FAST_HEARTBEAT_ENV,
    PYTHON,
    ROOT,
    BrokerProcess,
    Worker,
    eventually,
    raw_dealer,
    scaled,
)

import zpyro
from zpyro import announce, errors, security, wire

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

TIMEOUT = float(FAST_HEARTBEAT_ENV["ZPYRO_HEARTBEAT_TIMEOUT"])
WORKER = str(ROOT / "tests" / "programs" / "brokered_worker.py")


@pytest.fixture(autouse=True)
def fast_heartbeats() -> None:
    """This process's clients use the brokers' timing too (the failover wait depends on it)."""
    zpyro.config.HEARTBEAT_INTERVAL = float(FAST_HEARTBEAT_ENV["ZPYRO_HEARTBEAT_INTERVAL"])
    zpyro.config.HEARTBEAT_TIMEOUT = TIMEOUT


@pytest.fixture
def sockets() -> Iterator[Path]:
    """A short directory for the pair's ipc sockets (paths must stay under ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="zpp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Pair:
    start_broker: Any
    sockets: Path
    storage: Path
    extra: tuple[str, ...] = ()
    settle: bool = True  # wait until the two have met
    primary: BrokerProcess = field(init=False)
    backup: BrokerProcess = field(init=False)

    def __post_init__(self) -> None:
        self.primary = self.start("primary")
        self.backup = self.start("backup")
        if self.settle:
            self.primary.spawned.wait_for("primary now active")
            self.backup.spawned.wait_for("backup now passive")

    def start(self, role: str, port: int = 0) -> BrokerProcess:
        me, peer = ("p", "b") if role == "primary" else ("b", "p")
        return self.start_broker(
            f"--{role}",
            "--pair",
            f"ipc://{self.sockets}/{me}",
            "--peer",
            f"ipc://{self.sockets}/{peer}",
            *self.extra,
            port=port,
            storage=f"sqlite:{self.db(role)}",
        )

    def db(self, role: str) -> Path:
        return self.storage / f"{role}.db"

    @property
    def locations(self) -> str:
        return f"{self.primary.location},{self.backup.location}"

    def ns(self, order: str | None = None) -> Any:
        ns = zpyro.locate_ns(order or self.locations)
        ns._pyroTimeout = scaled(10)
        return ns


@pytest.fixture
def pair(start_broker: Any, sockets: Path, tmp_path: Path) -> Pair:
    return Pair(start_broker, sockets, tmp_path)


def stored(db: Path) -> dict[str, tuple[str, list[str]]]:
    """The live names of a broker's sqlite file, read as another process would."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, uri, metadata FROM names").fetchall()
    conn.close()
    return {name: (uri, json.loads(tags)) for name, uri, tags in rows}


def tombstones(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM stamps WHERE deleted = 1").fetchall()
    conn.close()
    return {name for (name,) in rows}


def pair_state(broker: BrokerProcess) -> dict[str, Any]:
    """What a broker says of the pair to a PING (which never makes it take over)."""
    sock = raw_dealer(broker.endpoint)
    try:
        sock.send_multipart(wire.encode(wire.PING, 0, 0, 7, "", ""))
        msg = wire.decode(sock.recv_multipart())
        assert msg.kind == wire.PONG and msg.call_id == 7
        info: dict[str, Any] = json.loads(msg.payload)["pair"]
        return info
    finally:
        sock.close(linger=0)


def start_workers(spawn: Any, locations: str, n: int = 2) -> list[Worker]:
    args = [PYTHON, WORKER, f"tcp://{locations}", "jobs", "2"]
    return [Worker(spawn(args, env=FAST_HEARTBEAT_ENV)) for _ in range(n)]


# -- one active, one passive, names in step --------------------------------------------------------


def test_one_broker_is_active_and_the_passive_one_refuses_calls_naming_it(pair: Pair) -> None:
    p, b = pair_state(pair.primary), pair_state(pair.backup)
    assert (p["role"], p["state"], p["peer"]) == ("primary", "active", True)
    assert (b["role"], b["state"], b["peer"]) == ("backup", "passive", True)
    assert p["active"] == b["active"] == pair.primary.location
    assert p["locations"] == b["locations"] == pair.locations.split(",")
    assert b["pub"] == f"127.0.0.1:{pair.backup.pub_port}"
    alone = zpyro.Proxy(f"PYRO:{wire.NAMESERVER_ID}@{pair.backup.location}")  # no other address
    with pytest.raises(errors.NotActiveError) as refused:
        alone.ping()
    assert refused.value.active == pair.primary.location
    assert f"the active one is {pair.primary.location}" in str(refused.value)
    alone._pyroRelease()
    # both addresses, the passive one first: the proxy asks both and talks to the active one
    ns = pair.ns(f"{pair.backup.location},{pair.primary.location}")
    assert ns.list() == {
        wire.NAMESERVER_ID: f"PYRO:{wire.NAMESERVER_ID}@{pair.locations}"  # primary first
    }
    assert (
        "primary of a pair, active"
        in zpyro.Proxy(f"PYRO:{wire.DAEMON_OBJECT_ID}@{pair.locations}").info()
    )
    assert pair_state(pair.backup)["state"] == "passive"  # asking it did not wake it
    ns._pyroRelease()


def test_announcements_come_from_the_active_broker_only(pair: Pair) -> None:
    subs = {}
    for role, broker in (("primary", pair.primary), ("backup", pair.backup)):
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.linger = 0
        sub.subscribe(b"")
        sub.connect(broker.pub_endpoint)
        subs[role] = sub
    try:
        beats = 0
        while beats < 4:  # a few heartbeats of the active one: the passive one beats as often
            assert subs["primary"].poll(int(scaled(10) * 1000)), "no announcement from the primary"
            got = announce.decode(subs["primary"].recv_multipart())
            assert got.epoch == pair.primary.epoch
            beats += got.kind == announce.BROKER_ALIVE
        assert not subs["backup"].poll(0), "the passive broker announced something"
    finally:
        for sub in subs.values():
            sub.close(linger=0)


def test_a_client_of_a_pair_that_just_started_is_served_once_it_settles(
    start_broker: Any, sockets: Path, tmp_path: Path
) -> None:
    """Asked before the two have met, neither broker serves yet (each waits for its peer, the
    PONGs say so): the client waits for the pair instead of failing or waking the backup."""
    pair = Pair(start_broker, sockets, tmp_path, settle=False)
    ns = pair.ns()
    ns.register("early", "PYRO:e@127.0.0.1:1")
    assert pair_state(pair.primary)["state"] == "active"
    pair.backup.spawned.wait_for("backup now passive")  # (it hears the active primary)
    eventually(lambda: "early" in stored(pair.db("backup")), 10, "the backup has the name")
    ns._pyroRelease()


def test_names_are_on_the_passive_broker_before_register_returns(pair: Pair) -> None:
    ns = pair.ns()
    for i in range(20):
        ns.register(f"hand.{i}", f"PYRO:obj{i}@127.0.0.1:{5000 + i}", metadata={f"n:{i}"})
        # read the backup's file right after the call returned: no waiting, no polling
        assert stored(pair.db("backup"))[f"hand.{i}"] == (
            f"PYRO:obj{i}@127.0.0.1:{5000 + i}",
            [f"n:{i}"],
        )
    ns.set_metadata("hand.3", {"changed"})
    assert stored(pair.db("backup"))["hand.3"][1] == ["changed"]
    assert ns.remove(prefix="hand.1") == 11  # hand.1, hand.10 .. hand.19
    assert set(stored(pair.db("backup"))) == {f"hand.{i}" for i in (0, 2, 3, 4, 5, 6, 7, 8, 9)}
    assert stored(pair.db("backup")) == stored(pair.db("primary"))
    # the removals are confirmed: no tombstone is kept on either side
    eventually(lambda: not tombstones(pair.db("primary")), 5, "tombstones purged")
    assert not tombstones(pair.db("backup"))
    ns._pyroRelease()


def test_a_passive_broker_that_was_down_catches_up_when_it_comes_back(pair: Pair) -> None:
    ns = pair.ns()
    ns.register("before", "PYRO:b@127.0.0.1:1")
    ns.register("removed.while.down", "PYRO:r@127.0.0.1:2")
    assert pair.backup.stop() == 0
    started = time.monotonic()
    ns.register("while.down", "PYRO:w@127.0.0.1:3", metadata={"late"})
    assert ns.remove("removed.while.down") == 1
    assert time.monotonic() - started < scaled(TIMEOUT)  # no peer: nothing waits for it
    assert "while.down" not in stored(pair.db("backup"))
    assert tombstones(pair.db("primary")) == {"removed.while.down"}  # kept for the peer
    pair.backup = pair.start("backup")
    pair.backup.spawned.wait_for("backup now passive")
    want = {"before": ("PYRO:b@127.0.0.1:1", []), "while.down": ("PYRO:w@127.0.0.1:3", ["late"])}
    eventually(
        lambda: stored(pair.db("backup")) == want, 10, lambda: f"{stored(pair.db('backup'))}"
    )
    assert stored(pair.db("primary")) == want
    eventually(lambda: not tombstones(pair.db("primary")), 5, "the removal confirmed")
    ns._pyroRelease()


# -- failover -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    thread: int
    method: str
    kind: str  # "sync" or "future"
    started: float
    ended: float
    error: str  # "" when it succeeded
    value: Any = None


class Callers:
    """4 threads calling the pool through the pair: work() and @idempotent square(), as sync
    calls and as futures, each call taking `seconds` on its daemon."""

    def __init__(self, locations: str, seconds: float) -> None:
        self.uri = f"PYRONAME:jobs@{locations}"
        self.seconds = seconds
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(4)]

    def __enter__(self) -> Callers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(scaled(30))

    def run(self, n: int) -> None:
        proxy = zpyro.Proxy(self.uri)
        proxy._pyroTimeout = scaled(20)
        futures = zpyro.asyncproxy(copy.copy(proxy))  # (asyncproxy switches its argument)
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                method = "square" if i % 2 else "work"
                kind = "future" if n % 2 else "sync"
                started = time.monotonic()
                try:
                    if kind == "sync":
                        value = getattr(proxy, method)(i, self.seconds)
                    else:
                        value = getattr(futures, method)(i, self.seconds).result(scaled(20))
                    error = ""
                except errors.ZPyroError as exc:
                    value, error = None, type(exc).__name__
                with self.lock:
                    self.outcomes.append(
                        Outcome(n, method, kind, started, time.monotonic(), error, value)
                    )
        finally:
            futures._pyroRelease()
            proxy._pyroRelease()


def first_success_after(probe: Any, since: float) -> float:
    """Call until a call made after `since` succeeds (bounded); when it returned. One call may
    fail: the one sent before the dead broker's connection was seen to go (lost with it)."""
    deadline = time.monotonic() + scaled(10)
    lost = 0
    while True:
        started = time.monotonic()
        try:
            probe.whoami()
            if started > since:
                return time.monotonic()
        except errors.ConnectionClosedError:
            lost += 1
            assert lost == 1, "a call failed after the lost connection was known"
        assert time.monotonic() < deadline, "no call succeeded after the kill"


def test_kill_9_of_the_primary_mid_traffic_fails_over_to_the_backup(pair: Pair, spawn: Any) -> None:
    ns = pair.ns()
    by_hand = {f"hand.{i}": f"PYRO:h{i}@127.0.0.1:{6000 + i}" for i in range(10)}
    for name, uri in by_hand.items():
        ns.register(name, uri)
    workers = start_workers(spawn, pair.locations)
    pids = {w.pid for w in workers}
    before = ns.list()
    assert set(before) == {wire.NAMESERVER_ID, "jobs", *by_hand}
    assert before["jobs"] == f"PYRO:jobs@{pair.locations}"
    ns._pyroRelease()
    probe = zpyro.Proxy(f"PYRONAME:jobs@{pair.locations}")  # quick calls: when is it back?
    probe._pyroTimeout = scaled(20)
    assert probe.whoami() in pids
    with Callers(pair.locations, 0.3) as callers:
        eventually(lambda: len(callers.outcomes) >= 16, 20, "calls flow through the primary")
        killed = time.monotonic()
        pair.primary.spawned.proc.kill()  # SIGKILL, by pid
        recovered = first_success_after(probe, killed)
        pair.primary.spawned.proc.wait(scaled(10))
        eventually(
            lambda: sum(o.started > recovered for o in callers.outcomes) >= 20,
            20,
            "calls go on through the backup",
        )
    probe._pyroRelease()
    failover = recovered - killed
    print(f"failover: {failover:.3f} s from kill -9 to the first successful new call")
    assert failover < scaled(2 * TIMEOUT), failover
    outcomes = callers.outcomes
    failed = [o for o in outcomes if o.error]
    # what failed was in flight when the connection went, and failed as a lost connection;
    # a caller's calls made after it saw that all succeed
    assert {o.error for o in failed} <= {"ConnectionClosedError"}, failed
    for n in range(4):
        seen = min((o.ended for o in failed if o.thread == n), default=killed)
        assert all(o.started < seen for o in failed if o.thread == n), failed
    assert not [o for o in failed if o.method == "square"], failed  # idempotent: sent again
    in_flight = [o for o in outcomes if o.started < killed < o.ended]
    assert {o.method for o in in_flight if not o.error} >= {"square"}, in_flight
    # no name lost; the pool is on the backup with both daemons
    ns = pair.ns()
    assert ns.list() == before
    served = set()
    proxy = zpyro.Proxy(f"PYRO:jobs@{pair.locations}")
    eventually(
        lambda: served.update(proxy.work(0)[0] for _ in range(4)) or served == pids,
        10,
        lambda: f"both daemons serve through the backup: {served} of {pids}",
    )
    proxy._pyroRelease()
    assert pair_state(pair.backup)["state"] == "active"
    # the primary restarted comes back passive, and in step
    pair.primary = pair.start("primary", port=pair.primary.port)
    pair.primary.spawned.wait_for("primary now passive")
    # once the active broker hears it again, a name is on it before register returns
    pair.backup.spawned.wait_for(f"peer {pair.primary.location} heard")
    ns.register("after.failover", "PYRO:a@127.0.0.1:1")
    assert "after.failover" in stored(pair.db("primary"))
    assert pair_state(pair.primary)["state"] == "passive"
    assert pair_state(pair.backup)["state"] == "active"
    ns._pyroRelease()


def test_a_watcher_follows_the_failover_with_a_new_epoch_and_snapshot(pair: Pair) -> None:
    ns = pair.ns()
    ns.register("watched.before", "PYRO:w@127.0.0.1:1")
    with zpyro.NameWatcher(pair.locations, timeout=scaled(5)) as watcher:
        assert watcher.epoch == pair.primary.epoch
        assert watcher.pub_endpoint == pair.primary.pub_endpoint
        assert "watched.before" in watcher.names()
        snapshots = watcher.snapshots
        pair.primary.spawned.proc.kill()
        pair.primary.spawned.proc.wait(scaled(10))
        ns._pyroRelease()  # (a call already on its way when the loss is seen would fail)
        ns = pair.ns()
        ns.register("watched.after", "PYRO:w@127.0.0.1:2")  # the backup takes over here
        assert watcher.wait_for(lambda names: "watched.after" in names, scaled(15))
        assert watcher.epoch == pair.backup.epoch and watcher.snapshots > snapshots
        assert watcher.pub_endpoint == pair.backup.pub_endpoint
        assert "watched.before" in watcher.names()
    ns._pyroRelease()


def test_nsc_takes_both_addresses_and_follows_the_active_broker(pair: Pair) -> None:
    def nsc(*args: str) -> subprocess.CompletedProcess[str]:
        order = f"{pair.backup.location},{pair.primary.location}"  # the passive one first
        return subprocess.run(
            [PYTHON, "-m", "zpyro.nsc", "-n", order, *args],
            capture_output=True,
            text=True,
            timeout=scaled(30),
            env={**FAST_HEARTBEAT_ENV, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )

    assert nsc("register", "via.nsc", "PYRO:n@127.0.0.1:1").returncode == 0
    assert "via.nsc" in stored(pair.db("backup"))
    pair.primary.spawned.proc.kill()
    pair.primary.spawned.proc.wait(scaled(10))
    listed = nsc("list")
    assert listed.returncode == 0, listed.stderr
    assert "via.nsc --> PYRO:n@127.0.0.1:1" in listed.stdout
    refused = nsc("--pub-port", "1234", "watch")
    assert refused.returncode == 1 and "pub_port cannot be given" in refused.stderr


def test_a_daemon_that_reaches_the_passive_broker_first_moves_to_the_active_one(
    pair: Pair, spawn: Any
) -> None:
    (worker,) = start_workers(spawn, f"{pair.backup.location},{pair.primary.location}", 1)
    proxy = zpyro.Proxy(f"PYRO:jobs@{pair.locations}")
    proxy._pyroTimeout = scaled(10)
    assert proxy.whoami() == worker.pid  # served through the active primary
    proxy._pyroRelease()
    moved = f"moving from broker tcp://{pair.backup.location} to tcp://{pair.primary.location}"
    assert moved in "".join(worker.spawned.output)


def test_a_daemon_given_one_address_learns_the_other_and_follows(pair: Pair, spawn: Any) -> None:
    (worker,) = start_workers(spawn, pair.primary.location, 1)
    pair.primary.spawned.proc.kill()
    pair.primary.spawned.proc.wait(scaled(10))
    proxy = zpyro.Proxy(f"PYRO:jobs@{pair.locations}")
    proxy._pyroTimeout = scaled(10)
    assert proxy.whoami() == worker.pid  # through the backup, which took over
    proxy._pyroRelease()


def test_the_two_brokers_must_be_one_primary_and_one_backup(
    start_broker: Any, sockets: Path
) -> None:
    first = start_broker(
        "--primary", "--pair", f"ipc://{sockets}/a", "--peer", f"ipc://{sockets}/b"
    )
    start_broker("--primary", "--pair", f"ipc://{sockets}/b", "--peer", f"ipc://{sockets}/a")
    first.spawned.wait_for("both brokers of the pair say they are the primary")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--primary"], "need --peer"),
        (["--peer", "127.0.0.1:1"], "need --peer, and --peer needs one of them"),
        (["--primary", "--backup", "--peer", "127.0.0.1:1"], "not allowed with"),
        (["--pair", "127.0.0.1:0"], "--pair is for a broker of a pair"),
    ],
)
def test_pair_options_are_checked(args: list[str], message: str) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "zpyro.broker", "--port", "0", "--storage", "memory", *args],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        cwd=str(ROOT),
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_sigterm_stops_a_broker_of_a_pair_cleanly(pair: Pair) -> None:
    pair.backup.spawned.proc.send_signal(signal.SIGTERM)
    assert pair.backup.spawned.proc.wait(scaled(10)) == 0
    pair.primary.spawned.wait_for("silent for")  # the primary notices, stays active
    assert pair_state(pair.primary)["state"] == "active"


def test_with_curve_the_pair_link_takes_only_the_pairs_own_key(
    start_broker: Any, sockets: Path, tmp_path: Path
) -> None:
    """The two brokers share one key pair (clients expect one server key); the allowed callers'
    directory need not hold it, and a caller who knows the public key cannot speak for the peer."""
    allowed = tmp_path / "allowed"
    server_public, server_secret = security.keygen(str(tmp_path / "server"), "server")
    alice_public, alice_secret = security.keygen(str(allowed), "alice")
    curve = ("--curve-secret", server_secret, "--curve-allowed", str(allowed))
    pair = Pair(start_broker, sockets, tmp_path, curve)
    zpyro.config.CURVE_SECRET_KEY = alice_secret
    zpyro.config.CURVE_SERVER_PUBLIC_KEY = server_public
    ns = pair.ns()
    ns.register("over.curve", "PYRO:c@127.0.0.1:1")
    assert "over.curve" in stored(pair.db("backup"))
    ns._pyroRelease()
    # alice, allowed to call, tries to feed the backup a change as if she were the primary
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 0
    security.apply_client(push, security.load_public(server_public))
    monitor = push.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    try:
        push.connect(f"ipc://{sockets}/b")
        assert monitor.poll(int(scaled(10) * 1000)), "the pair link let a caller's key in"
        event = zmq.utils.monitor.recv_monitor_message(monitor)
        assert event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    finally:
        push.disable_monitor()
        monitor.close(linger=0)
        push.close(linger=0)


def test_the_http_gateway_follows_the_failover(pair: Pair, spawn: Any) -> None:
    from gateway_support import GatewayProcess

    args = [PYTHON, WORKER, f"tcp://{pair.locations}", "http.jobs", "2"]
    worker = Worker(spawn(args, env=FAST_HEARTBEAT_ENV))
    gateway = GatewayProcess(
        spawn(
            [PYTHON, "-m", "zpyro.gateway", "--host", "127.0.0.1", "--port", "0"]
            + ["--ns-host", pair.locations],
            env={**FAST_HEARTBEAT_ENV, "ZPYRO_GATEWAY_KEY": ""},
        )
    )

    def whoami(http: Any) -> Any:
        answer = http.get("/pyro/http.jobs/whoami")
        return answer.json() if answer.status_code == 200 else None

    with gateway.client() as http:
        assert eventually(lambda: whoami(http), 15, "the gateway calls the pool") == worker.pid
        pair.primary.spawned.proc.kill()
        pair.primary.spawned.proc.wait(scaled(10))
        # the gateway's watcher and shared proxy move to the backup by themselves
        assert eventually(lambda: whoami(http), 15, "through the backup") == worker.pid
        assert http.get("/pyro/http.jobs/whoami").json() == worker.pid
