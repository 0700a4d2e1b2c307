"""The fast paths behind futures, asyncio, oneway and batches (issue 3), held to the slow ones.

* serpent: ``repr`` writes plain data, and a small reader reads simple documents; both must give
  exactly what serpent's writer and ``ast.literal_eval`` give, and fall back for the rest;
* batches travel by column (``[count, methods, arity, arguments, keywords]``);
* the connection hands the leader role to blocked threads in order, and expires futures by
  deadline without scanning every pending call;
* ``aio.Proxy`` delivers a burst of results with one wake-up of the loop;
* the daemon brings a method that only looked slow back from the worker pool.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import math
import threading
import time
import warnings
from typing import Any

import pytest
import serpent
from conftest import eventually, scaled, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zpyro
from zpyro import aio, errors, oob, serializers, wire
from zpyro.batch import CallQueue, read_calls
from zpyro.dispatch import Dispatcher
from zpyro.objects import ObjectRegistry
from zpyro.serializers import SERIALIZERS, get_serializer
from zpyro.serpent_text import HEADER, NotSimple, fast_loads
from zpyro.speedups import accelerator

pytestmark = pytest.mark.timeout(60)

SERPENT = get_serializer("serpent")


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down, dict order included; -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def reads_like_literal_eval(text: str) -> str:
    """'fast' when fast_loads read it (then exactly as literal_eval does), else 'fallback'.

    The C reader (zpyro/_speedups.c), when built, is held to the same: it reads what fast_loads
    reads (a header that is not ASCII aside: it leaves that to the Python reader), and gives
    exactly what literal_eval gives."""
    try:
        with warnings.catch_warnings():  # junk like "'\\T'": invalid escapes warn
            warnings.simplefilter("ignore")
            wanted: Any = ast.literal_eval(text)
        valid = True
    except Exception:
        valid = False
        wanted = None
    verdict = _python_reader(text, valid, wanted)
    if accelerator is not None:
        in_c = _c_reader(text, valid, wanted)
        header = text.split("\n", 1)[0] if text.startswith("#") else ""
        assert in_c == verdict or (verdict == "fast" and not header.isascii()), (text, in_c)
    return verdict


def _python_reader(text: str, valid: bool, wanted: Any) -> str:
    try:
        got = fast_loads(text)
    except NotSimple:
        return "fallback"
    except (ValueError, TypeError, OverflowError):
        assert not valid, f"fast reader failed on valid {text!r}"
        return "fallback"
    assert valid, f"fast reader accepted {text!r}, which literal_eval refuses"
    assert same(got, wanted), (text, got, wanted)
    return "fast"


def _c_reader(text: str, valid: bool, wanted: Any) -> str:
    try:
        got = accelerator.serpent_loads(text.encode("utf-8", "surrogatepass"))
    except (ValueError, TypeError, OverflowError):
        assert not valid, f"C reader failed on valid {text!r}"
        return "fallback"
    if got is NotImplemented:
        return "fallback"
    assert valid, f"C reader accepted {text!r}, which literal_eval refuses"
    assert same(got, wanted), (text, got, wanted)
    return "fast"


# ---- serpent: reading ------------------------------------------------------------------------

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
trees = st.recursive(
    leaves,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.tuples(kids)
        | st.tuples(kids, kids)
        | st.dictionaries(st.text(max_size=4) | st.integers(), kids, max_size=3)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=3).map(set)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=trees)
def test_reader_matches_literal_eval_on_serpent_and_repr_text(value: Any) -> None:
    for text in (
        repr(value),
        serpent.dumps(value, bytes_repr=True).decode(),
        serpent.dumps(value, bytes_repr=True, indent=True).decode(),
    ):
        reads_like_literal_eval(text)


TOKENS = list("[](){},:'\"b-+.eE0123456789 \t\n\r#\\xj_") + [
    "True",
    "None",
    "False",
    "1e5",
    "'a'",
    "b'x'",
    "\x00",
    "ä",
    "0x1",
    "-",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.lists(st.sampled_from(TOKENS), max_size=14).map("".join))
def test_reader_never_differs_from_literal_eval_on_junk(text: str) -> None:
    reads_like_literal_eval(text)


@pytest.mark.parametrize(
    "text",
    [
        "[(), {}]",
        "[(5,), {}]",
        "[1, 2, 3]",
        "(1)",
        "((1, 2),)",
        "{1: 2, 'a': [3, 4]}",
        "{1, 2}",
        "{}",
        "[-1, -0, 0.5, -0.0, 1e30000, 1.5e-07, True, False, None]",
        "b'raw bytes'",
        "['tab\there', \"it's\"]",
        "[1,]",
        HEADER + "[(1, 2), {'k': b''}]",
        "{(1, 2): 3}",
    ],
)
def test_reader_takes_the_common_shapes(text: str) -> None:
    assert reads_like_literal_eval(text) == "fast"


@pytest.mark.parametrize(
    "text",
    [
        "'esc\\'aped'",  # escapes: literal_eval knows best
        "1, 2",  # a bare tuple
        "[1 2]",
        "'a' 'b'",  # implicit concatenation
        "{1: 2, 3}",
        "set()",
        "1+2j",
        "0x10",
        "1_000",
        "[" * 150 + "]" * 150,  # deeper than the reader goes
        "# a comment\r[1]",
        HEADER + "\t[1]",  # an indented line after the header: literal_eval refuses it
        "# nul \x00 in a comment\n[1]",
        "[1] # trailing comment",
        "",
    ],
)
def test_reader_leaves_the_rest_to_serpent(text: str) -> None:
    assert reads_like_literal_eval(text) == "fallback"


def test_serpent_loads_still_reads_what_the_fast_reader_does_not() -> None:
    text = (HEADER + "['esc\\'aped', (1+2j), {1: set()}]").encode()
    assert SERPENT.loads(text) == ["esc'aped", 1 + 2j, {1: set()}]


def test_repeated_short_documents_come_back_as_fresh_copies() -> None:
    payload, _ = SERPENT.dumps([(), {}, [1]])
    first = SERPENT.loads(payload)
    first[1]["x"] = 1
    first[2].append(2)
    second = SERPENT.loads(payload)  # from the memo now
    assert second == [(), {}, [1]]
    assert second[1] is not first[1] and second[2] is not first[2]


def test_repeated_short_documents_still_become_registered_classes() -> None:
    class Tag:
        def __init__(self, name: str) -> None:
            self.name = name

    serializers.register_dict_to_class("t.Tag", lambda _, d: Tag(d["n"]))
    try:
        payload = (HEADER + "{'__class__': 't.Tag', 'n': 'a'}").encode()
        got = [SERPENT.loads(payload) for _ in range(3)]
        assert all(type(t) is Tag and t.name == "a" for t in got)
        assert len({id(t) for t in got}) == 3
    finally:
        serializers.unregister_dict_to_class("t.Tag")


def test_bad_serpent_is_still_a_serialize_error() -> None:
    for junk in (b"[1, 2", b"\xff\xfe", b"[1]\x00", b"{[1]: 2}", b"9" * 5000):
        with pytest.raises(errors.SerializeError, match="serpent"):
            SERPENT.loads(junk)


# ---- serpent and the others: writing plain data ----------------------------------------------

plain_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
plain_trees = st.recursive(
    plain_leaves,
    lambda kids: (
        st.lists(kids, max_size=5)
        | st.tuples(kids, kids)
        | st.dictionaries(st.text(max_size=4) | st.integers(-9, 9), kids, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=plain_trees)
def test_plain_data_is_written_as_serpent_writes_it(value: Any) -> None:
    assert oob.plain(value, serializers.OOB_THRESHOLD)
    payload, buffers = SERPENT.dumps(value)
    assert buffers == []
    assert payload.startswith(HEADER.encode())
    assert same(serpent.loads(payload), serpent.loads(serpent.dumps(value, bytes_repr=True)))
    assert same(SERPENT.loads(payload), serpent.loads(payload))


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        [1.0, float("inf")],
        {"s": {1, 2}},
        [bytearray(b"x")],
        (memoryview(b"y"),),
        [b"z" * serializers.OOB_THRESHOLD],
        {(1, 2): 3},  # tuple keys: serpent's writer
        {None: 1},
        [True, object()],
    ],
)
def test_data_that_is_not_plain_takes_the_general_path(value: Any) -> None:
    assert not oob.plain(value, serializers.OOB_THRESHOLD)


def test_cyclic_and_deep_data_are_not_plain() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert not oob.plain(cyclic, 100)
    deep: list[Any] = []
    for _ in range(150):
        deep = [deep]
    assert not oob.plain(deep, 100)
    assert SERPENT.loads(*SERPENT.dumps(deep)) == deep


def test_subclasses_of_plain_types_keep_their_serializer_behaviour() -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 1

    class Text(str):
        pass

    for value in ([Color.RED], [Text("t")]):
        assert not oob.plain(value, 100)
        for name in ("serpent", "json", "msgpack"):
            ser = SERIALIZERS[name]
            assert ser.dumps(value)[0] == ser._encode(value)  # the serializer's own writer
    assert SERPENT.loads(SERPENT.dumps([Color.RED])[0]) == [1]


# ---- batches by column -----------------------------------------------------------------------


def test_a_uniform_batch_is_stored_compactly() -> None:
    calls = CallQueue()
    for n in range(4):
        calls.add("echo", (n,), {})
    assert calls.body() == [4, "echo", 1, [0, 1, 2, 3], []]


def test_a_mixed_batch_keeps_one_entry_per_call() -> None:
    calls = CallQueue()
    calls.add("add", (1, 2), {})
    calls.add("greet", ("x",), {"greeting": "hi"})
    calls.add("ping", (), {})
    assert calls.body() == [
        3,
        ["add", "greet", "ping"],
        [2, 1, 0],
        [1, 2, "x"],
        [[1, {"greeting": "hi"}]],
    ]
    assert CallQueue().body() == [0, [], [], [], []]


@pytest.mark.parametrize(
    "body",
    [
        "calls",
        [1, "echo", 1, [1]],  # four fields
        [-1, "echo", 0, [], []],
        [True, "echo", 0, [], []],
        [2, ["a"], 0, [], []],
        [1, "echo", [1, 1], [1, 2], []],
        [1, "echo", -1, [], []],
        [2, "echo", 1, [1], []],  # one argument short
        [1, "echo", 0, [], [[1, {}]]],  # keyword index out of range
        [1, "echo", 0, [], [[0, {1: 2}]]],
        [1, "echo", 0, [], {"0": {}}],
    ],
)
def test_malformed_batches_are_protocol_errors(body: Any) -> None:
    with pytest.raises(errors.ProtocolError):
        read_calls(body)


@zpyro.expose
class Counter:
    def __init__(self) -> None:
        self.total = 0

    def add(self, n: int, times: int = 1) -> int:
        self.total += n * times
        return self.total

    def fail(self) -> None:
        raise KeyError("nope")

    @property
    def value(self) -> int:
        return self.total


def run_batch(body: Any, serializer: str = "serpent") -> Any:
    registry = ObjectRegistry()
    registry.add(Counter(), "counter")
    disp = Dispatcher(registry, {"serpent", "json", "msgpack"}, True, 1 << 30, 32768)
    ser = get_serializer(serializer)
    payload, _ = ser.dumps([[body], {}])
    request = wire.encode(wire.CALL, wire.FLAG_BATCH, ser.serializer_id, 3, "counter", "", payload)
    frames = disp.handle(b"me", wire.decode(request))
    assert isinstance(frames, list)
    msg = wire.decode(frames)
    return msg.kind, msg.flags, ser.loads(msg.payload)


@pytest.mark.parametrize("serializer", ["serpent", "json", "msgpack"])
def test_the_daemon_runs_a_columnar_batch(serializer: str) -> None:
    body = [4, ["add", "add", "__getattr__", "add"], [1, 2, 1, 1], [5, 1, 10, "value", 0], []]
    body[4] = [[3, {"times": 3}]]
    kind, flags, reply = run_batch(body, serializer)
    assert kind == wire.RESULT and flags & wire.FLAG_BATCH
    assert reply == [[5, 15, 15, 15], None]


def test_a_failing_call_ends_the_batch_with_its_error() -> None:
    kind, _, (values, error) = run_batch([3, ["add", "fail", "add"], [1, 0, 1], [1, 2], []])
    assert kind == wire.RESULT
    assert values == [1]
    assert isinstance(errors.payload_to_exception(error), KeyError)
    _, _, (values, error) = run_batch([2, ["add", "_private"], [1, 0], [1], []])
    assert values == [1] and "_private" in str(errors.payload_to_exception(error))


def test_a_malformed_batch_gets_an_error_reply() -> None:
    kind, _, body = run_batch([2, "add", 1, [1], []])
    assert kind == wire.ERROR
    assert isinstance(errors.payload_to_exception(body), errors.ProtocolError)


def test_many_calls_in_a_batch_over_a_socket() -> None:
    with serving() as served:
        uri = served.register(Counter(), "counter")
        with zpyro.Proxy(uri) as p:
            b = zpyro.BatchProxy(p)
            for _ in range(1000):
                b.add(1)
            b.add(1, times=5)
            results = list(b())
            assert results == [*range(1, 1001), 1005]


# ---- connection: hand-overs and deadlines ----------------------------------------------------


@zpyro.expose
class Sleeper:
    def nap(self, seconds: float, value: Any) -> Any:
        time.sleep(seconds)
        return value

    def echo(self, value: Any) -> Any:
        return value


@pytest.fixture
def sleeper() -> Any:
    with serving() as served:
        yield served.register(Sleeper(), "sleeper")


@pytest.mark.timeout(60)
def test_threads_and_futures_share_one_connection(sleeper: Any) -> None:
    """Blocked callers get the leader role (and their replies) while thousands of futures are
    outstanding on the same connection."""
    with zpyro.Proxy(sleeper) as p:
        p._pyroBind()
        a = zpyro.asyncproxy(copy.copy(p))
        a._pyroConnection = p._pyroConnection  # the same connection for both
        a._pyroMethods, a._pyroOneway = set(p._pyroMethods), set(p._pyroOneway)
        results: dict[int, list[Any]] = {}

        def caller(n: int) -> None:
            results[n] = [p.echo(f"{n}:{i}") for i in range(50)]

        futures = [a.echo(i) for i in range(2000)]
        threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        more = [a.echo(-i) for i in range(2000)]
        for t in threads:
            t.join(scaled(30))
        assert [f.result(scaled(30)) for f in futures] == list(range(2000))
        assert [f.result(scaled(30)) for f in more] == [-i for i in range(2000)]
        assert results == {n: [f"{n}:{i}" for i in range(50)] for n in range(4)}
        conn = p._pyroConnection
        assert not conn._calls.pending and not conn._calls.futures and not conn._calls.deadlines


def test_future_deadlines_expire_without_holding_up_the_rest(sleeper: Any) -> None:
    with zpyro.Proxy(sleeper) as p:
        a = zpyro.asyncproxy(p)
        a._pyroTimeout = 0.3
        slow = [a.nap(2.0, n) for n in range(2)]
        quick = [a.echo(n) for n in range(200)]
        assert [f.result(scaled(10)) for f in quick] == list(range(200))
        for f in slow:
            with pytest.raises(errors.TimeoutError):
                f.result(scaled(10))
        assert not a._pyroConnection._calls.deadlines


def test_a_caller_that_times_out_as_a_follower_leaves_the_connection_usable(sleeper: Any) -> None:
    with zpyro.Proxy(sleeper) as p:
        p._pyroBind()
        done = threading.Event()

        def long_call() -> None:
            p.nap(0.8, "long")  # leads the connection meanwhile
            done.set()

        leader = threading.Thread(target=long_call)
        leader.start()
        eventually(lambda: p._pyroConnection._pending, 5, "the long call in flight", pause=0.001)
        other = zpyro.Proxy(sleeper)
        other._pyroConnection = p._pyroConnection
        other._pyroMethods = set(p._pyroMethods)
        other._pyroTimeout = 0.1
        with pytest.raises(errors.TimeoutError):
            other.nap(0.5, "given up")  # a follower: waits for the leader, then gives up
        assert done.wait(scaled(5))
        leader.join(scaled(5))
        assert p.echo("still fine") == "still fine"  # nobody holds the leader role any more
        assert not p._pyroConnection._waiting


# ---- asyncio ---------------------------------------------------------------------------------


def test_aio_gather_delivers_bursts_with_few_loop_wakeups(sleeper: Any) -> None:
    """Replies that arrive while the loop is busy reach it in one wake-up, not one each.

    The loop is kept busy (blocked) until every reply has arrived, so the burst is certain
    whatever the machine's load: how replies trickle in otherwise depends on the scheduler."""

    async def main() -> tuple[list[Any], int, int]:
        loop = asyncio.get_running_loop()
        calls = 0
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        async with aio.Proxy(sleeper) as p:
            await p.echo(-1)  # connected, metadata known: the calls below are sent at once
            before = calls
            tasks = [asyncio.ensure_future(p.echo(n)) for n in range(1000)]
            await asyncio.sleep(0)  # each task runs to its await: all 1000 calls are out
            inbox = aio._inbox(loop)
            eventually(
                lambda: len(inbox._items) == 1000,
                scaled(20),
                lambda: f"{len(inbox._items)} of 1000 replies arrived",
            )  # (the loop is blocked meanwhile: every reply queues behind the first one's wake-up)
            results = await asyncio.gather(*tasks)
        return results, calls - before, len(inbox._items)

    results, wakeups, left = asyncio.run(main())
    assert results == list(range(1000))
    assert left == 0
    assert wakeups == 1  # the first reply woke the loop; the other 999 joined its burst


def test_aio_results_of_cancelled_calls_are_dropped(sleeper: Any) -> None:
    async def main() -> Any:
        async with aio.Proxy(sleeper) as p:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.nap(0.3, "late"), 0.05)
            return await asyncio.gather(p.echo(1), p.nap(0.35, 2))

    assert asyncio.run(main()) == [1, 2]


def test_a_batch_cannot_claim_more_calls_than_the_cap() -> None:
    from zpyro.batch import MAX_BATCH_CALLS, read_calls

    assert read_calls([3, "ping", 0, [], []])[0] == 3
    with pytest.raises(errors.ProtocolError, match="at most"):
        read_calls([MAX_BATCH_CALLS + 1, "ping", 0, [], []])  # no arguments bound the count


@pytest.mark.parametrize("text", ["0\n ", "0\n", "[1,\n 2]"])
def test_documents_with_line_breaks_are_left_to_serpent(text: str) -> None:
    from zpyro import serpent_text

    with pytest.raises(serpent_text.NotSimple):
        serpent_text.fast_loads(text)  # '0\n ' is even an IndentationError for literal_eval
