"""Linux network namespaces for tests that need several "hosts", and a caller driven in one.

Shared by tests/test_multihost.py and tests/test_pair_netns.py. A :class:`Network` is host
namespaces joined by a bridge in a switch namespace (and, with :meth:`Network.wire`, direct links
between two hosts); the subnets exist only inside them, so nothing sent there can leave. Every
command that changes the network names one of our namespaces (``ip -n NS ...``); the root
namespace is never touched. Names carry the test process's pid, so a crashed earlier run cannot
collide with a new one, and its leftovers are deleted (``delete_stale_namespaces``).

:class:`Caller` drives tests/programs/netns_caller.py over its stdin.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Spawned, eventually, scaled

NEEDS_NETNS = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs Linux, root and the `ip` tool (iproute2) to make network namespaces",
)
REJOIN_BOUND = 25.0
POLL_PAUSE = 0.1  # between attempts of a bounded poll that just failed fast


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


class Network:
    """Host namespaces (role -> address on the bridge) and a switch namespace; build() and
    teardown() are all it does, wire() adds a direct link between two hosts."""

    def __init__(self, prefix: str, addresses: dict[str, str]) -> None:
        self.switch = f"{prefix}-sw"
        self.addresses = addresses
        self.hosts = {role: f"{prefix}-{role}" for role in addresses}
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
            ip("-n", ns, "addr", "add", f"{self.addresses[role]}/24", "dev", "eth0")
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

    def wire(self, a: str, b: str, address_a: str, address_b: str, dev: str = "pair0") -> None:
        """A direct link `dev` between hosts `a` and `b` (a /30 of its own), beside the bridge."""
        ip(
            "-n",
            self.hosts[a],
            "link",
            "add",
            dev,
            "type",
            "veth",
            "peer",
            "name",
            dev,
            "netns",
            self.hosts[b],
        )
        for role, address in ((a, address_a), (b, address_b)):
            ip("-n", self.hosts[role], "addr", "add", f"{address}/30", "dev", dev)
            ip("-n", self.hosts[role], "link", "set", dev, "up")

    def cut(self, role: str, dev: str = "eth0") -> None:
        ip("-n", self.hosts[role], "link", "set", dev, "down")

    def restore(self, role: str, dev: str = "eth0") -> None:
        ip("-n", self.hosts[role], "link", "set", dev, "up")


def delete_stale_namespaces(tag: str) -> None:
    """Namespaces named ``<tag><pid>-...`` of earlier runs that died without teardown: their
    pid is gone, nothing runs in them."""
    listing = ip("netns", "list", check=False).stdout
    for ns in re.findall(rf"^({tag}(\d+)-\S+)", listing, re.MULTILINE):
        name, pid = ns[0], int(ns[1])
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        if not ip("netns", "pids", name, check=False).stdout.strip():
            ip("netns", "del", name, check=False)


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
