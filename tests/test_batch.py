"""Batches: ``zpyro.BatchProxy(p)`` / ``zpyro.batch(p)`` queue calls and run them in one message.

Every serializer is tried, marshal and pickle included (the daemon opts in to them).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServedDaemon, scaled, serving

import zpyro
from zpyro import errors

pytestmark = pytest.mark.timeout(60)

ALL_SERIALIZERS = ["serpent", "json", "msgpack", "marshal", "pickle"]


@zpyro.expose
class Thingy:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []  # (method, call id it was served under)
        self.logged = threading.Event()
        self.lines: list[str] = []

    def _note(self, method: str) -> None:
        self.calls.append((method, zpyro.current_context.call_id))

    def multiply(self, a: int, b: int) -> int:
        self._note("multiply")
        return a * b

    def add(self, a: Any, b: Any) -> Any:
        self._note("add")
        return a + b

    def divide(self, a: float, b: float) -> float:
        self._note("divide")
        return a / b

    def greet(self, name: str, greeting: str = "Hello") -> str:
        self._note("greet")
        return f"{greeting}, {name}"

    def sleepy(self, seconds: float) -> str:
        self._note("sleepy")
        time.sleep(seconds)
        return "slept"

    async def later(self, x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1000

    def log(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= 5:
            self.logged.set()


@pytest.fixture
def thingy() -> Iterator[tuple[ServedDaemon, Thingy, zpyro.URI]]:
    with serving(serializers_accepted=frozenset(ALL_SERIALIZERS)) as served:
        obj = Thingy()
        yield served, obj, served.register(obj, "batch.thingy")


def count_round_trips(proxy: zpyro.Proxy) -> list[int]:
    """Counts request/reply round trips on the proxy's connection from now on."""
    conn = proxy._pyroConnection
    trips = [0]
    original = conn.call

    def counting(*args: Any, **kwargs: Any) -> Any:
        trips[0] += 1
        return original(*args, **kwargs)

    conn.call = counting
    return trips


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS)
def test_results_in_order_in_one_round_trip(thingy: Any, serializer: str) -> None:
    _, obj, uri = thingy
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = serializer
        p._pyroBind()
        trips = count_round_trips(p)
        b = zpyro.BatchProxy(p)
        assert b.multiply(7, 6) is None  # queued, not run
        b.add(1, 2)
        b.greet("Irmen", greeting="Hi")
        b.add("con", "cat")
        b.divide(22, 7)
        assert obj.calls == []
        results = b()
        assert trips[0] == 1  # one message there, one back
        assert next(results) == 42
        assert list(results) == [3, "Hi, Irmen", "concat", pytest.approx(22 / 7)]
        # the server ran them in order, all under the one call id of the batch message
        assert [m for m, _ in obj.calls] == ["multiply", "add", "greet", "add", "divide"]
        assert len({call_id for _, call_id in obj.calls}) == 1


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS)
def test_an_exception_is_raised_at_its_position(thingy: Any, serializer: str) -> None:
    _, obj, uri = thingy
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = serializer
        b = zpyro.batch(p)
        b.add(1, 1)
        b.divide(1, 0)
        b.add(2, 2)  # not run: a batch stops at its first error
        results = b()
        assert next(results) == 2
        with pytest.raises(ZeroDivisionError) as raised:
            next(results)
        assert "ZeroDivisionError" in "".join(zpyro.get_remote_traceback(raised.value))
        assert list(results) == []
        assert [m for m, _ in obj.calls] == ["add", "divide"]


def test_unknown_method_fails_at_its_position(thingy: Any) -> None:
    _, _, uri = thingy
    with zpyro.Proxy(uri) as p:
        b = zpyro.BatchProxy(p)
        b.add(1, 2)
        b.no_such_method()
        results = b()
        assert next(results) == 3
        with pytest.raises(AttributeError, match="no_such_method"):
            next(results)


def test_the_batch_is_emptied_by_running_it(thingy: Any) -> None:
    _, _, uri = thingy
    with zpyro.Proxy(uri) as p:
        b = zpyro.BatchProxy(p)
        b.add(1, 2)
        assert list(b()) == [3]
        b.add(3, 4)  # the same batch object takes a new set of calls
        assert list(b()) == [7]
        assert list(b()) == []  # nothing queued: no results


def test_batch_as_a_context_manager(thingy: Any) -> None:
    _, _, uri = thingy
    with zpyro.Proxy(uri) as p:
        with zpyro.batch(p) as b:
            for n in range(10):
                b.multiply(n, n)
            assert list(b()) == [n * n for n in range(10)]


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS)
def test_oneway_batch(thingy: Any, serializer: str) -> None:
    _, obj, uri = thingy
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = serializer
        b = zpyro.BatchProxy(p)
        b.sleepy(0.5)
        for n in range(5):
            b.log(f"line {n}")
        start = time.monotonic()
        assert b(oneway=True) is None
        assert time.monotonic() - start < 0.4  # did not wait for the slow call
        assert obj.logged.wait(scaled(5))
        assert obj.lines == [f"line {n}" for n in range(5)]


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS)
def test_asynchronous_batch(thingy: Any, serializer: str) -> None:
    _, _, uri = thingy
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = serializer
        b = zpyro.BatchProxy(p)
        b.sleepy(0.3)
        for n in range(1, 5):
            b.multiply(n, n)
        future = b(asynchronous=True)
        assert isinstance(future, zpyro.Future)
        assert not future.ready
        assert list(future.result(timeout=scaled(5))) == ["slept", 1, 4, 9, 16]

        b.add(1, 1)
        b.divide(1, 0)
        results = b(asynchronous=True).then(iter).value
        assert next(results) == 2
        with pytest.raises(ZeroDivisionError):
            next(results)


def test_many_calls_in_one_batch(thingy: Any) -> None:
    _, _, uri = thingy
    with zpyro.Proxy(uri) as p:
        p._pyroBind()
        trips = count_round_trips(p)
        b = zpyro.BatchProxy(p)
        for n in range(2000):
            b.add(n, n)
        assert sum(b()) == 2 * sum(range(2000))
        assert trips[0] == 1


def test_async_def_methods_in_a_batch(thingy: Any) -> None:
    _, _, uri = thingy
    with zpyro.Proxy(uri) as p:
        b = zpyro.BatchProxy(p)
        b.later(1)
        b.add(1, 1)
        b.later(2)
        assert list(b()) == [1001, 2, 1002]


def test_batch_on_an_unknown_object(thingy: Any) -> None:
    served, _, _ = thingy
    with zpyro.Proxy(f"PYRO:batch.nobody@{served.daemon.location}") as p:
        b = zpyro.BatchProxy(p)
        b.add(1, 2)
        with pytest.raises(errors.DaemonError, match="unknown object"):
            b()
