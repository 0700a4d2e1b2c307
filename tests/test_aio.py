"""asyncio: ``zpyro.aio.Proxy`` (awaitable calls), ``zpyro.aio.Daemon`` (served by a running loop)
and ``async def`` exposed methods on every kind of daemon."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServedDaemon, scaled, serving

import zpyro
from zpyro import aio, errors

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class Greeter:
    def __init__(self) -> None:
        self._motto = "carpe diem"
        self.loops: list[Any] = []
        self.threads: list[str] = []

    async def fortune(self, name: str, seconds: float = 0.0) -> str:
        self.loops.append(asyncio.get_running_loop())
        await asyncio.sleep(seconds)
        return f"Hello, {name}"

    async def fail(self) -> None:
        await asyncio.sleep(0)
        raise ValueError("async failure")

    async def whoami(self) -> Any:
        await asyncio.sleep(0)
        return zpyro.current_context.object_id, zpyro.current_context.method

    def shout(self, text: str) -> str:
        self.threads.append(threading.current_thread().name)
        return text.upper() + "!"

    def sleepy(self, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    @property
    def motto(self) -> str:
        return self._motto

    @motto.setter
    def motto(self, value: str) -> None:
        self._motto = value


@pytest.fixture
def threaded() -> Iterator[tuple[ServedDaemon, Greeter, zpyro.URI]]:
    """An ordinary Daemon serving in a thread."""
    with serving() as served:
        obj = Greeter()
        yield served, obj, served.register(obj, "aio.greeter")


def run(coro: Any, timeout: float = 20) -> Any:
    return asyncio.run(asyncio.wait_for(coro, scaled(timeout)))


# -- aio.Proxy ------------------------------------------------------------------------------------


def test_aio_proxy_calls_plain_and_async_methods(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> Any:
        async with aio.Proxy(uri) as p:
            return await p.fortune("Irmen"), await p.shout("hi")

    assert run(main()) == ("Hello, Irmen", "HI!")


def test_aio_proxy_connects_on_first_call_without_async_with(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> Any:
        p = aio.Proxy(uri)
        try:
            return await p.shout("lazy")
        finally:
            p._pyroRelease()

    assert run(main()) == "LAZY!"


def test_aio_proxy_remote_exception(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> None:
        async with aio.Proxy(uri) as p:
            with pytest.raises(ValueError, match="async failure"):
                await p.fail()
            with pytest.raises(AttributeError):
                await p.no_such_method()
            assert await p.shout("still fine") == "STILL FINE!"

    run(main())


def test_gather_keeps_many_calls_in_flight_on_one_proxy(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> tuple[list[str], float]:
        async with aio.Proxy(uri) as p:
            start = time.monotonic()
            names = [f"caller{n}" for n in range(100)]
            results = await asyncio.gather(*(p.fortune(name, 0.3) for name in names))
            return results, time.monotonic() - start

    results, elapsed = run(main())
    assert results == [f"Hello, caller{n}" for n in range(100)]
    assert elapsed < 3.0  # 100 x 0.3 s would be 30 s one by one


def test_the_loop_is_free_while_calls_are_in_flight(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async with aio.Proxy(uri) as p:
            task = asyncio.create_task(ticker())
            await p.sleepy(0.5)  # a blocking method in the server, not in this loop
            task.cancel()
        return ticks

    assert run(main()) >= 10


def test_aio_proxy_timeout(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> None:
        async with aio.Proxy(uri) as p:
            p._pyroTimeout = 0.3
            assert p._pyroTimeout == 0.3
            start = time.monotonic()
            with pytest.raises(errors.TimeoutError):
                await p.fortune("slow", 1.0)
            assert time.monotonic() - start < 1.5
            with pytest.raises(TimeoutError):  # also a builtin TimeoutError
                await p.sleepy(1.0)
            assert await p.fortune("quick") == "Hello, quick"

    run(main())


def test_aio_proxy_properties(threaded: Any) -> None:
    _, obj, uri = threaded

    async def main() -> None:
        async with aio.Proxy(uri) as p:
            assert await p.motto == "carpe diem"
            obj.motto = "tempus fugit"
            assert await p.motto == "tempus fugit"

    run(main())


def test_aio_proxy_property_before_connecting(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> None:
        p = aio.Proxy(uri)  # no async with: the proxy does not know its metadata yet
        try:
            assert await p.motto == "carpe diem"
            with pytest.raises(AttributeError):
                await p.no_such_property
        finally:
            p._pyroRelease()

    run(main())


def test_aio_proxy_repr_and_release(threaded: Any) -> None:
    _, _, uri = threaded

    async def main() -> None:
        p = aio.Proxy(uri)
        assert str(uri) in repr(p)
        async with p:
            assert p._pyroConnection is not None
        assert p._pyroConnection is None

    run(main())


# -- aio.Daemon -----------------------------------------------------------------------------------


def test_aio_daemon_serves_in_the_running_loop() -> None:
    async def main() -> None:
        daemon = aio.Daemon(host="127.0.0.1")
        obj = Greeter()
        uri = daemon.register(obj, "aio.served")
        server = asyncio.create_task(daemon.serve_forever())
        try:
            async with aio.Proxy(uri) as p:
                assert await p.fortune("Irmen") == "Hello, Irmen"
                assert await p.shout("hello") == "HELLO!"
                assert list(await p.whoami()) == ["aio.served", "whoami"]
                results = await asyncio.gather(*(p.fortune(str(n), 0.2) for n in range(30)))
                assert results == [f"Hello, {n}" for n in range(30)]
            # async def methods ran on this very loop; plain ones on the worker pool
            assert set(obj.loops) == {asyncio.get_running_loop()}
            assert all(name != threading.current_thread().name for name in obj.threads)
            # a blocking client in another thread is served too
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, lambda: zpyro.Proxy(uri).shout("x")) == "X!"
        finally:
            daemon.shutdown()
            await asyncio.wait_for(server, scaled(5))
            daemon.close()

    run(main())


def test_aio_daemon_stops_on_shutdown() -> None:
    @zpyro.expose
    class Stopper:
        def __init__(self, daemon: zpyro.Daemon) -> None:
            self.daemon = daemon

        @zpyro.oneway
        def stop(self) -> None:
            self.daemon.shutdown()

    async def main() -> None:
        # shutdown() from another task of the same loop
        daemon = aio.Daemon(host="127.0.0.1")
        uri = daemon.register(Greeter(), "aio.stopped")
        server = asyncio.create_task(daemon.serve_forever())
        async with aio.Proxy(uri) as p:
            assert await p.shout("hi") == "HI!"
        daemon.shutdown()
        await asyncio.wait_for(server, scaled(5))  # serve_forever returned
        assert server.done() and not server.cancelled()
        daemon.close()

        # shutdown() from inside a served (oneway) call
        daemon = aio.Daemon(host="127.0.0.1")
        uri = daemon.register(Stopper(daemon), "aio.stopper")
        server = asyncio.create_task(daemon.serve_forever())
        async with aio.Proxy(uri) as p:
            assert await p.stop() is None
            await asyncio.wait_for(server, scaled(5))
        daemon.close()

    run(main())


def test_aio_daemon_stops_when_cancelled_and_can_serve_again() -> None:
    async def main() -> None:
        daemon = aio.Daemon(host="127.0.0.1")
        uri = daemon.register(Greeter(), "aio.cancelled")
        server = asyncio.create_task(daemon.serve_forever())
        async with aio.Proxy(uri) as p:
            assert await p.shout("one") == "ONE!"
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
        loop = asyncio.get_running_loop()
        # no longer served: a call times out
        q = zpyro.Proxy(uri)
        q._pyroTimeout = 0.3
        with pytest.raises(errors.TimeoutError):
            await loop.run_in_executor(None, q.shout, "nobody listens")
        q._pyroRelease()
        # the same daemon serves again in a new task
        server = asyncio.create_task(daemon.serve_forever())
        async with aio.Proxy(uri) as p:
            assert await p.shout("two") == "TWO!"
            assert await p.fortune("again") == "Hello, again"
        daemon.shutdown()
        await asyncio.wait_for(server, scaled(5))
        daemon.close()

    run(main())


# -- async def methods on an ordinary Daemon ------------------------------------------------------


def test_async_methods_do_not_use_up_the_worker_pool() -> None:
    with serving(threadpool_size=2) as served:
        uri = served.register(Greeter(), "aio.pooled")
        with zpyro.asyncproxy(zpyro.Proxy(uri)) as p, zpyro.Proxy(uri) as q:
            start = time.monotonic()
            futures = [p.fortune(str(n), 0.3) for n in range(50)]
            # meanwhile plain calls are still answered: the pool is not tied up by the awaits
            assert q.sleepy(0.01) == "slept"
            assert q.shout("meanwhile") == "MEANWHILE!"
            done, not_done = concurrent.futures.wait(futures, timeout=scaled(10))
            elapsed = time.monotonic() - start
    assert not not_done
    assert [f.result() for f in futures] == [f"Hello, {n}" for n in range(50)]
    assert elapsed < 3.0, f"50 awaits of 0.3 s took {elapsed:.2f} s with 2 workers"


def test_async_method_from_blocking_proxy_threads() -> None:
    with serving(threadpool_size=2) as served:
        uri = served.register(Greeter(), "aio.threads")
        results: list[str] = []
        lock = threading.Lock()

        def call(n: int) -> None:
            with zpyro.Proxy(uri) as p:
                value = p.fortune(str(n), 0.3)
            with lock:
                results.append(value)

        start = time.monotonic()
        threads = [threading.Thread(target=call, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(10))
        elapsed = time.monotonic() - start
    assert sorted(results) == sorted(f"Hello, {n}" for n in range(20))
    assert elapsed < 4.0


def test_async_method_exception_and_context_on_ordinary_daemon(threaded: Any) -> None:
    _, _, uri = threaded
    with zpyro.Proxy(uri) as p:
        with pytest.raises(ValueError, match="async failure"):
            p.fail()
        assert list(p.whoami()) == ["aio.greeter", "whoami"]


def test_a_cancelled_await_leaves_no_error_behind(threaded: Any, caplog: Any) -> None:
    _, _, uri = threaded

    async def main() -> None:
        async with aio.Proxy(uri) as p:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.fortune("too slow", 0.3), 0.05)
            task = asyncio.create_task(p.fortune("cancelled", 0.3))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # the abandoned replies arrive meanwhile; the proxy goes on working
            assert await p.fortune("after", 0.4) == "Hello, after"

    run(main())
    errors_logged = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors_logged == [], [r.getMessage() for r in errors_logged]
