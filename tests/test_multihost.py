"""Calls across real "hosts": Linux network namespaces joined by a bridge, links cut and restored.

Topology, made by the module fixture and deleted at its end (also when a test fails):

    broker 10.231.0.1   d1 10.231.0.2   d2 10.231.0.3   caller 10.231.0.4
          \\                 |               |                /
           `------ veth ---- br0 in the "sw" namespace ---- veth

Each host is its own namespace with `lo` and one `eth0`; the subnet exists only inside them, so
nothing these tests send can leave. Every command that changes the network names one of our
namespaces (`ip -n NS ...`); the root namespace is never touched. Names carry this process's
pid, so a crashed earlier run cannot collide with this one.

The broker, two brokered daemons (tests/programs/brokered_worker.py) and a caller
(tests/programs/netns_caller.py, driven over its stdin) run as `ip netns exec NS python ...`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FAST_HEARTBEAT_ENV,
    PYTHON,
    ROOT,
    BrokerProcess,
    Spawned,
    scaled,
)
from netns import NEEDS_NETNS, Caller, Network, delete_stale_namespaces

pytestmark = [pytest.mark.slow, NEEDS_NETNS]

PREFIX = f"zpmh{os.getpid()}"  # unique per run; the pid also tells a stale namespace's owner
ADDRESSES = {"broker": "10.231.0.1", "d1": "10.231.0.2", "d2": "10.231.0.3", "caller": "10.231.0.4"}
BROKER_PORT, PUB_PORT = 9090, 9091  # the broker's namespace is ours alone: these are free
POOL = "jobs"
LONG_CALL = 8.0  # seconds an in-flight call runs: far longer than the heartbeat window
CUT_NOTICED = 5.0  # bound for in-flight calls of a cut daemon to fail (HEARTBEAT_TIMEOUT is 1 s)
REJOIN_ROUNDS = 3
WORKER = str(ROOT / "tests" / "programs" / "brokered_worker.py")
CALLER = str(ROOT / "tests" / "programs" / "netns_caller.py")


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    delete_stale_namespaces("zpmh")
    network = Network(PREFIX, ADDRESSES)
    try:
        network.build()
        yield network
    finally:
        network.teardown()


# -- processes in the namespaces ---------------------------------------------------------------


class Cluster:
    """Broker, daemons d1 and d2 and the caller, each in its own namespace."""

    def __init__(self, net: Network, spawn: Callable[..., Spawned], storage: Path) -> None:
        self.net = net
        self._spawn = spawn
        self.storage = f"sqlite:{storage}"
        self.endpoint = f"tcp://{ADDRESSES['broker']}:{BROKER_PORT}"
        self.broker = self.start_broker()
        daemons = {
            role: self._start(role, [WORKER, self.endpoint, POOL, "2"]) for role in ("d1", "d2")
        }
        self.pids = {role: int(s.wait_for("READY").split()[1]) for role, s in daemons.items()}
        self.daemons = daemons
        args = [CALLER, ADDRESSES["broker"], str(BROKER_PORT), POOL]
        self.caller = Caller(self._start("caller", args))

    def _start(self, role: str, args: list[str]) -> Spawned:
        env = {
            **FAST_HEARTBEAT_ENV,
            "ZPYRO_NS_HOST": ADDRESSES["broker"],
            "ZPYRO_NS_PORT": str(BROKER_PORT),
            "ZPYRO_NS_PUB_PORT": str(PUB_PORT),
        }
        return self._spawn(self.net.run_in(role, [PYTHON, *args]), env=env)

    def start_broker(self) -> BrokerProcess:
        args = ["-m", "zpyro.broker", "--host", ADDRESSES["broker"], "--port", str(BROKER_PORT)]
        args += ["--pub-port", str(PUB_PORT), "--storage", self.storage]
        return BrokerProcess(self._start("broker", args))


@pytest.fixture
def cluster(net: Network, spawn: Any, tmp_path: Path) -> Iterator[Cluster]:
    for role in ADDRESSES:  # whatever an earlier test cut is whole again
        net.restore(role)
    made = Cluster(net, spawn, tmp_path / "names.db")
    try:
        yield made
    finally:
        for role in ADDRESSES:  # so the processes can say goodbye as `spawn` stops them
            net.restore(role)
        # what each process said: pytest shows it when the test failed
        for role, spawned in [("broker", made.broker.spawned), *made.daemons.items()]:
            print(f"--- {role} output:\n{''.join(spawned.output[-40:])}")


# -- the scenarios --------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_calls_cross_namespaces_to_a_pool_of_two_daemons(cluster: Cluster) -> None:
    pids = cluster.pids
    # `ip netns exec` execs the program itself: the pid we stop is the process that serves
    assert pids == {role: cluster.daemons[role].proc.pid for role in ("d1", "d2")}
    outcomes = cluster.caller.calls(4, 0.3)
    assert all(o.ok for o in outcomes), outcomes
    assert [o.value[1] for o in outcomes] == [0, 1, 2, 3]
    # four calls at once on two daemons of capacity 2: the freest-daemon rule splits them 2 / 2
    served = sorted(o.value[0] for o in outcomes)
    assert served == sorted([pids["d1"], pids["d1"], pids["d2"], pids["d2"]])
    listed = cluster.caller.outcome(cluster.caller.send("ns", "list"))
    assert listed.ok and listed.value[POOL] == f"PYRO:{POOL}@{ADDRESSES['broker']}:{BROKER_PORT}"


@pytest.mark.timeout(60)
def test_cut_link_fails_its_inflight_calls_and_the_pool_goes_on(cluster: Cluster) -> None:
    caller, pids = cluster.caller, cluster.pids
    caller.until_served_by(set(pids.values()))
    started = time.monotonic()
    tags = [caller.send("call", "work", i, LONG_CALL) for i in range(4)]
    # the barrier's answer means the broker has all four calls and gave each daemon two
    assert caller.outcome(caller.send("barrier")).ok
    cut_at = time.monotonic()
    cluster.net.cut("d1")
    outcomes = caller.outcomes(tags, LONG_CALL + 15)
    failed = [o for o in outcomes if not o.ok]
    done = [o for o in outcomes if o.ok]
    assert len(failed) == 2 and {o.error for o in failed} == {"ConnectionClosedError"}, outcomes
    for o in failed:  # within the heartbeat window, not when the calls would have ended
        assert o.at - cut_at < scaled(CUT_NOTICED), (o, o.at - cut_at)
    assert [o.value[0] for o in done] == [pids["d2"], pids["d2"]]
    assert all(o.at - started >= LONG_CALL for o in done)  # they really ran on to the end
    after = caller.calls(4, 0.0)
    assert all(o.ok for o in after), after
    assert {o.value[0] for o in after} == {pids["d2"]}


@pytest.mark.timeout(60)
def test_restored_link_lets_the_daemon_rejoin_by_itself(cluster: Cluster) -> None:
    caller, pids = cluster.caller, cluster.pids
    caller.until_served_by(set(pids.values()))
    # a few rounds: how the broker's and the daemon's sides of the dead connection time out
    # against each other differs from round to round, and each way must end in a rejoin
    for _ in range(REJOIN_ROUNDS):
        cluster.net.cut("d1")
        cluster.broker.spawned.wait_for("declared dead", timeout=10)
        during = caller.calls(4, 0.0)
        assert all(o.ok for o in during) and {o.value[0] for o in during} == {pids["d2"]}, during
        cluster.net.restore("d1")
        assert caller.until_served_by(set(pids.values())) == set(pids.values())
    assert cluster.daemons["d1"].proc.poll() is None  # the same process, never restarted


@pytest.mark.timeout(90)
def test_broker_restart_mid_traffic_loses_no_name(cluster: Cluster) -> None:
    caller, pids = cluster.caller, cluster.pids
    by_hand = f"PYRO:thing@{ADDRESSES['d1']}:4242"  # only stored and looked up, never called
    registered = caller.outcome(
        caller.send("ns", "register", "manual.thing", by_hand, False, ["color:blue"])
    )
    assert registered.ok, registered
    caller.until_served_by(set(pids.values()))
    before = caller.outcome(caller.send("ns", "list"))
    assert before.ok and set(before.value) == {"Pyro.NameServer", POOL, "manual.thing"}

    inflight = [caller.send("call", "work", i, 3.0) for i in range(4)]
    assert caller.outcome(caller.send("barrier")).ok
    old_epoch = cluster.broker.epoch
    assert cluster.broker.stop() == 0  # SIGTERM, by pid
    cluster.broker = cluster.start_broker()  # same address, ports and sqlite file
    assert cluster.broker.epoch != old_epoch
    # calls held by the old broker end (the caller saw its connection go), they do not hang
    lost = caller.outcomes(inflight, 15)
    assert {o.error for o in lost} == {"ConnectionClosedError"}, lost

    lookup = caller.until_ok(lambda: caller.send("ns", "lookup", "manual.thing", True))
    assert lookup.value == [by_hand, ["color:blue"]]  # back from sqlite, tags and all
    assert caller.until_served_by(set(pids.values())) == set(pids.values())  # daemons re-registered
    after = caller.outcome(caller.send("ns", "list"))
    assert after.ok and after.value == before.value, (before, after)
