"""Soak run: a long mixed workload, then did any process grow? (RSS, threads, open fds)

One client (this process) drives three targets, round after round:

* a direct daemon (a subprocess of this script),
* a pool of 2 brokered daemons (subprocesses) behind a broker (``python -m zpyro.broker``), and
* a pool of 2 brokered daemons behind a broker pair (primary and backup), whose primary is
  killed (SIGKILL) once in the middle of the run: the rest runs through the backup. 100 names
  registered by hand on the pair before the run must all be there after the failover.

Per target the full run makes 100,000 calls, mixed: sync calls from two threads sharing one
proxy, futures (``asyncproxy``), batches, oneway calls, a few streams (one closed early), plus
2,000 fresh proxies that connect, call once and release (``PYRO:`` and ``PYRONAME:``), and 200
session-mode proxies that each create their own instance and release it. ``--quick`` runs a
version 10x smaller (a smoke run; too short for a verdict).

Every process is measured from ``/proc/PID`` (VmRSS, task count, fd count) after a warm-up
round (*start*), halfway (*middle*) and at the end (*end*) -- the pair's backup, passive until
the failover, from a round after it (*failover*); the daemons also report how many
session instances and streams they still hold. Verdict per process: RSS growth < 10 % after the
warm-up, threads and fds back to where they were within a small constant slack (pool threads
start on demand). See bench/README.md.

Exit status: 0 = done (quick: always, if the workload ran), 1 = the workload failed,
2 = a full run whose verdict failed.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from childproc import LineChild  # noqa: E402

import zpyro  # noqa: E402

HOST = "127.0.0.1"
SERVICE, SESSION = "soak.service", "soak.session"
POOL_DAEMONS, POOL_CAPACITY = 2, 4
RSS_LIMIT_PCT = 10.0
THREAD_SLACK = 2  # worker-pool / reaper threads that start on demand
FD_SLACK = 4  # ... and the eventfd/sockets that come with them
CALL_TIMEOUT = 30.0  # no single call may hang the soak
ROUNDS, WARMUP_ROUNDS = 10, 1  # measured at start (after warm-up), after ROUNDS // 2, at the end
PAIR_NAMES = 100  # registered by hand on the pair before the run: none may be lost
PAIR_ENV = {"ZPYRO_HEARTBEAT_INTERVAL": "0.2", "ZPYRO_HEARTBEAT_TIMEOUT": "1.0"}  # its processes


@dataclass(frozen=True)
class Quota:
    """What one round does against one target (the full run; --quick divides by 10)."""

    sync: int = 3_250  # split over two threads on one proxy
    futures: int = 3_000
    future_wave: int = 500  # outstanding at once
    batched: int = 2_500
    batch_size: int = 50
    oneway: int = 1_000
    streams: int = 2  # full streams, plus one closed early
    stream_items: int = 1_000
    fresh: int = 200  # connect, one call, release
    sessions: int = 20  # each: a proxy, its own instance (2 calls), released

    def scaled(self, divisor: int) -> Quota:
        d = divisor
        return Quota(
            sync=self.sync // d,
            futures=self.futures // d,
            future_wave=max(1, self.future_wave // d),
            batched=self.batched // d,
            batch_size=max(1, self.batch_size // d),
            oneway=self.oneway // d,
            streams=max(1, self.streams // d),
            stream_items=max(1, self.stream_items // d),
            fresh=self.fresh // d,
            sessions=max(1, self.sessions // d),
        )


# -- what the daemons serve ------------------------------------------------------------------------


@zpyro.expose
@zpyro.behavior(instance_mode="single")
class Service:
    def __init__(self) -> None:
        self.bumps = 0
        self.lock = threading.Lock()

    def echo(self, value: Any) -> Any:
        return value

    @zpyro.oneway
    def bump(self) -> None:
        with self.lock:
            self.bumps += 1

    def bumped(self) -> int:
        with self.lock:
            return self.bumps

    def numbers(self, n: int):  # type: ignore[no-untyped-def]
        return (i for i in range(n))


@zpyro.expose
@zpyro.behavior(instance_mode="session")
class Session:
    """One instance per proxy; it carries a little state, so a leaked one costs memory."""

    def __init__(self) -> None:
        self.calls = 0
        self.ballast = bytearray(4096)

    def hello(self) -> list[int]:
        self.calls += 1
        return [id(self), self.calls]


def _held(daemon: zpyro.Daemon) -> dict[str, int]:
    """Session instances and streams a daemon still holds (its own bookkeeping)."""
    entry = daemon.registry._objects.get(SESSION)
    streams = daemon.dispatcher.streams
    return {
        "sessions": len(entry.sessions) if entry is not None else 0,
        "streams": len(streams) if streams is not None else 0,
    }


def serve(daemon: zpyro.Daemon) -> None:
    """Serve until stdin closes (or SIGTERM). A ``stats`` line on stdin is answered with a
    ``STATS {json}`` line after a gc, so the parent measures settled processes."""
    uri = daemon.register(Service, SERVICE)
    daemon.register(Session, SESSION)
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
    loop = threading.Thread(target=daemon.request_loop, name="soak-serve")
    loop.start()
    if daemon._link is not None and not daemon.wait_attached(30):
        print("NOT ATTACHED", flush=True)
        daemon.shutdown()
    else:
        print(f"READY {uri}", flush=True)

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == "stats":
                gc.collect()
                print("STATS " + json.dumps(_held(daemon)), flush=True)
        daemon.shutdown()

    threading.Thread(target=commands, name="soak-stdin", daemon=True).start()
    loop.join()
    daemon.close()


# -- processes ---------------------------------------------------------------------------------------


class Child(LineChild):
    """A subprocess, talked to by lines on stdin/stdout; stopped by its pid."""

    def __init__(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}))
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        super().__init__(name, [sys.executable, *args], cwd=ROOT, env=env)

    def expect(self, prefix: str, timeout: float = 60.0) -> str:
        """The rest of the next line starting with `prefix` (log lines before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.01, deadline - time.monotonic()))
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def stats(self) -> dict[str, int]:
        self.send("stats")
        return dict(json.loads(self.expect("STATS", 30)))


def sample(pid: int) -> dict[str, int]:
    """RSS (kB), threads and open fds of a process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return {
        "rss": rss,
        "threads": len(os.listdir(f"/proc/{pid}/task")),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


# -- the workload --------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    service_uri: str
    session_uri: str
    fresh_uris: list[str]  # alternated by the fresh-proxy cycles
    pooled: bool  # several daemons: oneway totals are not per daemon
    proxy: Any = None
    futures: Any = None
    counts: dict[str, int] = field(default_factory=dict)

    def open(self) -> None:
        self.proxy = zpyro.Proxy(self.service_uri)
        self.proxy._pyroTimeout = CALL_TIMEOUT
        self.futures = zpyro.asyncproxy(copy.copy(self.proxy))

    def close(self) -> None:
        for p in (self.proxy, self.futures):
            if p is not None:
                p._pyroRelease()

    def count(self, kind: str, n: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def after_loss(self) -> None:
        """Its broker died: each long-lived proxy's next call says so once (ConnectionClosedError,
        with the count of oneway calls whose credit had not come back), as in Pyro; the call
        after that goes through the broker that took over. Any other error is a failure."""
        for p in (self.proxy, self.futures):
            try:
                result = p.echo(0)
                if p is self.futures:
                    result = result.value
                check(result == 0, "echo after the failover")
            except zpyro.errors.ConnectionClosedError:
                pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def sync_calls(t: Target, n: int) -> None:
    errors: list[BaseException] = []

    def run(start: int, stop: int) -> None:
        try:
            for i in range(start, stop):
                check(t.proxy.echo(i) == i, "sync echo")
        except BaseException as exc:
            errors.append(exc)

    half = n // 2
    threads = [
        threading.Thread(target=run, args=(0, half)),
        threading.Thread(target=run, args=(half, n)),
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(CALL_TIMEOUT * 4)
    if errors:
        raise errors[0]
    t.count("sync", n)


def future_calls(t: Target, n: int, wave: int) -> None:
    done = 0
    while done < n:
        size = min(wave, n - done)
        futures = [t.futures.echo(i) for i in range(size)]
        check([f.result(CALL_TIMEOUT * 2) for f in futures] == list(range(size)), "futures")
        done += size
    t.count("futures", n)


def batch_calls(t: Target, n: int, size: int) -> None:
    done = 0
    while done < n:
        k = min(size, n - done)
        batch = zpyro.BatchProxy(t.proxy)
        for i in range(k):
            batch.echo(i)
        check(list(batch()) == list(range(k)), "batch")
        done += k
    t.count("batched", n)


def oneway_calls(t: Target, n: int) -> None:
    before = t.proxy.bumped()
    for _ in range(n):
        t.proxy.bump()
    t.count("oneway", n)
    if t.pooled:  # spread over the pool's daemons: just check the pool still answers
        t.proxy.bumped()
        t.count("sync", 2)
        return
    deadline = time.monotonic() + CALL_TIMEOUT
    calls = 1
    while t.proxy.bumped() < before + n:  # oneway calls may still be running: poll, bounded
        calls += 1
        check(time.monotonic() < deadline, "oneway calls not all run")
    t.count("sync", calls + 1)


def stream_calls(t: Target, full: int, items: int) -> None:
    for _ in range(full):
        got = list(t.proxy.numbers(items))
        check(got == list(range(items)), "stream")
        t.count("stream", 1 + items // 200)  # the call, then one fetch per further chunk
    early = t.proxy.numbers(items * 2)
    check(next(early) == 0, "stream start")
    early.close()  # the daemon drops its side
    t.count("stream", 2)


def fresh_proxies(t: Target, n: int) -> None:
    for i in range(n):
        with zpyro.Proxy(t.fresh_uris[i % len(t.fresh_uris)]) as p:
            p._pyroTimeout = CALL_TIMEOUT
            check(p.echo(i) == i, "fresh proxy")
    t.count("fresh", n)


def sessions(t: Target, n: int) -> None:
    """Every other session proxy makes its calls as futures (then a reaper thread may still
    lead its connection when it is released)."""
    for i in range(n):
        with zpyro.Proxy(t.session_uri) as p:
            p._pyroTimeout = CALL_TIMEOUT
            if i % 2:
                p._pyroAsync()
                pair = [p.hello(), p.hello()]
                first, second = sorted(f.result(CALL_TIMEOUT) for f in pair)
            else:
                first, second = p.hello(), p.hello()
            # through a pool too: the broker keeps a proxy's calls on its session's daemon
            check(first[0] == second[0] and second[1] == first[1] + 1, "session instance")
    t.count("sessions", n)
    t.count("sync", 2 * ((n + 1) // 2))
    t.count("futures", 2 * (n // 2))


def one_round(t: Target, q: Quota) -> None:
    sync_calls(t, q.sync)
    future_calls(t, q.futures, q.future_wave)
    batch_calls(t, q.batched, q.batch_size)
    oneway_calls(t, q.oneway)
    stream_calls(t, q.streams, q.stream_items)
    fresh_proxies(t, q.fresh)
    sessions(t, q.sessions)


# -- measuring and reporting ---------------------------------------------------------------------------


@dataclass
class Watched:
    name: str
    pid: int
    child: Child | None  # None: a process that answers no `stats` (the client, the broker)
    points: dict[str, dict[str, int]] = field(default_factory=dict)
    baseline: str = "start"  # the point its growth is measured from
    killed: str = ""  # why it is no longer measured (the pair's primary, killed -9)


def settle(watched: list[Watched]) -> None:
    """Let closed sockets finish closing: poll the fd/thread counts until they hold still
    (three equal readings 0.2 s apart), at most 5 s."""
    gc.collect()
    deadline = time.monotonic() + 5.0
    last, same = None, 0
    while time.monotonic() < deadline and same < 3:
        now = [(s["threads"], s["fds"]) for s in (sample(w.pid) for w in watched)]
        same = same + 1 if now == last else 0
        last = now
        time.sleep(0.2)


def measure(point: str, label: str, watched: list[Watched]) -> None:
    watched = [w for w in watched if not w.killed]
    held = {w.name: w.child.stats() for w in watched if w.child is not None}
    settle(watched)
    print(f"== measure {point} ({label}) ==")
    for w in watched:
        s = sample(w.pid)
        s.update(held.get(w.name, {}))
        w.points[point] = s
        extra = ""
        if w.name in held:
            extra = f"  sessions {s['sessions']:>4}  streams {s['streams']:>3}"
        print(
            f"  {w.name:<12} pid {w.pid:>7}  rss {s['rss']:>8,} kB  threads {s['threads']:>3}"
            f"  fds {s['fds']:>4}{extra}"
        )
    sys.stdout.flush()


def growth_pct(start: int, end: int) -> float:
    return 100.0 * (end - start) / start if start else 0.0


def report(watched: list[Watched], quick: bool) -> bool:
    print()
    print(
        f"growth start -> end (targets: RSS < {RSS_LIMIT_PCT:.0f} %, threads <= +{THREAD_SLACK},"
        f" fds <= +{FD_SLACK}; the slack is for pool threads that start on demand)"
    )
    head = ["process", "rss kB start/middle/end", "rss %", "threads s/m/e", "fds s/m/e"]
    rows = []
    for w in watched:
        if w.killed:
            continue
        s, m, e = (w.points[p] for p in (w.baseline, "middle", "end"))
        star = " *" if w.baseline != "start" else ""
        rows.append(
            [
                f"{w.name} ({w.pid}){star}",
                f"{s['rss']:,} / {m['rss']:,} / {e['rss']:,}",
                f"{growth_pct(s['rss'], e['rss']):+.1f}",
                f"{s['threads']} / {m['threads']} / {e['threads']}",
                f"{s['fds']} / {m['fds']} / {e['fds']}",
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  " + "  ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=True)))
    if any(w.baseline != "start" for w in watched):
        print("  * start: a round after the failover (it was passive until then)")
    print()
    all_ok = True
    for w in watched:
        if w.killed:
            print(f"VERDICT {w.name} pid {w.pid}: {w.killed}")
            continue
        s, e = w.points[w.baseline], w.points["end"]
        rss = growth_pct(s["rss"], e["rss"])
        threads, fds = e["threads"] - s["threads"], e["fds"] - s["fds"]
        problems = []
        if rss >= RSS_LIMIT_PCT:
            problems.append(f"RSS +{rss:.1f} %")
        if threads > THREAD_SLACK:
            problems.append(f"threads +{threads}")
        if fds > FD_SLACK:
            problems.append(f"fds +{fds}")
        held = ""
        if "sessions" in e:
            held = f", holds {e['sessions']} sessions / {e['streams']} streams"
            if e["sessions"] > s["sessions"] or e["streams"] > s["streams"]:
                problems.append(f"sessions/streams held {s['sessions']}->{e['sessions']}")
        ok = not problems
        all_ok = all_ok and ok
        print(
            f"VERDICT {w.name} pid {w.pid}: {'PASS' if ok else 'FAIL'}"
            f" (RSS {rss:+.1f} %, threads {threads:+d}, fds {fds:+d}{held})"
            + (f" -- {'; '.join(problems)}" if problems else "")
        )
    if quick:
        print("(quick run: too short for a real verdict; run without --quick)")
    return all_ok


# -- the run -------------------------------------------------------------------------------------------


def start_all(kids: list[Child]) -> tuple[list[Target], list[Watched]]:
    broker = Child(
        "broker",
        ["-m", "zpyro.broker", "--host", HOST, "--port", "0", "--pub-port", "0"]
        + ["--storage", "memory"],
    )
    kids.append(broker)
    ns_uri = broker.expect("READY").split()[0]
    location = ns_uri.split("@", 1)[1]
    direct = Child("direct", [__file__, "--serve-direct"])
    kids.append(direct)
    direct_uri = direct.expect("READY")
    workers = []
    for i in range(POOL_DAEMONS):
        w = Child(
            f"worker{i + 1}",
            [__file__, "--serve-brokered", f"tcp://{location}", str(POOL_CAPACITY)],
        )
        kids.append(w)
        workers.append(w)
    for w in workers:
        w.expect("READY")
    host, port = location.rsplit(":", 1)
    ns = zpyro.locate_ns(host, int(port))
    ns.register("soak.direct", direct_uri)
    ns._pyroRelease()
    direct_location = direct_uri.split("@", 1)[1]
    targets = [
        Target(
            "direct",
            direct_uri,
            f"PYRO:{SESSION}@{direct_location}",
            [direct_uri, f"PYRONAME:soak.direct@{location}"],
            pooled=False,
        ),
        Target(
            "broker",
            f"PYRO:{SERVICE}@{location}",
            f"PYRO:{SESSION}@{location}",
            [f"PYRO:{SERVICE}@{location}", f"PYRONAME:{SERVICE}@{location}"],
            pooled=True,
        ),
    ]
    watched = [Watched("client", os.getpid(), None), Watched("direct", direct.pid, direct)]
    watched.append(Watched("broker", broker.pid, None))
    watched += [Watched(w.name, w.pid, w) for w in workers]
    return targets, watched


@dataclass
class Pair:
    """The broker pair target's processes and the names registered by hand on it."""

    primary: Child
    backup: Child
    location: str  # both call addresses, primary first
    names: dict[str, str]
    report: str = ""  # the soak's row for the failover
    lost: int = -1


def start_pair(kids: list[Child], workdir: str) -> tuple[Pair, Target, list[Watched]]:
    """A broker pair (pair link over ipc in `workdir`), 2 brokered daemons, PAIR_NAMES names."""
    brokers = []
    for role, me, peer in (("primary", "p", "b"), ("backup", "b", "p")):
        args = ["-m", "zpyro.broker", "--host", HOST, "--port", "0", "--pub-port", "0"]
        args += ["--storage", f"sqlite:{workdir}/{role}.db", f"--{role}"]
        args += ["--pair", f"ipc://{workdir}/{me}", "--peer", f"ipc://{workdir}/{peer}"]
        broker = Child(f"pair-{role}", args, PAIR_ENV)
        kids.append(broker)
        brokers.append((broker, broker.expect("READY").split()[0].split("@", 1)[1]))
    location = f"{brokers[0][1]},{brokers[1][1]}"
    workers = []
    for i in range(POOL_DAEMONS):
        args = [__file__, "--serve-brokered", f"tcp://{location}", str(POOL_CAPACITY)]
        workers.append(Child(f"pair-worker{i + 1}", args, PAIR_ENV))
        kids.append(workers[-1])
    for w in workers:
        w.expect("READY")
    names = {f"soak.pair.hand{i}": f"PYRO:hand{i}@{HOST}:{5000 + i}" for i in range(PAIR_NAMES)}
    ns = zpyro.locate_ns(location)
    for name, uri in names.items():
        ns.register(name, uri)
    ns._pyroRelease()
    pair = Pair(brokers[0][0], brokers[1][0], location, names)
    service = f"PYRO:{SERVICE}@{location}"
    target = Target(
        "pair",
        service,
        f"PYRO:{SESSION}@{location}",
        [service, f"PYRONAME:{SERVICE}@{location}"],
        pooled=True,
    )
    watched = [Watched(b.name, b.pid, None) for b, _ in brokers]
    watched += [Watched(w.name, w.pid, w) for w in workers]
    return pair, target, watched


def fail_over(pair: Pair, watched: list[Watched]) -> None:
    """Kill -9 the pair's primary (between rounds); time the first new call; count names."""
    probe = zpyro.Proxy(f"PYRO:{SERVICE}@{pair.location}")
    probe._pyroTimeout = CALL_TIMEOUT
    check(probe.echo(1) == 1, "the pair answers")
    killed = time.monotonic()
    pair.primary.proc.kill()
    pair.primary.proc.wait(10)
    deadline = killed + CALL_TIMEOUT
    while True:
        started = time.monotonic()
        try:
            probe.echo(2)
            if started > killed:
                break
        except zpyro.errors.ConnectionClosedError:  # sent before the loss was seen
            check(time.monotonic() < deadline, "the backup takes over")
    seconds = time.monotonic() - killed
    probe._pyroRelease()
    ns = zpyro.locate_ns(pair.location)
    listed = ns.list()
    ns._pyroRelease()
    pair.lost = sum(name not in listed for name in pair.names)
    for w in watched:
        if w.name == "pair-primary":
            w.killed = "killed -9 in the middle (the failover)"
        elif w.name == "pair-backup":
            w.baseline = "failover"
    pair.report = (
        f"pair: the primary killed -9 in the middle; first new call {seconds:.2f} s later; "
        f"{len(pair.names)} names registered by hand, {len(pair.names) - pair.lost} there "
        f"after the failover ({pair.lost} lost)"
    )
    print(pair.report, flush=True)


def run(quick: bool) -> int:
    quota = Quota().scaled(10) if quick else Quota()
    started = time.monotonic()
    kids: list[Child] = []
    targets: list[Target] = []
    workdir = tempfile.mkdtemp(prefix="zpsoak")  # the pair's ipc sockets and sqlite files
    try:
        targets, watched = start_all(kids)
        pair, pair_target, pair_watched = start_pair(kids, workdir)
        targets.append(pair_target)
        watched += pair_watched
        for t in targets:
            t.open()
        print(
            f"zpyro {zpyro.__version__} soak{' (QUICK)' if quick else ''}: {ROUNDS} rounds "
            f"after {WARMUP_ROUNDS} warm-up, against a direct daemon, a pool of "
            f"{POOL_DAEMONS} brokered daemons and the same behind a broker pair (its primary "
            f"killed -9 in the middle); processes: "
            + ", ".join(f"{w.name}={w.pid}" for w in watched)
        )
        sys.stdout.flush()
        for _ in range(WARMUP_ROUNDS):
            for t in targets:
                one_round(t, quota)
        warmup = {t.name: dict(t.counts) for t in targets}
        for t in targets:
            t.counts.clear()
        measure("start", "after warm-up", watched)
        for r in range(ROUNDS):
            for t in targets:
                one_round(t, quota)
            if r + 1 == ROUNDS // 2:
                measure("middle", f"after {r + 1} rounds", watched)
                fail_over(pair, watched)
                pair_target.after_loss()
                one_round(pair_target, quota)  # the backup's warm-up (counted like any round)
                backup = [w for w in watched if w.name == "pair-backup"]
                measure("failover", "the pair's backup, a round after the failover", backup)
        measure("end", f"after {ROUNDS} rounds", watched)
        print()
        for t in targets:
            calls = sum(v for k, v in t.counts.items() if k not in ("fresh", "sessions"))
            calls += t.counts.get("fresh", 0)  # one call per fresh proxy (sessions: in sync)
            detail = ", ".join(f"{k} {v:,}" for k, v in sorted(t.counts.items()))
            print(
                f"workload {t.name}: {calls:,} calls measured ({detail}); warm-up: {sum(warmup[t.name].values()):,}"
            )
        ok = report(watched, quick) and pair.lost == 0
        print(pair.report)
        print(f"soak took {time.monotonic() - started:.1f} s")
        return 0 if ok or quick else 2
    except Exception as exc:
        print(f"SOAK FAILED: {type(exc).__name__}: {exc}", flush=True)
        import traceback

        traceback.print_exc()
        return 1
    finally:
        for t in targets:
            try:
                t.close()
            except Exception:
                pass
        for child in reversed(kids):
            child.stop(grace=0.0)  # (brokers do not read stdin: SIGTERM at once)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 10x smaller run (smoke test)")
    ap.add_argument("--serve-direct", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-brokered", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_direct:
        serve(zpyro.Daemon(host=HOST))
        return 0
    if args.serve_brokered:
        endpoint, capacity = args.serve_brokered
        serve(zpyro.Daemon(broker=endpoint, capacity=int(capacity)))
        return 0
    return run(args.quick)


if __name__ == "__main__":
    sys.exit(main())
