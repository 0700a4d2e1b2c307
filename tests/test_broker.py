"""Pools through a real broker: brokered daemons in their own processes, callers in this one.

Several daemons registering one name form a pool; the broker spreads calls over it, never gives a
daemon more calls at once than its capacity, queues the rest (bounded) and forwards frames
without deserializing them. Every call style looks the same as against a direct daemon.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from conftest import BrokerProcess, Worker, eventually, scaled, serving

import zpyro
from zpyro import aio
from zpyro.errors import DaemonError, NamingError, SerializeError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def pool_proxy(broker: BrokerProcess, name: str = "jobs") -> zpyro.Proxy:
    proxy = zpyro.Proxy(f"PYRONAME:{name}@{broker.host}:{broker.port}")
    proxy._pyroTimeout = scaled(20)  # a lost reply fails the test instead of hanging it
    return proxy


def results(futures: list[Any], timeout: float = 20) -> list[Any]:
    return [f.result(scaled(timeout)) for f in futures]


@pytest.fixture
def two(broker: BrokerProcess, start_worker: Any) -> list[Worker]:
    """Two workers in pool "jobs", capacity 2 each."""
    return [start_worker(broker), start_worker(broker)]


# -- a pool -------------------------------------------------------------------------------------


def test_daemons_registering_one_name_form_one_pool_and_share_the_calls(
    broker: BrokerProcess, start_worker: Any
) -> None:
    workers = [start_worker(broker) for _ in range(3)]
    pids = {w.pid for w in workers}
    ns = zpyro.locate_ns(broker.host, broker.port)
    assert ns.list(prefix="jobs") == {"jobs": f"PYRO:jobs@{broker.location}"}  # one name
    p = pool_proxy(broker)
    assert {p.whoami() for _ in range(12)} == pids  # sequential calls rotate over an idle pool
    a = zpyro.asyncproxy(copy.copy(p))  # all 30 pipelined over one connection
    answers = results([a.work(i, 0.05) for i in range(30)])
    assert [x for _, x in answers] == list(range(30))
    assert {pid for pid, _ in answers} == pids
    assert p._pyroTarget == zpyro.URI(f"PYRO:jobs@{broker.location}")


def test_a_daemon_never_runs_more_calls_at_once_than_its_capacity(
    broker: BrokerProcess, start_worker: Any
) -> None:
    start_worker(broker, "single", capacity=1)
    start_worker(broker, "pair", capacity=2)
    start_worker(broker, "pair", capacity=2)
    single, pair = pool_proxy(broker, "single"), pool_proxy(broker, "pair")
    a_single, a_pair = zpyro.asyncproxy(copy.copy(single)), zpyro.asyncproxy(copy.copy(pair))
    started = time.monotonic()
    on_single = [a_single.work(i, 0.1) for i in range(8)]
    on_pair = [a_pair.work(i, 0.05) for i in range(40)]  # 10x the capacity
    assert [x for _, x in results(on_single)] == list(range(8))
    assert time.monotonic() - started >= 0.75  # one at a time: 8 x 0.1 s
    assert [x for _, x in results(on_pair)] == list(range(40))
    assert single.concurrency() == 1
    seen = [pair.concurrency() for _ in range(6)]  # both daemons answer (the pool is idle)
    assert max(seen) == 2 and all(n <= 2 for n in seen)


def test_least_loaded_first_a_busy_daemon_gets_no_calls_until_it_has_room(
    broker: BrokerProcess, start_worker: Any
) -> None:
    slow = start_worker(broker)
    a = zpyro.asyncproxy(pool_proxy(broker))
    long_calls = [a.work(f"long{i}", 4.0) for i in range(2)]  # the first daemon is full
    fast = start_worker(broker)
    short = results([a.work(i, 0.05) for i in range(20)])
    assert not any(f.done() for f in long_calls), "the long calls ended: test premise broken"
    assert Counter(pid for pid, _ in short) == {fast.pid: 20}
    assert [x for pid, x in results(long_calls)] == ["long0", "long1"]
    assert {pid for pid, _ in results(long_calls)} == {slow.pid}


def test_beyond_max_queue_the_broker_answers_busy(start_broker: Any, start_worker: Any) -> None:
    broker = start_broker("--max-queue", "2")
    start_worker(broker, capacity=2)
    a = zpyro.asyncproxy(pool_proxy(broker))
    futures = [a.work(i, 1.0) for i in range(10)]  # 2 run, 2 wait, 6 refused at once
    outcome = []
    for f in futures:
        try:
            outcome.append(f.result(scaled(20))[1])
        except DaemonError as exc:
            assert "busy" in str(exc)
            outcome.append("busy")
    assert outcome == [0, 1, 2, 3] + ["busy"] * 6


def test_a_call_to_a_name_nobody_serves_is_a_daemon_error(
    broker: BrokerProcess, start_worker: Any
) -> None:
    with pytest.raises(DaemonError, match="no daemon serves it"):
        zpyro.Proxy(f"PYRO:nobody@{broker.location}").whoami()
    with pytest.raises(NamingError):
        pool_proxy(broker, "nobody").whoami()
    worker = start_worker(broker, "brief")
    p = pool_proxy(broker, "brief")
    assert p.whoami() == worker.pid
    worker.spawned.stop()  # BYE: the pool is gone, the proxy still holds its connection
    with pytest.raises(DaemonError, match="no daemon serves it"):
        p.whoami()


# -- calls through a pool look like direct calls ------------------------------------------------


def test_sync_calls_with_arguments_and_keywords(two: list[Worker], broker: BrokerProcess) -> None:
    p = pool_proxy(broker)
    value = {"a": [1, 2.5, "three", None, True], "b": (4, 5), "c": b"bytes"}
    pid, echoed = p.work(value)
    assert pid in {w.pid for w in two}
    assert echoed == value
    assert p.work(x="kw", seconds=0)[1] == "kw"
    assert p.square(12)[1] == 144


def test_futures_many_outstanding_on_one_proxy(two: list[Worker], broker: BrokerProcess) -> None:
    a = zpyro.asyncproxy(pool_proxy(broker))
    futures = [a.square(i, 0.02) for i in range(40)]
    assert [sq for _, sq in results(futures)] == [i * i for i in range(40)]
    f = a.work("then").then(lambda answer: answer[1].upper())
    assert f.wait(scaled(10)) and f.ready
    assert f.value == "THEN"


def test_a_batch_is_one_message_run_by_one_daemon(two: list[Worker], broker: BrokerProcess) -> None:
    b = zpyro.BatchProxy(pool_proxy(broker))
    b.whoami()
    b.square(7)
    b.fail()
    b.work("after")
    answers = b()
    pid = next(answers)
    assert pid in {w.pid for w in two}
    assert next(answers) == [pid, 49]
    with pytest.raises(ValueError, match="failed on purpose"):
        next(answers)
    b.whoami()
    b.square(3)
    future = b(asynchronous=True)
    pid2, square = list(future.result(scaled(10)))
    assert square == [pid2, 9]


def test_a_stream_of_thousands_of_items_through_the_broker(
    two: list[Worker], broker: BrokerProcess
) -> None:
    p = pool_proxy(broker)
    assert list(p.count(5000)) == list(range(5000))
    stream = p.count(1_000_000)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # frees the daemon's side; the pool is unaffected
    assert sum(p.count(1000)) == sum(range(1000))
    assert p.square(5)[1] == 25


def test_oneway_calls_run_and_free_their_slot(broker: BrokerProcess, start_worker: Any) -> None:
    start_worker(broker, capacity=1)
    p = pool_proxy(broker)
    p._pyroTimeout = scaled(5)
    started = time.monotonic()
    for i in range(20):
        assert p.note(i) is None
    assert time.monotonic() - started < scaled(5)  # nobody waited for them
    assert p.whoami() > 0  # had a oneway call kept its slot, this would wait forever
    eventually(
        lambda: sorted(p.noted()) == list(range(20)),
        10,
        lambda: f"all 20 oneway calls run: {p.noted()}",
    )


def test_oneway_calls_spread_over_a_pool(two: list[Worker], broker: BrokerProcess) -> None:
    p = pool_proxy(broker)
    for i in range(10):
        p.note(i)
    seen: set[Any] = set()

    def all_seen() -> bool:  # each noted() answer comes from one of the two daemons
        seen.update(p.noted())
        return seen == set(range(10))

    eventually(all_seen, 10, lambda: f"all 10 oneway calls run on the pool: {seen}", pause=0)


def test_asyncio_proxy_gathers_calls_through_the_pool(
    two: list[Worker], broker: BrokerProcess
) -> None:
    async def main() -> list[Any]:
        async with aio.Proxy(f"PYRO:jobs@{broker.location}") as p:
            return list(await asyncio.gather(*(p.work(i, 0.05) for i in range(16))))

    answers = asyncio.run(asyncio.wait_for(main(), scaled(20)))
    assert [x for _, x in answers] == list(range(16))
    assert {pid for pid, _ in answers} == {w.pid for w in two}


def test_remote_exceptions_keep_their_type_and_traceback(
    two: list[Worker], broker: BrokerProcess
) -> None:
    p = pool_proxy(broker)
    with pytest.raises(ValueError, match="failed on purpose") as info:
        p.fail()
    assert "raise ValueError" in "".join(zpyro.get_remote_traceback(info.value))
    with pytest.raises(AttributeError):
        p.no_such_method()
    with pytest.raises(TypeError):
        p.square()  # missing argument: raised by the daemon, rebuilt here
    assert p.square(2)[1] == 4


def test_pickle_goes_through_a_broker_that_refuses_pickle(
    start_broker: Any, start_worker: Any
) -> None:
    # the broker accepts only serpent and json for its own objects; the daemon opts into pickle
    broker = start_broker(env={"ZPYRO_SERIALIZERS_ACCEPTED": "serpent,json"})
    worker = start_worker(broker, env={"ZPYRO_SERIALIZERS_ACCEPTED": "serpent,pickle"})
    p = pool_proxy(broker)
    p._pyroSerializer = "pickle"
    pid, back = p.work(Fraction(1, 3))  # only pickle carries a Fraction as itself
    assert pid == worker.pid and back == Fraction(1, 3) and isinstance(back, Fraction)
    ns = zpyro.Proxy(broker.uri)
    ns._pyroSerializer = "pickle"
    with pytest.raises(SerializeError, match="pickle"):
        ns.count()  # the broker itself never loads a pickle


def test_twenty_megabytes_each_way(two: list[Worker], broker: BrokerProcess) -> None:
    big = os.urandom(20 * 1024 * 1024)
    p = pool_proxy(broker)
    pid, back = p.work(big)
    assert type(back) is bytes and back == big
    assert p.square(9)[1] == 81  # and small calls still flow


@zpyro.expose
class Settings:
    def __init__(self) -> None:
        self._level = 1

    @property
    def level(self) -> int:
        return self._level

    @level.setter
    def level(self, value: int) -> None:
        self._level = value

    @property
    def pid(self) -> int:
        return os.getpid()


def test_properties_through_the_broker(broker: BrokerProcess) -> None:
    with serving(broker=broker.endpoint) as served:  # a brokered daemon in this process
        served.register(Settings(), "settings")
        assert served.daemon.wait_attached(scaled(10))
        p = pool_proxy(broker, "settings")
        assert p.level == 1
        p.level = 5
        assert p.level == 5
        assert p.pid == os.getpid()
        with pytest.raises(AttributeError):
            p.pid = 3  # read-only
