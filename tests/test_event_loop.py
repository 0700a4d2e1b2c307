"""Event-loop integration: daemons living in someone else's ``zmq.Poller`` loop through
``daemon.sockets`` and ``daemon.events(ready)``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from conftest import eventually, scaled

import zpyro
from zpyro import aio

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class Thermometer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.readings: list[float] = []
        self.threads: set[str] = set()

    def record(self, celsius: float) -> int:
        self.threads.add(threading.current_thread().name)
        self.readings.append(celsius)
        return len(self.readings)

    def whoami(self) -> str:
        return self.name

    def nap(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    async def async_nap(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"{self.name} napped"

    def readings_stream(self, n: int) -> Iterator[int]:
        yield from range(n)

    @zpyro.oneway
    def poke(self, box: list[Any]) -> None:
        pass


class HostLoop:
    """A program's own loop: a zmq.Poller over its PULL socket and any number of daemons."""

    def __init__(self, daemons: list[zpyro.Daemon], as_list: bool = False) -> None:
        self.daemons = daemons
        self.as_list = as_list  # hand events() the poll's list of pairs instead of a dict
        self.ctx = zmq.Context.instance()
        self.pull = self.ctx.socket(zmq.PULL)
        self.pull.linger = 0
        self.pull_endpoint = f"tcp://127.0.0.1:{self.pull.bind_to_random_port('tcp://127.0.0.1')}"
        self.own_messages: list[str] = []
        self.turns = 0
        self.longest_turn = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="host-loop", daemon=True)
        self.failure: BaseException | None = None

    def __enter__(self) -> HostLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(scaled(5))
        for daemon in self.daemons:
            daemon.close()
        self.pull.close(linger=0)
        assert not self.thread.is_alive()
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        poller = zmq.Poller()
        owner: dict[Any, zpyro.Daemon] = {}
        for daemon in self.daemons:
            for sock in daemon.sockets:  # a zmq socket and a file descriptor
                poller.register(sock, zmq.POLLIN)
                owner[sock] = daemon
        poller.register(self.pull, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                ready = poller.poll(20)
                started = time.monotonic()
                for daemon in self.daemons:
                    mine = [(s, e) for s, e in ready if owner.get(s) is daemon]
                    if mine:
                        daemon.events(mine if self.as_list else dict(mine))
                if any(s is self.pull for s, _ in ready):
                    self.own_messages.append(self.pull.recv_string())
                self.turns += 1
                self.longest_turn = max(self.longest_turn, time.monotonic() - started)
        except BaseException as exc:  # pragma: no cover - reported by __exit__
            self.failure = exc

    def push(self, text: str) -> None:
        push = self.ctx.socket(zmq.PUSH)
        push.connect(self.pull_endpoint)
        push.send_string(text)
        push.close(linger=1000)

    def wait_for_own(self, text: str) -> None:
        """Until the loop has read `text`, and only that, from its own socket (bounded)."""
        eventually(
            lambda: self.own_messages == [text],
            5,
            lambda: f"the loop reads {text!r} from its own socket; it read {self.own_messages}",
        )


def daemon_with(name: str) -> tuple[zpyro.Daemon, Thermometer, zpyro.URI]:
    daemon = zpyro.Daemon(host="127.0.0.1")
    obj = Thermometer(name)
    return daemon, obj, daemon.register(obj, f"loop.{name}")


def test_sockets_are_the_router_and_the_monitor_when_sessions_need_it() -> None:
    daemon, _, _ = daemon_with("kinds")
    try:
        # other threads wake the daemon through its ROUTER; the descriptor brings the host
        # loop back when one events() call left messages for the next
        router, wake_fd = daemon.sockets
        assert isinstance(router, zmq.Socket) and router.type == zmq.ROUTER
        assert isinstance(wake_fd, int)
        daemon.events({})  # nothing ready: returns at once
        daemon.events([])
        # a session-mode class: the ROUTER's monitor tells when a client goes without goodbye
        daemon.register(zpyro.behavior("session")(zpyro.expose(type("S", (), {}))), "loop.s")
        router2, wake_fd2, monitor = daemon.sockets
        assert router2 is router and wake_fd2 == wake_fd
        assert isinstance(monitor, zmq.Socket) and monitor.type == zmq.PAIR
        daemon.events([])
    finally:
        daemon.close()


def test_a_brokered_daemon_polls_its_dealer_and_a_file_descriptor(broker: Any) -> None:
    daemon = zpyro.Daemon(broker=broker.endpoint)
    try:
        dealer, wake_fd = daemon.sockets
        assert isinstance(dealer, zmq.Socket) and dealer.type == zmq.DEALER
        assert isinstance(wake_fd, int)
        daemon.events([])
    finally:
        daemon.close()


@pytest.mark.parametrize("as_list", [False, True], ids=["dict", "pairs"])
def test_daemon_served_from_the_host_loop(as_list: bool) -> None:
    daemon, obj, uri = daemon_with("kitchen")
    with HostLoop([daemon], as_list=as_list) as loop:
        with zpyro.Proxy(uri) as p:
            assert [p.record(t) for t in (19.5, 21.0, 22.5)] == [1, 2, 3]
            assert p.whoami() == "kitchen"
        loop.push("client done")
        loop.wait_for_own("client done")
    assert obj.readings == [19.5, 21.0, 22.5]
    assert "host-loop" not in obj.threads  # calls run on the worker pool, not in the loop


def test_the_host_loop_never_blocks_on_a_slow_call() -> None:
    daemon, _, uri = daemon_with("slow")
    with HostLoop([daemon]) as loop:
        with zpyro.Proxy(uri) as p:
            p.whoami()
            turns = loop.turns
            assert p.nap(0.5) == 0.5
            loop.push("meanwhile")
            loop.wait_for_own("meanwhile")
        assert loop.turns > turns + 5  # it kept turning while the call slept
        assert loop.longest_turn < 0.25  # and no turn waited for the call


def test_several_daemons_in_one_loop() -> None:
    made = [daemon_with(name) for name in ("kitchen", "cellar", "attic")]
    with HostLoop([d for d, _, _ in made]) as loop:
        proxies = [zpyro.Proxy(uri) for _, _, uri in made]
        try:
            for round_ in range(3):
                for n, p in enumerate(proxies):
                    assert p.record(float(round_ * 10 + n)) == round_ + 1
            assert [p.whoami() for p in proxies] == ["kitchen", "cellar", "attic"]
            # slow calls on all three at once: served side by side
            start = time.monotonic()
            futures = [zpyro.asyncproxy(copy.copy(p)).nap(0.4) for p in proxies]
            done, not_done = concurrent.futures.wait(futures, timeout=scaled(5))
            assert not not_done and time.monotonic() - start < 1.1
            loop.push("own socket still served")
            loop.wait_for_own("own socket still served")
        finally:
            for p in proxies:
                p._pyroRelease()
    assert [obj.readings for _, obj, _ in made] == [
        [0.0, 10.0, 20.0],
        [1.0, 11.0, 21.0],
        [2.0, 12.0, 22.0],
    ]


def test_many_calls_in_flight_through_the_host_loop() -> None:
    """More calls than one events() takes from the socket at a time: none is left behind."""
    daemon, obj, uri = daemon_with("busy")
    with HostLoop([daemon]):
        with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
            futures = [p.record(float(n)) for n in range(500)]
            done, not_done = concurrent.futures.wait(futures, timeout=scaled(10))
            assert not not_done
            assert sorted(f.result() for f in futures) == list(range(1, 501))
    assert sorted(obj.readings) == [float(n) for n in range(500)]


def test_every_call_style_through_the_host_loop() -> None:
    daemon, obj, uri = daemon_with("styles")
    with HostLoop([daemon]):
        with zpyro.Proxy(uri) as p:
            # async def methods, many at once, do not hold the loop or the pool
            start = time.monotonic()
            with zpyro.asyncproxy(copy.copy(p)) as ap:
                futures = [ap.async_nap(0.3) for _ in range(40)]
                results = [f.result(timeout=scaled(5)) for f in futures]
            assert results == ["styles napped"] * 40 and time.monotonic() - start < 2.0
            # streams
            assert list(p.readings_stream(1000)) == list(range(1000))
            # batches
            b = zpyro.BatchProxy(p)
            b.record(1.0)
            b.whoami()
            assert list(b()) == [1, "styles"]
            # oneway
            assert p.poke([]) is None

            # asyncio clients
            async def main() -> str:
                async with aio.Proxy(uri) as q:
                    return await q.async_nap(0.01)  # type: ignore[no-any-return]

            assert asyncio.run(main()) == "styles napped"


def test_loop_can_stop_and_resume_serving() -> None:
    daemon, _, uri = daemon_with("paused")
    with HostLoop([daemon]) as loop:
        with zpyro.Proxy(uri) as p:
            assert p.whoami() == "paused"
        loop.stop.set()
        loop.thread.join(scaled(5))
        # nobody calls events() now: a call waits, and is answered once a loop serves again
        q = zpyro.asyncproxy(zpyro.Proxy(uri))
        pending = q.whoami()
        assert not pending.wait(0.2)
        loop.stop.clear()
        loop.thread = threading.Thread(target=loop._run, name="host-loop", daemon=True)
        loop.thread.start()
        assert pending.result(timeout=scaled(5)) == "paused"
        q._pyroRelease()
