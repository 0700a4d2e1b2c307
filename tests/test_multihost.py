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

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FAST_HEARTBEAT_ENV,
    PYTHON,
    ROOT,
    BrokerProcess,
    Spawned,
    eventually,
    scaled,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("ip") is None,
        reason="needs Linux, root and the `ip` tool (iproute2) to make network namespaces",
    ),
]

PREFIX = f"zpmh{os.getpid()}"  # unique per run; the pid also tells a stale namespace's owner
ADDRESSES = {"broker": "10.231.0.1", "d1": "10.231.0.2", "d2": "10.231.0.3", "caller": "10.231.0.4"}
BROKER_PORT, PUB_PORT = 9090, 9091  # the broker's namespace is ours alone: these are free
POOL = "jobs"
LONG_CALL = 8.0  # seconds an in-flight call runs: far longer than the heartbeat window
CUT_NOTICED = 5.0  # bound for in-flight calls of a cut daemon to fail (HEARTBEAT_TIMEOUT is 1 s)
REJOIN_BOUND = 25.0
REJOIN_ROUNDS = 3
POLL_PAUSE = 0.1  # between attempts of a bounded poll that just failed fast
WORKER = str(ROOT / "tests" / "programs" / "brokered_worker.py")
CALLER = str(ROOT / "tests" / "programs" / "netns_caller.py")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


class Network:
    """Four host namespaces and a switch namespace; build() and teardown() are all it does."""

    def __init__(self, prefix: str) -> None:
        self.switch = f"{prefix}-sw"
        self.hosts = {role: f"{prefix}-{role}" for role in ADDRESSES}
        self.made: list[str] = []  # namespaces created so far: teardown deletes exactly these

    def build(self) -> None:
        for ns in [self.switch, *self.hosts.values()]:
            ip("netns", "add", ns)
            self.made.append(ns)
            # IPv4 only: no IPv6 router solicitations or multicast listener reports on our links
            disable = "net/ipv6/conf/{}/disable_ipv6"
            self.sysctl(ns, disable.format("default"), disable.format("all"))
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for role, ns in self.hosts.items():
            port = f"p-{role}"
            # the pair is made in the switch namespace, its far end moved straight into the host
            veth = f"{port} type veth peer name eth0 netns {ns}".split()
            ip("-n", self.switch, "link", "add", *veth)
            ip("-n", self.switch, "link", "set", port, "master", "br0")
            ip("-n", self.switch, "link", "set", port, "up")
            ip("-n", ns, "addr", "add", f"{ADDRESSES[role]}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    @staticmethod
    def sysctl(ns: str, *keys: str) -> None:
        """Set sysctl keys to 1 inside `ns` (best effort: a kernel without IPv6 has none)."""
        writes = "; ".join(f"echo 1 > /proc/sys/{key}" for key in keys)
        subprocess.run(
            ["ip", "netns", "exec", ns, "sh", "-c", writes], capture_output=True, timeout=30
        )

    def teardown(self) -> None:
        # deleting a namespace deletes its interfaces, and a veth goes with its peer
        for ns in reversed(self.made):
            ip("netns", "del", ns, check=False)
        self.made.clear()

    def run_in(self, role: str, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[role], *args]

    def cut(self, role: str) -> None:
        ip("-n", self.hosts[role], "link", "set", "eth0", "down")

    def restore(self, role: str) -> None:
        ip("-n", self.hosts[role], "link", "set", "eth0", "up")


def _delete_stale_namespaces() -> None:
    """Namespaces of earlier runs that died without teardown: their pid is gone, nothing runs."""
    listing = ip("netns", "list", check=False).stdout
    for ns in re.findall(r"^(zpmh(\d+)-\S+)", listing, re.MULTILINE):
        name, pid = ns[0], int(ns[1])
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        if not ip("netns", "pids", name, check=False).stdout.strip():
            ip("netns", "del", name, check=False)


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    _delete_stale_namespaces()
    network = Network(PREFIX)
    try:
        network.build()
        yield network
    finally:
        network.teardown()


# -- processes in the namespaces -----------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    value: Any  # the JSON result, or the error message
    error: str  # the exception's type name ("" when ok)
    at: float  # time.monotonic() when the test read it


class Caller:
    """tests/programs/netns_caller.py: send commands, read their outcomes by tag."""

    def __init__(self, spawned: Spawned) -> None:
        self.spawned = spawned
        self.pid = int(spawned.wait_for("READY").split()[1])
        self._count = 0
        self._outcomes: dict[str, Outcome] = {}

    def send(self, command: str, method: str = "", *args: Any) -> str:
        self._count += 1
        tag = f"t{self._count}"
        line = " ".join(
            [tag, command, method, json.dumps(list(args))] if method else [tag, command]
        )
        stdin = self.spawned.proc.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()
        return tag

    def outcome(self, tag: str, timeout: float = 20.0) -> Outcome:
        return self.outcomes([tag], timeout)[0]

    def outcomes(self, tags: list[str], timeout: float = 20.0) -> list[Outcome]:
        deadline = time.monotonic() + scaled(timeout)
        while not all(t in self._outcomes for t in tags):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = [t for t in tags if t not in self._outcomes]
                pytest.fail(
                    f"no outcome for {missing} within {scaled(timeout)} s; output: "
                    f"{''.join(self.spawned.output[-30:])}"
                )
            self._read_one(remaining)
        return [self._outcomes.pop(t) for t in tags]

    def _read_one(self, timeout: float) -> None:
        try:
            line = self.spawned.lines.get(timeout=timeout)
        except queue.Empty:  # outcomes() checks its deadline
            return
        if line is None:
            pytest.fail(f"the caller ended; output: {''.join(self.spawned.output)}")
        words = line.rstrip("\n").split(" ", 2)
        if len(words) < 2 or not re.fullmatch(r"t\d+", words[0]):
            return  # a log line
        tag, status, rest = words[0], words[1], words[2] if len(words) > 2 else ""
        now = time.monotonic()
        if status == "ok":
            self._outcomes[tag] = Outcome(True, json.loads(rest), "", now)
        else:
            error, _, message = rest.partition(" ")
            self._outcomes[tag] = Outcome(False, message, error, now)

    def calls(self, n: int, seconds: float, timeout: float = 20.0) -> list[Outcome]:
        """n concurrent work(i, seconds) calls on the pool; their outcomes in order."""
        tags = [self.send("call", "work", i, seconds) for i in range(n)]
        return self.outcomes(tags, timeout + seconds)

    def until_served_by(self, pids: set[int], bound: float = REJOIN_BOUND) -> set[int]:
        """Rounds of short calls until every pid in `pids` has answered one (since this call)."""
        seen: set[int] = set()
        last: list[Outcome] = []

        def all_served() -> bool:
            nonlocal last
            last = self.calls(4, 0.2)
            seen.update(o.value[0] for o in last if o.ok)
            if not any(o.ok for o in last):
                time.sleep(POLL_PAUSE)  # the pace of retrying, after a round that failed fast
            return pids <= seen

        eventually(all_served, bound, lambda: f"pids {pids} all serve: saw {seen}; {last}", pause=0)
        return seen

    def until_ok(self, send: Callable[[], str], bound: float = REJOIN_BOUND) -> Outcome:
        """Repeat a command until it succeeds (bounded)."""
        outcome: Outcome | None = None

        def succeeded() -> Outcome | None:
            nonlocal outcome
            outcome = self.outcome(send())
            return outcome if outcome.ok else None

        return eventually(succeeded, bound, lambda: f"a success; last: {outcome}", pause=POLL_PAUSE)


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
