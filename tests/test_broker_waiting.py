"""Lookups that wait for a name (``delay_time``), without sockets: the NameServer hands back a
coroutine for a dispatched call, ``broker.waiting.Waiting`` parks it and steps it when the names
change or its deadline passes (a fake clock); a direct call waits on a condition (a thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import scaled

from zpyro import context, wire
from zpyro.broker.announcer import Announcer
from zpyro.broker.nameserver import NAME, NameServer
from zpyro.broker.registry import Registry
from zpyro.broker.storage import MemoryStorage
from zpyro.broker.waiting import NameChange, Waiting
from zpyro.errors import DaemonError, NamingError
from zpyro.uri import URI

pytestmark = pytest.mark.timeout(30)

U1 = "PYRO:one@127.0.0.1:5001"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Setup:
    def __init__(self) -> None:
        self.clock = Clock()
        self.ns = NameServer(
            Registry(), MemoryStorage(), Announcer(lambda f: None), f"PYRO:{NAME}@h:1", self.clock
        )
        self.sent: list[tuple[bytes, Any]] = []
        self.waiting = Waiting(lambda client, frames: self.sent.append((client, frames)))

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """As the dispatcher runs a remote call: inside its current_context."""
        msg = wire.Message(wire.CALL, 0, wire.JSON_ID, 1, NAME, method)
        token = context.enter(context.CallInfo(b"client", msg))
        try:
            return getattr(self.ns, method)(*args, **kwargs)
        finally:
            context.leave(token)

    def park(self, coro: Any, client: bytes = b"client") -> list[Any]:
        """Park a waiting call; its outcome lands in the returned list as (result, error)."""
        outcome: list[Any] = []

        def finish(result: Any, error: BaseException | None) -> list[Any]:
            outcome.append((result, error))
            return [b"reply"]

        self.waiting.park(client, coro, finish)
        return outcome


@pytest.fixture
def setup() -> Iterator[Setup]:
    yield Setup()


def test_a_known_name_is_answered_at_once(setup: Setup) -> None:
    setup.ns.register("here", U1)
    assert setup.call("lookup", "here", delay_time=30) == URI(U1)
    assert setup.call("lookup", "here", True, 30) == (URI(U1), set())


def test_a_missing_name_waits_until_it_is_registered(setup: Setup) -> None:
    coro = setup.call("lookup", "late", delay_time=30)
    outcome = setup.park(coro)
    assert outcome == [] and len(setup.waiting) == 1
    assert setup.waiting.next_deadline() == 130.0
    setup.ns.register("other", U1)  # another name: it looks again and waits on
    setup.waiting.changed()
    assert outcome == [] and len(setup.waiting) == 1
    setup.clock.now += 5
    setup.ns.register("late", U1, metadata={"t"})
    setup.waiting.changed()
    assert outcome == [(URI(U1), None)]
    assert setup.sent == [(b"client", [b"reply"])]
    assert len(setup.waiting) == 0


def test_at_the_deadline_the_caller_hears_naming_error(setup: Setup) -> None:
    outcome = setup.park(setup.call("lookup", "never", delay_time=2.5))
    setup.waiting.expire(101.0)  # not yet due: still waiting
    assert outcome == []
    setup.clock.now = 102.5
    setup.waiting.expire(102.5)
    assert len(outcome) == 1 and outcome[0][0] is None
    assert isinstance(outcome[0][1], NamingError) and "never" in str(outcome[0][1])
    assert len(setup.waiting) == 0


def test_yplookup_waits_for_a_match_and_gives_up_empty(setup: Setup) -> None:
    found = setup.park(setup.call("yplookup", meta_all=["gpu"], delay_time=10))
    empty = setup.park(setup.call("yplookup", meta_any=["tpu"], delay_time=1))
    setup.ns.register("worker", U1, metadata={"gpu", "fast"})
    setup.waiting.changed()
    assert found == [({"worker": (U1, {"gpu", "fast"})}, None)]
    setup.clock.now += 1
    setup.waiting.expire(setup.clock.now)
    assert empty == [({}, None)]


def test_bad_delays_are_refused(setup: Setup) -> None:
    for bad in (-1, float("nan"), "soon"):
        with pytest.raises(NamingError, match="delay_time"):
            setup.call("lookup", "x", delay_time=bad)


def test_parked_calls_are_bounded(setup: Setup) -> None:
    small = Waiting(lambda client, frames: setup.sent.append((client, frames)), limit=2)
    setup.waiting = small
    first = setup.park(setup.call("lookup", "a", delay_time=9))
    second = setup.park(setup.call("lookup", "b", delay_time=9))
    third = setup.park(setup.call("lookup", "c", delay_time=9))
    assert first == second == [] and len(small) == 2
    assert len(third) == 1 and "too many lookups waiting" in str(third[0][1])


def test_closing_answers_every_parked_call(setup: Setup) -> None:
    outcomes = [setup.park(setup.call("lookup", f"n{i}", delay_time=9)) for i in range(3)]
    setup.waiting.close(DaemonError("going away"))
    assert [str(o[0][1]) for o in outcomes] == ["going away"] * 3
    assert len(setup.waiting) == 0


def test_a_coroutine_that_waits_for_something_else_is_refused(setup: Setup) -> None:
    async def odd() -> None:
        await Odd()

    class Odd:
        def __await__(self) -> Any:
            yield "not a NameChange"

    outcome = setup.park(odd())
    assert isinstance(outcome[0][1], DaemonError)
    assert isinstance(NameChange(1.0).deadline, float)


def test_a_direct_call_waits_on_the_condition(setup: Setup) -> None:
    """The in-process name server called directly (no dispatcher): the calling thread waits."""
    ns = NameServer(Registry(), MemoryStorage(), Announcer(lambda f: None), f"PYRO:{NAME}@h:1")
    answers: list[Any] = []
    asked = threading.Event()

    def ask() -> None:
        asked.set()
        answers.append(ns.lookup("late", delay_time=scaled(30)))

    thread = threading.Thread(target=ask)
    started = time.monotonic()
    thread.start()
    assert asked.wait(scaled(5))
    ns.register("late", U1)
    thread.join(scaled(10))
    assert answers == [URI(U1)]
    assert time.monotonic() - started < scaled(10)  # woken by the registration, not the delay
    with pytest.raises(NamingError):
        ns.lookup("never", delay_time=0.05)  # and the deadline still ends it
