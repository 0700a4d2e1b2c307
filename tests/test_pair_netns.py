"""A broker pair on real "hosts" (network namespaces) whose own link is cut while clients still
reach both brokers.

Topology, made by the module fixture and deleted at its end (tests/netns.py):

    primary 10.232.0.1   backup 10.232.0.2   d1 .3   d2 .4   caller .5   caller2 .6
         |  \\______________ pair0 (10.233.0.1 <-> .2) ________/  |
         `------------------ br0 (every host) ----------------------'

The brokers talk to each other over `pair0` only, and to everybody else over the bridge; so
`pair0` down cuts the pair link and nothing else. The brokers' sqlite files are in the test's
temporary directory (namespaces share the file system), read directly by the test.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_HEARTBEAT_ENV, PYTHON, ROOT, BrokerProcess, Spawned, eventually
from netns import NEEDS_NETNS, Caller, Network, delete_stale_namespaces

pytestmark = [pytest.mark.slow, NEEDS_NETNS, pytest.mark.timeout(120)]

PREFIX = f"zpbs{os.getpid()}"
ADDRESSES = {
    "p": "10.232.0.1",
    "b": "10.232.0.2",
    "d1": "10.232.0.3",
    "d2": "10.232.0.4",
    "caller": "10.232.0.5",
    "caller2": "10.232.0.6",
}
LINK = {"p": "10.233.0.1", "b": "10.233.0.2"}
PORT, PUB_PORT, PAIR_PORT = 9090, 9091, 9092  # our own namespaces: these are free
CALLS = {role: f"{ADDRESSES[role]}:{PORT}" for role in ("p", "b")}
BOTH = f"{CALLS['p']},{CALLS['b']}"
WORKER = str(ROOT / "tests" / "programs" / "brokered_worker.py")
CALLER = str(ROOT / "tests" / "programs" / "netns_caller.py")


def stored(db: Path) -> dict[str, tuple[str, list[str]]]:
    """The live names of a broker's sqlite file."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, uri, metadata FROM names").fetchall()
    conn.close()
    return {name: (uri, json.loads(tags)) for name, uri, tags in rows}


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    delete_stale_namespaces("zpbs")
    network = Network(PREFIX, ADDRESSES)
    try:
        network.build()
        network.wire("p", "b", LINK["p"], LINK["b"])
        yield network
    finally:
        network.teardown()


class PairCluster:
    def __init__(self, net: Network, spawn: Any, storage: Path) -> None:
        self.net, self._spawn, self.storage = net, spawn, storage
        self.primary = self.broker("p")
        self.backup = self.broker("b")
        self.primary.spawned.wait_for("primary now active")
        self.backup.spawned.wait_for("backup now passive")
        workers = [self.start(d, [WORKER, f"tcp://{BOTH}", "jobs", "2"]) for d in ("d1", "d2")]
        self.pids = {int(w.wait_for("READY").split()[1]) for w in workers}
        self.caller = self.start_caller("caller", BOTH)

    def start(self, role: str, args: list[str]) -> Spawned:
        spawned: Spawned = self._spawn(
            self.net.run_in(role, [PYTHON, *args]), env=dict(FAST_HEARTBEAT_ENV)
        )
        return spawned

    def broker(self, role: str) -> BrokerProcess:
        name, peer = ("primary", "b") if role == "p" else ("backup", "p")
        args = ["-m", "zpyro.broker", "--host", ADDRESSES[role], "--port", str(PORT)]
        args += ["--pub-port", str(PUB_PORT), "--storage", f"sqlite:{self.db(role)}"]
        args += [f"--{name}", "--pair", f"{LINK[role]}:{PAIR_PORT}"]
        args += ["--peer", f"{LINK[peer]}:{PAIR_PORT}"]
        return BrokerProcess(self.start(role, args))

    def start_caller(self, role: str, locations: str) -> Caller:
        return Caller(self.start(role, [CALLER, locations, str(PORT), "jobs"]))

    def db(self, role: str) -> Path:
        return self.storage / f"{role}.db"

    def state(self, role: str) -> dict[str, Any]:
        outcome = self.caller.outcome(self.caller.send("pair", CALLS[role]))
        assert outcome.ok, outcome
        state: dict[str, Any] = outcome.value
        return state

    def register(self, caller: Caller, name: str, where: str | None = None) -> None:
        uri = f"PYRO:{name}@10.232.0.9:1"
        if where is None:
            outcome = caller.outcome(caller.send("ns", "register", name, uri))
        else:  # at that one broker only
            outcome = caller.outcome(caller.send("at", f"{where} register", name, uri))
        assert outcome.ok, outcome

    def cut_link(self) -> None:
        self.net.cut("p", "pair0")
        self.primary.spawned.wait_for("silent for", timeout=10)
        self.backup.spawned.wait_for("silent for", timeout=10)

    def heal_link(self) -> None:
        self.net.restore("p", "pair0")
        self.net.restore("b", "pair0")


@pytest.fixture
def cluster(net: Network, spawn: Any, tmp_path: Path) -> Iterator[PairCluster]:
    for role in ("p", "b"):
        net.restore(role, "pair0")
    made = PairCluster(net, spawn, tmp_path)
    try:
        yield made
    finally:
        made.heal_link()
        for role, broker in (("primary", made.primary), ("backup", made.backup)):
            print(f"--- {role} output:\n{''.join(broker.spawned.output[-40:])}")


def test_a_cut_between_the_brokers_never_makes_two_active_while_clients_reach_both(
    cluster: PairCluster,
) -> None:
    caller = cluster.caller
    assert caller.until_served_by(cluster.pids) == cluster.pids
    cluster.register(caller, "before.cut")
    cluster.cut_link()
    assert cluster.state("b") == {**cluster.state("b"), "state": "passive", "peer": False}
    # clients go on through the primary, which they still reach; one that lists the backup
    # first asks both and picks the active one: the backup never gets a client request
    late = cluster.start_caller("caller2", f"{CALLS['b']},{CALLS['p']}")
    for _ in range(3):
        assert caller.until_served_by(cluster.pids) == cluster.pids
        outcomes = late.calls(4, 0.1)
        assert all(o.ok for o in outcomes), outcomes
    cluster.register(late, "during.cut")
    assert cluster.state("p")["state"] == "active" and cluster.state("b")["state"] == "passive"
    assert "backup now active" not in "".join(cluster.backup.spawned.output)
    # healed: the backup hears the active primary, stays passive and gets what it missed
    cluster.heal_link()
    eventually(
        lambda: "during.cut" in stored(cluster.db("b")), 15, "the backup catches up after the heal"
    )
    assert stored(cluster.db("b")) == stored(cluster.db("p"))
    assert cluster.state("b") == {**cluster.state("b"), "state": "passive", "peer": True}
    assert cluster.state("p")["state"] == "active"
    assert "backup now active" not in "".join(cluster.backup.spawned.output)


def test_a_client_reaching_only_the_backup_during_a_cut_and_the_heal_that_follows(
    cluster: PairCluster,
) -> None:
    """What Binary Star does not prevent, and how the pair recovers: a client that can reach
    only the backup (here: one that names it alone) while the link is cut makes it active. When
    the link heals the backup steps down, and the names registered on each side are on both."""
    caller = cluster.caller
    cluster.cut_link()
    cluster.register(caller, "side.backup", where=CALLS["b"])  # the backup takes over
    cluster.backup.spawned.wait_for("backup now active")
    cluster.register(caller, "side.primary", where=CALLS["p"])
    assert cluster.state("p")["state"] == "active" and cluster.state("b")["state"] == "active"
    cluster.heal_link()
    cluster.backup.spawned.wait_for("backup now passive", timeout=15)
    want = {"side.backup", "side.primary"}
    for role in ("p", "b"):
        eventually(
            lambda r=role: want <= set(stored(cluster.db(r))),
            15,
            lambda r=role: f"{r} has both sides' names: {sorted(stored(cluster.db(r)))}",
        )
    assert cluster.state("p")["state"] == "active" and cluster.state("b")["state"] == "passive"
    assert caller.until_served_by(cluster.pids) == cluster.pids  # the pool is whole on the primary
