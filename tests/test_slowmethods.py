"""zpyro/slowmethods.py on its own (durations as plain numbers), then the same rules seen from
outside a real daemon: which thread a method runs on."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import serving

import zpyro
from zpyro.slowmethods import FAST_CALL, FAST_STREAK, SLOW_CALL, SLOW_STREAK, SlowMethods

pytestmark = pytest.mark.timeout(60)

ECHO = ("obj", "echo")
ASYNC = ("obj", "later")
SLOW = SLOW_CALL * 2
FAST = FAST_CALL / 2


def methods() -> SlowMethods:
    return SlowMethods(lambda object_id, method: method == "later")


def test_only_async_methods_start_on_the_pool() -> None:
    slow = methods()
    assert slow.first_call(ECHO) is False and slow.first_call(ASYNC) is True
    assert slow.to_pool == {ECHO: False, ASYNC: True}


def test_it_takes_a_streak_of_slow_runs_to_go_to_the_pool() -> None:
    slow = methods()
    slow.first_call(ECHO)
    for _ in range(SLOW_STREAK - 1):
        slow.ran_inline(ECHO, SLOW, taken_over=False)
    assert slow.to_pool[ECHO] is False  # a busy machine may make a few runs look long
    slow.ran_inline(ECHO, FAST, taken_over=False)  # the streak is broken
    for _ in range(SLOW_STREAK - 1):
        slow.ran_inline(ECHO, SLOW, taken_over=False)
    assert slow.to_pool[ECHO] is False
    slow.ran_inline(ECHO, SLOW, taken_over=False)
    assert slow.to_pool[ECHO] is True


def test_a_takeover_is_proof_at_once() -> None:
    slow = methods()
    slow.first_call(ECHO)
    slow.ran_inline(ECHO, 0.0, taken_over=True)
    assert slow.to_pool[ECHO] is True


def test_a_method_that_only_looked_slow_comes_back_inline() -> None:
    slow = methods()
    slow.ran_inline(ECHO, 0.0, taken_over=True)
    for _ in range(FAST_STREAK - 1):
        slow.ran_pooled(ECHO, FAST)
    slow.ran_pooled(ECHO, FAST_CALL)  # one run not fast enough: the count starts again
    for _ in range(FAST_STREAK - 1):
        slow.ran_pooled(ECHO, FAST)
    assert slow.to_pool[ECHO] is True
    slow.ran_pooled(ECHO, FAST)
    assert slow.to_pool[ECHO] is False
    for _ in range(SLOW_STREAK - 1):  # and it needs a whole new streak to be sent away again
        slow.ran_inline(ECHO, SLOW, taken_over=False)
    assert slow.to_pool[ECHO] is False


def test_async_methods_and_the_daemon_object_are_never_moved() -> None:
    slow = methods()
    slow.first_call(ASYNC)
    for _ in range(FAST_STREAK * 2):
        slow.ran_pooled(ASYNC, 0.0)
    assert slow.to_pool[ASYNC] is True
    daemon_call = ("Pyro.Daemon", "get_metadata")
    slow.first_call(daemon_call)
    slow.ran_inline(daemon_call, 10.0, taken_over=True)
    assert slow.to_pool[daemon_call] is False


# -- the same, seen from outside: which thread runs the method -----------------------------------


@zpyro.expose
class Where:
    def quick(self) -> str:
        return threading.current_thread().name

    def nap(self, seconds: float) -> str:
        time.sleep(seconds)
        return threading.current_thread().name


def pooled(thread_name: str) -> bool:
    return thread_name.endswith("-worker")


def test_a_slow_method_moves_to_the_worker_pool_and_a_quick_one_stays_inline() -> None:
    with serving() as served, zpyro.Proxy(served.register(Where(), "where")) as p:
        names = [p.nap(SLOW_CALL * 5) for _ in range(SLOW_STREAK + 2)]
        assert not pooled(names[0])  # the first run is inline
        assert pooled(names[-1])  # learned slow: the pool from then on
        assert not pooled(p.quick())  # a method's first run is always inline
