"""Call styles as Pyro4 spells them (issue 9, d4), used as a Pyro4 program would.

``Pyro4.asyncproxy(p)`` switches ``p`` itself (same connection, same session instance),
``FutureResult.then`` chains onto the result itself, ``iferror``, ``p._pyroBatch()``,
``with batch(p) as b:`` keeping its calls, and Pyro4's local ``Future(callable)``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import scaled, serving

import zpyro as Pyro4

pytestmark = pytest.mark.timeout(60)


@Pyro4.expose
@Pyro4.behavior(instance_mode="session")
class Session:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = threading.Event()

    def count(self) -> int:
        self.calls += 1
        return self.calls

    def add(self, a: int, b: int) -> int:
        return a + b

    def divide(self, a: int, b: int) -> float:
        return a / b

    def when_released(self, value: Any) -> Any:
        if not self.gate.wait(scaled(10)):
            raise RuntimeError("never released")
        return value

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def uri() -> Iterator[Pyro4.URI]:
    with serving() as served:
        yield served.register(Session, "styles.session")


def test_asyncproxy_switches_the_proxy_itself_on_its_own_connection(uri: Pyro4.URI) -> None:
    with Pyro4.Proxy(uri) as p:
        assert p.count() == 1
        connection = p._pyroConnection
        assert Pyro4.asyncproxy(p) is p  # (Pyro4 returns None; the proxy itself is handier)
        future = p.count()
        assert isinstance(future, Pyro4.Future) and future.value == 2  # the same session
        assert p._pyroConnection is connection
        Pyro4.asyncproxy(p, asynchronous=False)
        assert p.count() == 3
        p._pyroAsync()
        assert p.count().value == 4
        p._pyroAsync(False)
        assert p.count() == 5


def test_a_copy_is_the_way_to_a_separate_async_proxy(uri: Pyro4.URI) -> None:
    with Pyro4.Proxy(uri) as p:
        assert p.count() == 1
        with Pyro4.asyncproxy(copy.copy(p)) as other:
            assert other.count().value == 1  # its own connection: its own session
        assert p.count() == 2  # p stayed synchronous


def test_then_chain_ends_in_value_and_iferror_sees_failures(uri: Pyro4.URI) -> None:
    with Pyro4.Proxy(uri) as calc:
        Pyro4.asyncproxy(calc)
        pending = calc.when_released(9)
        chained = calc.add(1, 2)
        result = chained.then(lambda v: v * 10).then(lambda v, extra: v + extra, 7)
        assert result is chained
        assert not pending.wait(0.1) and not pending.ready
        calc.release()  # the same session instance: it releases the pending call
        assert pending.wait(scaled(10)) and pending.value == 9
        assert chained.value == 37  # (1 + 2) * 10 + 7

        seen: list[BaseException] = []
        handled = threading.Event()

        def handler(exc: BaseException) -> None:
            seen.append(exc)
            handled.set()

        failing = calc.divide(1, 0).iferror(handler)
        assert handled.wait(scaled(10))
        with pytest.raises(ZeroDivisionError):
            failing.value  # noqa: B018
        assert len(seen) == 1 and isinstance(seen[0], ZeroDivisionError)

        late: list[BaseException] = []
        failing.iferror(late.append)  # already failed: called at once, in this thread
        assert late == seen


def test_chained_functions_may_call_the_proxy_again(uri: Pyro4.URI) -> None:
    """A chain runs in a helper thread, never in the thread reading replies: a chained
    function that calls the same proxy synchronously does not deadlock it."""
    with Pyro4.Proxy(uri) as p, Pyro4.Proxy(uri) as sync:
        Pyro4.asyncproxy(p)
        future = p.add(2, 3).then(lambda v: sync.add(v, 100))
        assert future.wait(scaled(10)) and future.value == 105


def test_pyro_batch_and_the_with_block_keeps_its_calls(uri: Pyro4.URI) -> None:
    with Pyro4.Proxy(uri) as proxy:
        batch = proxy._pyroBatch()
        assert isinstance(batch, Pyro4.BatchProxy)
        batch.add(1, 2)
        batch.divide(1, 0)
        batch.add(3, 4)
        results = batch()
        assert next(results) == 3
        with pytest.raises(ZeroDivisionError):
            next(results)

        with Pyro4.batch(proxy) as later:
            later.add(10, 10)
            later.add(20, 20)
        assert list(later()) == [20, 40]  # queued in the block, run when called
        assert list(later()) == []  # calling it emptied it

        b = proxy._pyroBatch()
        b.count()
        with pytest.raises(Pyro4.errors.PyroError, match="oneway"):
            b(oneway=True, asynchronous=True)
        assert list(b(asynchronous=True).value) == [1]


def multiply(a: int, b: int) -> int:
    return a * b


def test_local_future_then_iferror_delay_cancel(uri: Pyro4.URI) -> None:
    future = Pyro4.Future(multiply)
    assert not isinstance(future, Pyro4.FutureResult)
    assert future.then(lambda v: v + 1).then(lambda v, extra: v * extra, 2) is future
    result = future(5, 6)
    assert isinstance(result, Pyro4.FutureResult)
    assert result.value == 62  # (5 * 6 + 1) * 2
    with pytest.raises(RuntimeError):
        future(1, 1)  # once only
    with pytest.raises(RuntimeError):
        future.then(str)

    errors: list[BaseException] = []
    failing = Pyro4.Future(lambda text: 1 / 0).iferror(errors.append)
    outcome = failing("x")
    assert outcome.wait(scaled(10))
    with pytest.raises(ZeroDivisionError):
        outcome.value  # noqa: B018
    assert len(errors) == 1 and isinstance(errors[0], ZeroDivisionError)

    later = Pyro4.Future(multiply)
    assert later.delay(0.3)
    started = time.monotonic()
    assert later(2, 3).value == 6
    assert time.monotonic() - started >= 0.25
    assert not later.delay(1) and not later.cancel()  # it ran already

    never = Pyro4.Future(multiply)
    never.delay(scaled(30))
    pending = never(1, 2)
    assert never.cancel()
    assert pending.wait(scaled(5))  # at once, not after the delay
    with pytest.raises(RuntimeError, match="cancelled"):
        pending.value  # noqa: B018

    with Pyro4.Proxy(uri) as remote:
        remote_future = Pyro4.Future(remote.add).then(lambda v: v + 1)
        assert remote_future(40, 1).value == 42
