"""Bounded pending calls per proxy: past MAX_PENDING_CALLS an explicit error, never unbounded RAM."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import scaled

import zpyro
from zpyro import errors

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class Gate:
    def __init__(self) -> None:
        self.open = threading.Event()

    def wait(self, n: int) -> int:
        assert self.open.wait(scaled(20)), "never opened"
        return n


def test_calls_past_the_bound_fail_clearly_and_the_proxy_recovers(served: Any) -> None:
    zpyro.config.MAX_PENDING_CALLS = 5
    gate = Gate()
    uri = served.register(gate, "limits.gate")
    with zpyro.asyncproxy(zpyro.Proxy(uri)) as p:
        waiting = [p.wait(i) for i in range(5)]  # the connection's five places, all taken
        extra = p.wait(99)
        with pytest.raises(errors.CommunicationError, match="MAX_PENDING_CALLS = 5"):
            extra.result(scaled(5))
        assert not any(f.done() for f in waiting)  # the others are not disturbed
        gate.open.set()
        assert [f.result(scaled(10)) for f in waiting] == [0, 1, 2, 3, 4]
        assert p.wait(7).result(scaled(10)) == 7  # room again


def test_a_blocking_call_past_the_bound_fails_at_once(served: Any) -> None:
    zpyro.config.MAX_PENDING_CALLS = 2
    gate = Gate()
    uri = served.register(gate, "limits.gate2")
    with zpyro.Proxy(uri) as p:
        p._pyroAsync(True)  # futures and plain calls on this one connection
        held = [p.wait(0), p.wait(1)]
        p._pyroAsync(False)
        with pytest.raises(errors.CommunicationError, match="MAX_PENDING_CALLS = 2"):
            p.wait(2)  # not a hang behind the others: an error right away
        gate.open.set()
        assert [f.result(scaled(10)) for f in held] == [0, 1]
        assert p.wait(3) == 3
