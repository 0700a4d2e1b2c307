"""The test harness itself: ``eventually`` and the ``no_zmq_leaks`` fixture, run on small test
files in a separate pytest process (so a leak there cannot fail this run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import eventually

pytestmark = pytest.mark.slow  # a pytest subprocess per test

HERE = Path(__file__).resolve().parent


def run_inner(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    """`source` as a test file beside this suite's conftest, in a fresh pytest process."""
    for helper in ("conftest.py", "zmq_leaks.py"):
        pytester.makefile(".py", **{helper[:-3]: (HERE / helper).read_text()})
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=120)


def test_eventually_returns_the_first_true_value() -> None:
    values = iter([0, None, [], "found"])
    assert eventually(lambda: next(values), 5, "a value", pause=0) == "found"


def test_eventually_fails_saying_what_it_waited_for(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        """
from conftest import eventually

def test_never() -> None:
    eventually(lambda: [], 0.2, lambda: "the list fills; it holds 0 items")
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*not within 0.2 s: the list fills; it holds 0 items (last value [])*"]
    )


LEAKY_TESTS = """
import zmq
import zpyro
from conftest import serving

KEPT = []

def test_a_socket_kept_open() -> None:
    KEPT.append(zmq.Context.instance().socket(zmq.DEALER))

def test_a_context_never_terminated() -> None:
    KEPT.append(zmq.Context())

def test_a_proxy_kept_connected() -> None:
    with serving() as served:
        proxy = zpyro.Proxy(served.register(zpyro.expose(type("Obj", (), {"f": lambda s: 1}))()))
        assert proxy.f() == 1
        KEPT.append(proxy)

def test_closed_and_collected_ones_are_fine() -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.close()
    ctx = zmq.Context()
    ctx.term()
    cycle = [zmq.Context.instance().socket(zmq.PAIR)]
    cycle.append(cycle)  # only the collector frees it (and closes the socket)
    with serving() as served:
        proxy = zpyro.Proxy(served.register(zpyro.expose(type("Obj", (), {"f": lambda s: 1}))()))
        assert proxy.f() == 1  # dropped unreleased: closed when collected

def test_a_failing_test_is_not_checked_again() -> None:
    KEPT.append(zmq.Context.instance().socket(zmq.DEALER))
    assert False, "failed on its own"
"""


def test_the_leak_fixture_fails_exactly_the_leaking_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZPYRO_TEST_TIMESCALE", "0.2")  # each leak is polled for 2 s, not 10
    result = run_inner(pytester, LEAKY_TESTS)
    result.assert_outcomes(passed=4, failed=1, errors=3)
    out = result.stdout.str()
    for name in ("a_socket_kept_open", "a_context_never_terminated", "a_proxy_kept_connected"):
        assert f"ERROR test_inner.py::test_{name}" in out
    assert "a DEALER socket (no endpoint) held by list" in out
    assert "<zmq.Context() at" in out and "not terminated, held by list" in out
    assert "a DEALER socket (tcp://127.0.0.1:" in out and "held by Connection (held by Proxy" in out
    assert "test_closed_and_collected_ones_are_fine" not in out.split("short test summary")[1]
