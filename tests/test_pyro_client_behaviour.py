"""Client behaviour Pyro programs depend on (issue 9, d8), used as a Pyro4 program would.

Streams deliver items as they are produced; a daemon that died between calls gives the next
call ``ConnectionClosedError`` (exactly that class) and ``_pyroReconnect()`` keeps trying until
it is back on the same URI; ``MAX_RETRIES`` retries a call that timed out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import PYTHON, scaled, serving

import zpyro as Pyro4
from zpyro import aio

pytestmark = pytest.mark.timeout(60)

ECHO = [PYTHON, "-m", "zpyro.echo"]


@Pyro4.expose
class Feed:
    def __init__(self) -> None:
        self.next_event = threading.Event()
        self.produced = 0

    def live(self, count: int) -> Iterator[str]:
        """Yields an item whenever tick() is called (the first one at once)."""
        for number in range(count):
            self.produced = number + 1
            yield f"event {number}"
            if not self.next_event.wait(scaled(10)):
                return
            self.next_event.clear()

    def paced(self, count: int, interval: float) -> Iterator[int]:
        for number in range(count):
            time.sleep(interval)
            yield number

    def tick(self) -> None:
        self.next_event.set()


@pytest.fixture
def feed() -> Iterator[tuple[Feed, Pyro4.URI]]:
    obj = Feed()
    with serving() as served:
        yield obj, served.register(obj, "feed")


def test_an_event_driven_generator_delivers_each_item_when_it_comes(feed: Any) -> None:
    obj, uri = feed
    with Pyro4.Proxy(uri) as p, Pyro4.Proxy(uri) as control:
        events = p.live(3)
        assert next(events) == "event 0"  # while the generator waits for the next event
        assert obj.produced == 1
        control.tick()
        assert next(events) == "event 1"
        control.tick()
        assert next(events) == "event 2"
        control.tick()
        assert list(events) == []


def test_a_paced_generator_gives_its_first_item_at_once(feed: Any) -> None:
    _, uri = feed
    with Pyro4.Proxy(uri) as p:
        started = time.monotonic()
        numbers = p.paced(40, 0.05)  # 2 s in all; the old 200-item chunks waited for all of it
        assert next(numbers) == 0
        first = time.monotonic() - started
        assert first < scaled(1.0), f"first item after {first:.2f} s"
        assert list(numbers) == list(range(1, 40))


def test_streams_through_an_asyncio_daemon_do_not_block_its_loop() -> None:
    """A fetch that waits for the next item must not hold the loop that serves tick()."""
    obj = Feed()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            daemon = aio.Daemon(host="127.0.0.1")
            holder["uri"] = daemon.register(obj, "feed")
            holder["daemon"] = daemon
            ready.set()
            with daemon:
                await daemon.serve_forever()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(scaled(10))
    try:
        with Pyro4.Proxy(holder["uri"]) as p, Pyro4.Proxy(holder["uri"]) as control:
            events = p.live(2)
            assert next(events) == "event 0"
            fetched: list[str] = []
            fetching = threading.Thread(target=lambda: fetched.append(next(events)))
            fetching.start()  # waits in the daemon for the next event
            time.sleep(0.1)
            control.tick()  # served meanwhile
            fetching.join(scaled(10))
            assert fetched == ["event 1"]
    finally:
        holder["daemon"].shutdown()
        thread.join(scaled(10))


def test_a_daemon_dead_between_calls_gives_connection_closed_then_reconnect_waits(
    spawn: Any,
) -> None:
    first = spawn(ECHO)
    line = first.wait_for("echo uri:")
    first.wait_for("echoserver running.")
    uri = Pyro4.URI(line.split("echo uri:", 1)[1].strip())
    p = Pyro4.Proxy(uri)
    assert p.pid() == first.proc.pid
    first.kill()
    first.proc.wait(scaled(10))
    with pytest.raises(Pyro4.errors.ConnectionClosedError) as lost:
        p.pid()
    assert type(lost.value) is Pyro4.errors.ConnectionClosedError  # what Pyro's idiom catches
    with pytest.raises(Pyro4.errors.CommunicationError) as refused:
        p.pid()  # nothing listens: the next connection is refused (as in Pyro)
    assert type(refused.value) is Pyro4.errors.CommunicationError

    restarted: list[Any] = []

    def restart_later() -> None:
        time.sleep(1.5)  # the daemon takes a while to come back
        second = spawn([*ECHO, "--port", str(uri.port)])
        second.wait_for("echoserver running.")
        restarted.append(second)

    restarter = threading.Thread(target=restart_later)
    restarter.start()
    started = time.monotonic()
    p._pyroReconnect()  # keeps trying until the daemon is back on the same URI
    assert time.monotonic() - started >= 1.0
    restarter.join(scaled(30))
    assert p.pid() == restarted[0].proc.pid
    p._pyroRelease()

    with pytest.raises(Pyro4.errors.ConnectionClosedError, match="failed to reconnect"):
        Pyro4.Proxy(f"PYRO:x@127.0.0.1:{free_port()}")._pyroReconnect(tries=2)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@Pyro4.expose
class SlowFirstTime:
    def __init__(self) -> None:
        self.calls = 0

    def work(self) -> str:
        self.calls += 1
        if self.calls == 1:
            time.sleep(1.5)  # longer than the caller's timeout: its retry comes meanwhile
            return "first"
        return "retried"


def test_max_retries_retries_a_call_that_timed_out() -> None:
    with serving() as served:
        obj = SlowFirstTime()
        uri = served.register(obj, "slow")
        Pyro4.config.MAX_RETRIES = 1
        with Pyro4.Proxy(uri) as patient:
            assert patient._pyroMaxRetries == 1
            patient._pyroTimeout = 0.5
            assert patient.work() == "retried"  # the timed-out call was made again
        obj.calls = 0
        with Pyro4.Proxy(uri) as impatient:
            impatient._pyroMaxRetries = 0
            impatient._pyroTimeout = 0.5
            with pytest.raises(Pyro4.errors.TimeoutError):
                impatient.work()


def test_a_never_made_connection_is_a_communication_error_not_an_internal_class() -> None:
    uri = f"PYRO:x@127.0.0.1:{free_port()}"
    p = Pyro4.Proxy(uri)
    with pytest.raises(Pyro4.errors.CommunicationError) as refused:
        p.anything()
    assert type(refused.value) is Pyro4.errors.CommunicationError
