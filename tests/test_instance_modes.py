"""Instance modes of a registered *class*: ``@zpyro.behavior(instance_mode=..., instance_creator=...)``.

single: one instance for everyone; session: one per proxy connection, dropped when the proxy is
released or its client goes away; percall: a fresh one for every call.
"""

from __future__ import annotations

import concurrent.futures
import gc
import textwrap
import threading
import weakref
from typing import Any

import pytest
from conftest import PYTHON, ServedDaemon, eventually, scaled

import zpyro

pytestmark = pytest.mark.timeout(60)


class Counted:
    """Every instance numbers itself; `alive` counts the instances not yet garbage collected."""

    made = 0
    alive = 0
    lock = threading.Lock()  # the counters are bumped by finalizers in any thread

    def __init__(self, label: str = "plain") -> None:
        cls = type(self)
        with Counted.lock:
            cls.made += 1
            cls.alive += 1
            self.number = cls.made
        weakref.finalize(self, _collected, cls)
        self.label = label
        self.calls = 0

    @zpyro.expose
    def whoami(self) -> list[Any]:
        self.calls += 1
        return [self.number, self.calls]

    @zpyro.expose
    def label_of(self) -> str:
        return self.label

    @zpyro.expose
    async def whoami_async(self) -> list[Any]:
        return self.whoami()


def counted(mode: str, creator: Any = None) -> type:
    """A fresh exposed class with the given instance mode (fresh counters per test)."""
    cls = type(f"Counted_{mode}", (Counted,), {"made": 0, "alive": 0})
    return zpyro.behavior(instance_mode=mode, instance_creator=creator)(zpyro.expose(cls))


def test_single_one_instance_for_all_proxies(served: ServedDaemon) -> None:
    cls = counted("single")
    uri = served.register(cls, "modes.single")
    answers = []
    for _ in range(3):
        with zpyro.Proxy(uri) as p:
            answers += [p.whoami(), p.whoami()]
    assert [number for number, _ in answers] == [1] * 6
    assert [calls for _, calls in answers] == [1, 2, 3, 4, 5, 6]
    assert cls.made == 1


def test_session_one_instance_per_proxy(served: ServedDaemon) -> None:
    cls = counted("session")
    uri = served.register(cls, "modes.session")
    with zpyro.Proxy(uri) as a, zpyro.Proxy(uri) as b:
        assert a.whoami() == [1, 1]
        assert b.whoami() == [2, 1]
        assert a.whoami() == [1, 2]
        assert b.whoami() == [2, 2]
        assert cls.made == 2


def test_session_is_shared_by_the_threads_and_futures_of_one_proxy(served: ServedDaemon) -> None:
    cls = counted("session")
    uri = served.register(cls, "modes.session_threads")
    with zpyro.Proxy(uri) as p:
        numbers: set[int] = set()

        def call() -> None:
            for _ in range(20):
                numbers.add(p.whoami()[0])

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(10))
        p._pyroAsync()
        futures = [p.whoami_async() for _ in range(20)]
        concurrent.futures.wait(futures, timeout=scaled(10))
        numbers |= {f.result()[0] for f in futures}
    assert numbers == {1}
    assert cls.made == 1


def test_session_dropped_when_the_proxy_is_released(served: ServedDaemon) -> None:
    cls = counted("session")
    uri = served.register(cls, "modes.released")
    p = zpyro.Proxy(uri)
    assert p.whoami() == [1, 1]
    assert cls.alive == 1
    p._pyroRelease()
    wait_until_dropped(cls, 0)
    # the next call connects again: a new connection, a new session
    assert p.whoami() == [2, 1]
    with p:  # leaving the with-block releases it too
        assert p.whoami() == [2, 2]
    wait_until_dropped(cls, 0)


def test_session_dropped_when_an_aio_proxy_is_left(served: ServedDaemon) -> None:
    import asyncio

    from zpyro import aio

    cls = counted("session")
    uri = served.register(cls, "modes.aio")

    async def main() -> None:
        async with aio.Proxy(uri) as p:
            assert await p.whoami() == [1, 1]
            assert await p.whoami_async() == [1, 2]

    asyncio.run(main())
    wait_until_dropped(cls, 0)


def _collected(cls: Any) -> None:
    with Counted.lock:
        cls.alive -= 1


def wait_until_dropped(cls: Any, remaining: int, timeout: float = 5.0) -> None:
    """Wait (bounded) until the daemon has let go of all but `remaining` instances."""

    def dropped() -> bool:
        gc.collect()  # what the daemon let go of may still sit in a reference cycle
        return cls.alive <= remaining

    eventually(
        dropped,
        timeout,
        lambda: f"the daemon lets go of all but {remaining} instances; {cls.alive} alive",
        pause=0.05,
    )
    assert cls.alive == remaining, f"{cls.alive} instances alive, {remaining} expected"


def test_session_dropped_when_the_proxy_is_garbage_collected(served: ServedDaemon) -> None:
    cls = counted("session")
    uri = served.register(cls, "modes.collected")
    p = zpyro.Proxy(uri)
    assert p.whoami() == [1, 1]
    del p  # never released: dropped on the floor
    gc.collect()
    wait_until_dropped(cls, 0)


CLIENT = textwrap.dedent(
    """
    import sys
    import zpyro
    p = zpyro.Proxy(sys.argv[1])
    print("CALLED", p.whoami(), flush=True)
    sys.stdin.read()  # keeps its session until killed
    """
)


def test_session_dropped_when_its_client_process_dies(served: ServedDaemon, spawn: Any) -> None:
    cls = counted("session")
    uri = served.register(cls, "modes.vanishing")
    client = spawn([PYTHON, "-c", CLIENT, str(uri)])
    client.wait_for("CALLED")
    assert cls.alive == 1
    client.kill()
    wait_until_dropped(cls, 0, timeout=2.0)


def test_percall_a_fresh_instance_every_call(served: ServedDaemon) -> None:
    cls = counted("percall")
    uri = served.register(cls, "modes.percall")
    with zpyro.Proxy(uri) as p:
        assert [p.whoami() for _ in range(3)] == [[1, 1], [2, 1], [3, 1]]
        assert p.whoami_async() == [4, 1]
    assert cls.made == 4
    wait_until_dropped(cls, 0)  # nothing is kept after the call


@pytest.mark.parametrize("mode", ["single", "session", "percall"])
def test_instance_creator(served: ServedDaemon, mode: str) -> None:
    made_for: list[type] = []

    def creator(cls: type) -> Any:
        made_for.append(cls)
        return cls(label=f"made by creator for {cls.__name__}")

    cls = counted(mode, creator)
    uri = served.register(cls, f"modes.creator_{mode}")
    with zpyro.Proxy(uri) as a, zpyro.Proxy(uri) as b:
        labels = [a.label_of(), a.label_of(), b.label_of()]
    assert labels == [f"made by creator for {cls.__name__}"] * 3
    assert made_for == [cls] * {"single": 1, "session": 2, "percall": 3}[mode]


def test_default_mode_of_a_registered_class_is_session(served: ServedDaemon) -> None:
    cls = zpyro.expose(type("Plain", (Counted,), {"made": 0, "alive": 0}))
    uri = served.register(cls, "modes.default")
    with zpyro.Proxy(uri) as a, zpyro.Proxy(uri) as b:
        assert [a.whoami(), b.whoami(), a.whoami()] == [[1, 1], [2, 1], [1, 2]]


def test_a_registered_instance_is_shared_like_single(served: ServedDaemon) -> None:
    cls = counted("percall")  # the mode applies to classes; an instance is simply that one
    uri = served.register(cls(), "modes.instance")
    with zpyro.Proxy(uri) as a, zpyro.Proxy(uri) as b:
        assert [a.whoami(), b.whoami()] == [[1, 1], [1, 2]]


def test_creator_failure_reaches_the_caller(served: ServedDaemon) -> None:
    def creator(cls: type) -> Any:
        raise RuntimeError("no instance today")

    uri = served.register(counted("session", creator), "modes.failing")
    with zpyro.Proxy(uri) as p:
        with pytest.raises(RuntimeError, match="no instance today"):
            p.whoami()
