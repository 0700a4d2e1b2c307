"""Calling objects the way a user does: a tcp daemon (127.0.0.1) serving in a thread, proxies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, ServedDaemon, scaled, serving

import zpyro
from zpyro import errors

pytestmark = pytest.mark.timeout(60)

PROGRAMS = Path(__file__).resolve().parent / "programs"
ALL_SERIALIZERS = ["serpent", "json", "msgpack", "marshal", "pickle"]
EVERY_SERIALIZER_ACCEPTED = frozenset(ALL_SERIALIZERS)


class CustomError(Exception):
    """Not registered with zpyro.errors.register_exception: arrives as RemoteError."""


@zpyro.expose
class Thing:
    def __init__(self) -> None:
        self._motto = "carpe diem"
        self._lock = threading.Lock()
        self._notes: list[Any] = []
        self.noted = threading.Event()
        self.slow_started = threading.Event()
        self.gate = threading.Event()  # what held() waits for
        self.other_uri = ""

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def greet(self, name: str, greeting: str = "Hello", punctuation: str = "!") -> str:
        return f"{greeting}, {name}{punctuation}"

    def echo(self, value: Any) -> Any:
        return value

    def type_names(self, *args: Any, **kwargs: Any) -> list[str]:
        return [type(a).__name__ for a in args] + [type(v).__name__ for v in kwargs.values()]

    @property
    def motto(self) -> str:
        return self._motto

    @motto.setter
    def motto(self, value: str) -> None:
        self._motto = value

    @property
    def version(self) -> str:
        return "1.0"

    @zpyro.oneway
    def record(self, value: Any) -> None:
        with self._lock:
            self._notes.append(value)
        self.noted.set()

    @zpyro.oneway
    def slow_record(self, seconds: float, value: Any) -> None:
        time.sleep(seconds)
        self.record(value)

    def note(self, value: Any) -> str:
        with self._lock:
            self._notes.append(value)
        self.noted.set()
        return "noted"

    def notes(self) -> list[Any]:
        with self._lock:
            return list(self._notes)

    def raise_builtin_here(self) -> None:
        raise ValueError("bad value", 42)

    def raise_custom_here(self) -> None:
        raise CustomError("something custom went wrong")

    def slow(self, seconds: float) -> float:
        self.slow_started.set()
        time.sleep(seconds)
        return seconds

    def held(self) -> str:
        """A call that lasts until the test opens the gate (bounded)."""
        self.slow_started.set()
        self.gate.wait(scaled(30))
        return "released"

    def long_call(self, seconds: float) -> str:
        self.slow_started.set()
        time.sleep(seconds)
        return "long done"

    def nap(self, seconds: float, tag: Any) -> Any:
        time.sleep(seconds)
        return tag

    def client_identity(self) -> bytes:
        client = zpyro.current_context.client_id
        assert isinstance(client, bytes)
        return client

    def use_proxy(self, proxy: Any) -> list[Any]:
        with proxy:
            return [type(proxy).__name__, isinstance(proxy, zpyro.Proxy), proxy.add(2, 3)]

    def give_proxy(self) -> Any:
        return zpyro.Proxy(self.other_uri)

    def _secret(self) -> str:
        return "never reachable"


@pytest.fixture
def thing(served: ServedDaemon) -> tuple[Thing, zpyro.URI]:
    obj = Thing()
    return obj, served.register(obj, "thing")


@pytest.fixture
def proxy(thing: tuple[Thing, zpyro.URI]) -> Iterator[zpyro.Proxy]:
    with zpyro.Proxy(thing[1]) as p:
        yield p


def _thread(target: Any, *args: Any) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


# -- plain calls ------------------------------------------------------------------------------


def test_method_call(proxy: zpyro.Proxy) -> None:
    assert proxy.add(2, 3) == 5
    assert proxy.add("ab", "cd") == "abcd"
    assert proxy.echo([1, "two", 3.0, None, True, {"k": [1, 2]}]) == [
        1,
        "two",
        3.0,
        None,
        True,
        {"k": [1, 2]},
    ]


def test_kwargs(proxy: zpyro.Proxy) -> None:
    assert proxy.greet("Irmen") == "Hello, Irmen!"
    assert proxy.greet("Irmen", greeting="Hi") == "Hi, Irmen!"
    assert proxy.greet(name="Irmen", punctuation="?", greeting="Hey") == "Hey, Irmen?"


def test_property_read_and_write(proxy: zpyro.Proxy, thing: tuple[Thing, zpyro.URI]) -> None:
    assert proxy.motto == "carpe diem"
    proxy.motto = "x"
    assert proxy.motto == "x"
    assert thing[0].motto == "x"  # really set on the server object
    assert proxy.version == "1.0"


def test_read_only_property_cannot_be_written(proxy: zpyro.Proxy) -> None:
    with pytest.raises(AttributeError, match="read-only"):
        proxy.version = "2.0"
    assert proxy.version == "1.0"


def test_private_member_unreachable(proxy: zpyro.Proxy) -> None:
    with pytest.raises(AttributeError):
        proxy._secret()
    with pytest.raises(AttributeError, match="_secret"):
        proxy._pyroInvoke("_secret", (), {})  # asking the daemon directly: refused there too


def test_unknown_method_is_local_attribute_error(proxy: zpyro.Proxy) -> None:
    assert proxy.add(1, 1) == 2  # metadata known
    with pytest.raises(AttributeError, match="no_such_method") as info:
        _ = proxy.no_such_method
    # raised by the proxy from the metadata, not by a round trip to the daemon
    assert errors.get_remote_traceback(info.value) == []
    assert "no exposed attribute or method" in str(info.value)
    assert proxy.add(1, 2) == 3  # still usable


# -- oneway ---------------------------------------------------------------------------------


def test_oneway_method(proxy: zpyro.Proxy, thing: tuple[Thing, zpyro.URI]) -> None:
    assert proxy.record("first") is None
    assert thing[0].noted.wait(scaled(5)), "oneway call never ran on the server"
    assert proxy.notes() == ["first"]


@pytest.mark.parametrize("metadata", ["fresh", "cached"])
def test_oneway_does_not_wait_for_the_method(thing: tuple[Thing, zpyro.URI], metadata: str) -> None:
    """A oneway call returns at once, also as a proxy's first call (fresh or cached metadata)."""
    obj, uri = thing
    if metadata == "cached":
        with zpyro.Proxy(uri) as first:  # another proxy for the same URI came before
            first._pyroBind()
    with zpyro.Proxy(uri) as p:
        if metadata == "fresh":
            p._pyroBind()
        started = time.perf_counter()
        assert p.slow_record(1.0, "late") is None
        elapsed = time.perf_counter() - started
        assert elapsed < 0.5, f"oneway call waited {elapsed:.2f}s for the method to finish"
        assert obj.noted.wait(scaled(5))
        assert p.notes() == ["late"]


def test_client_side_oneway(proxy: zpyro.Proxy, thing: tuple[Thing, zpyro.URI]) -> None:
    proxy._pyroOneway.add("note")
    proxy._pyroOneway.add("slow")
    assert proxy.note("from client") is None  # normally returns "noted"
    assert thing[0].noted.wait(scaled(5))
    started = time.perf_counter()
    assert proxy.slow(1.0) is None
    assert time.perf_counter() - started < 0.5
    assert proxy.notes() == ["from client"]


def test_client_side_oneway_marked_before_connecting(thing: tuple[Thing, zpyro.URI]) -> None:
    with zpyro.Proxy(thing[1]) as p:
        p._pyroOneway.add("note")
        assert p.note("early") is None
        assert thing[0].noted.wait(scaled(5))
        assert "note" in p._pyroOneway  # metadata did not wipe the user's marking
        assert p.notes() == ["early"]


# -- remote exceptions ----------------------------------------------------------------------


def test_builtin_exception_reraised(proxy: zpyro.Proxy) -> None:
    with pytest.raises(ValueError) as info:
        proxy.raise_builtin_here()
    assert type(info.value) is ValueError
    assert info.value.args == ("bad value", 42)
    tb = "".join(zpyro.get_remote_traceback(info.value))
    assert "raise_builtin_here" in tb
    assert "ValueError" in tb
    assert zpyro.get_remote_traceback(info.value) == errors.get_remote_traceback(info.value)
    assert proxy.add(1, 2) == 3  # the proxy is fine afterwards


def test_unregistered_custom_exception_is_remote_error(proxy: zpyro.Proxy) -> None:
    with pytest.raises(errors.RemoteError) as info:
        proxy.raise_custom_here()
    assert info.value.remote_type.endswith("CustomError")
    assert "something custom went wrong" in str(info.value)
    assert "raise_custom_here" in "".join(zpyro.get_remote_traceback(info.value))


def test_excepthook_prints_remote_traceback(
    proxy: zpyro.Proxy, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        proxy.raise_builtin_here()
    except ValueError as exc:
        errors.excepthook(type(exc), exc, exc.__traceback__)
        zpyro.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert err.count("Remote traceback") == 2
    assert "raise_builtin_here" in err
    assert "test_excepthook_prints_remote_traceback" in err  # the local part too
    assert "ValueError: ('bad value', 42)" in err


# -- timeouts -------------------------------------------------------------------------------


def test_timeout_then_proxy_still_usable(proxy: zpyro.Proxy) -> None:
    assert proxy.add(1, 1) == 2
    proxy._pyroTimeout = 0.3
    started = time.perf_counter()
    with pytest.raises(errors.TimeoutError) as info:
        proxy.slow(1.0)
    elapsed = time.perf_counter() - started
    assert 0.25 < elapsed < scaled(0.9)
    assert isinstance(info.value, TimeoutError)  # the builtin one too
    assert isinstance(info.value, errors.CommunicationError)
    # still usable, and the late reply of slow() is not mistaken for a newer call's
    assert proxy.echo("after the timeout") == "after the timeout"
    proxy._pyroTimeout = None
    assert proxy.slow(0.0) == 0.0
    assert proxy.add(2, 2) == 4


# -- serializers ----------------------------------------------------------------------------


@pytest.fixture(params=ALL_SERIALIZERS)
def any_serializer_proxy(request: pytest.FixtureRequest) -> Iterator[zpyro.Proxy]:
    with serving(serializers_accepted=EVERY_SERIALIZER_ACCEPTED) as s:
        uri = s.register(Thing(), "thing")
        with zpyro.Proxy(uri) as p:
            p._pyroSerializer = request.param
            yield p


def test_each_serializer(any_serializer_proxy: zpyro.Proxy) -> None:
    p = any_serializer_proxy
    assert p.add(40, 2) == 42
    assert p.greet("Irmen", greeting="Hi") == "Hi, Irmen!"
    assert p.echo({"a": [1, 2.5, "x", None, True]}) == {"a": [1, 2.5, "x", None, True]}
    assert p.motto == "carpe diem"
    with pytest.raises(ValueError, match="bad value"):
        p.raise_builtin_here()


def test_default_daemon_serializers(served: ServedDaemon) -> None:
    uri = served.register(Thing(), "thing")
    for name in ("serpent", "json", "msgpack"):
        with zpyro.Proxy(uri) as p:
            p._pyroSerializer = name
            assert p.add(1, 2) == 3


@pytest.mark.parametrize("name", ["pickle", "marshal"])
def test_refused_serializer(served: ServedDaemon, name: str) -> None:
    uri = served.register(Thing(), "thing")
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = name
        with pytest.raises(errors.SerializeError, match=name):
            p.add(1, 2)
        p._pyroSerializer = "serpent"
        assert p.add(1, 2) == 3  # the daemon keeps serving the same proxy


@pytest.mark.parametrize("size", [10, 5 * 1024 * 1024], ids=["small", "5MB"])
def test_bytes_arrive_as_bytes(any_serializer_proxy: zpyro.Proxy, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"\x00\xff"[: size % 256]
    result = any_serializer_proxy.echo(data)
    assert type(result) is bytes
    assert result == data
    nested = any_serializer_proxy.echo([data, {"k": data}])
    assert type(nested[0]) is bytes and nested[0] == data
    assert type(nested[1]["k"]) is bytes and nested[1]["k"] == data


@pytest.mark.parametrize("size", [10, 100_000], ids=["small", "large"])
def test_bytearray_and_memoryview_arrive_as_bytes(
    any_serializer_proxy: zpyro.Proxy, size: int
) -> None:
    raw = b"z" * size
    p = any_serializer_proxy
    assert p.type_names(bytearray(raw), memoryview(raw), raw) == ["bytes", "bytes", "bytes"]
    assert p.type_names(data=bytearray(raw)) == ["bytes"]
    got = p.echo(bytearray(raw))
    assert type(got) is bytes and got == raw
    got = p.echo(memoryview(raw))
    assert type(got) is bytes and got == raw


# -- message size -----------------------------------------------------------------------------


def test_message_too_large_refused_locally() -> None:
    with serving(max_message_size=100_000) as s:
        uri = s.register(Thing(), "thing")
        with zpyro.Proxy(uri) as p, zpyro.Proxy(uri) as other:
            assert p.echo(b"x" * 50_000) == b"x" * 50_000  # under the limit: fine
            for big in (b"x" * 200_000, "y" * 200_000):
                with pytest.raises(errors.MessageTooLargeError):
                    p.echo(big)
            assert other.add(1, 2) == 3  # the daemon serves others
            assert p.add(3, 4) == 7  # and this proxy too


def test_a_limit_from_the_metadata_cache_is_checked_before_a_big_call() -> None:
    """Issue 11 item 5: a daemon with a smaller limit on an address where another daemon served
    the same object id seconds ago (a port reused while the suite runs, or a restart with new
    settings). The proxy's cached metadata carries the old daemon's limit; trusting it, the proxy
    sent 200 kB, the new daemon's libzmq dropped the connection for the frame far over its
    limit, and the caller got ConnectionClosedError instead of MessageTooLargeError."""
    with serving() as s:
        uri = s.register(Thing(), "thing")
        with zpyro.Proxy(uri) as p:
            assert p.add(1, 2) == 3  # caches the metadata of PYRO:thing@127.0.0.1:PORT
    with serving(port=uri.port, max_message_size=100_000) as s:
        assert s.register(Thing(), "thing") == uri  # the same URI, another daemon
        with zpyro.Proxy(uri) as p:
            for big in (b"x" * 200_000, "y" * 200_000):
                with pytest.raises(errors.MessageTooLargeError, match="limit of 100000"):
                    p.echo(big)
            assert p.echo(b"x" * 50_000) == b"x" * 50_000


def test_serializers_from_the_metadata_cache_are_checked_before_refusing_one() -> None:
    """The same reused address, with the accepted serializers: a proxy that chose pickle must
    not refuse it because of a list cached from the daemon that served there before."""
    with serving(serializers_accepted={"serpent", "json"}) as s:
        uri = s.register(Thing(), "thing")
        with zpyro.Proxy(uri) as p:
            assert p.add(1, 2) == 3  # caches: this daemon does not accept pickle
    with serving(port=uri.port, serializers_accepted={"serpent", "pickle"}) as s:
        assert s.register(Thing(), "thing") == uri  # the same URI, another daemon
        with zpyro.Proxy(uri) as p:
            p._pyroSerializer = "pickle"
            assert p.echo(bytearray(b"z" * 100)) == b"z" * 100


# -- concurrency ------------------------------------------------------------------------------


def test_many_threads_through_one_proxy(proxy: zpyro.Proxy) -> None:
    threads, calls = 16, 200
    failures: list[str] = []
    done = [0] * threads

    def work(tid: int) -> None:
        try:
            for i in range(calls):
                expected = f"t{tid}-c{i}"
                got = proxy.echo(expected)
                if got != expected:
                    failures.append(f"thread {tid} call {i}: got {got!r}")
                    return
                if proxy.add(tid * 100_000, i) != tid * 100_000 + i:
                    failures.append(f"thread {tid} call {i}: wrong sum")
                    return
                done[tid] += 1
        except Exception as exc:  # reported below
            failures.append(f"thread {tid}: {exc!r}")

    workers = [_thread(work, tid) for tid in range(threads)]
    for t in workers:
        t.join(scaled(45))
    assert not any(t.is_alive() for t in workers), "calls hung"
    assert failures == []
    assert done == [calls] * threads


def test_slow_call_does_not_delay_fast_calls_on_same_proxy(
    proxy: zpyro.Proxy, thing: tuple[Thing, zpyro.URI]
) -> None:
    assert proxy.add(0, 0) == 0
    held: list[str] = []
    t = _thread(lambda: held.append(proxy.held()))  # lasts until the gate opens
    assert thing[0].slow_started.wait(scaled(5))
    fast_done: list[int] = []

    def fast(tid: int) -> None:
        for i in range(5):
            assert proxy.add(tid, i) == tid + i
        fast_done.append(tid)

    try:
        fast_threads = [_thread(fast, tid) for tid in range(4)]
        for ft in fast_threads:
            ft.join(scaled(10))
        # all fast calls answered while the slow one still runs (no timing: it waits for us)
        assert sorted(fast_done) == [0, 1, 2, 3]
        assert held == []
    finally:
        thing[0].gate.set()
    t.join(scaled(10))
    assert held == ["released"]


def test_long_call_never_blocks_other_callers(
    thing: tuple[Thing, zpyro.URI],
) -> None:
    obj, uri = thing
    result: list[str] = []
    with zpyro.Proxy(uri) as long_proxy:
        t = _thread(lambda: result.append(long_proxy.long_call(2.0)))
        assert obj.slow_started.wait(scaled(5))
        latencies = []
        for i in range(10):
            with zpyro.Proxy(uri) as other:
                started = time.perf_counter()
                assert other.add(i, 1) == i + 1
                latencies.append(time.perf_counter() - started)
        assert t.is_alive(), "the long call should still be running"
        assert max(latencies) < 0.5, latencies
        t.join(scaled(5))
    assert result == ["long done"]


@pytest.mark.parametrize("shared", [True, False], ids=["one-proxy", "own-proxies"])
def test_concurrent_slow_calls_run_in_parallel(
    thing: tuple[Thing, zpyro.URI], shared: bool
) -> None:
    uri = thing[1]
    count, seconds = 20, 0.3
    results: list[Any] = []
    shared_proxy = zpyro.Proxy(uri)

    def call(i: int) -> None:
        if shared:
            results.append(shared_proxy.nap(seconds, i))
        else:
            with zpyro.Proxy(uri) as p:
                results.append(p.nap(seconds, i))

    shared_proxy._pyroBind()
    started = time.perf_counter()
    workers = [_thread(call, i) for i in range(count)]
    for t in workers:
        t.join(scaled(10))
    elapsed = time.perf_counter() - started
    shared_proxy._pyroRelease()
    assert sorted(results) == list(range(count))
    assert elapsed < 2.0, f"{count} calls of {seconds}s took {elapsed:.2f}s"


# -- connection management ------------------------------------------------------------------


def test_bind_release_and_call_again(thing: tuple[Thing, zpyro.URI]) -> None:
    p = zpyro.Proxy(thing[1])
    assert "not connected" in repr(p)
    assert p._pyroBind() is True
    assert "; connected" in repr(p)
    assert p.add(1, 2) == 3
    p._pyroRelease()
    assert "not connected" in repr(p)
    assert p.add(2, 3) == 5  # connects again by itself
    p._pyroRelease()
    p._pyroRelease()  # releasing twice is harmless


def test_proxy_context_manager_releases(thing: tuple[Thing, zpyro.URI]) -> None:
    with zpyro.Proxy(thing[1]) as p:
        assert p.add(1, 2) == 3
        assert "; connected" in repr(p)
    assert "not connected" in repr(p)
    assert p.add(1, 1) == 2  # usable again after the with block


@pytest.mark.parametrize("serializer", ["serpent", "json", "msgpack"])
def test_proxy_as_argument_and_result(served: ServedDaemon, serializer: str) -> None:
    obj, other = Thing(), Thing()
    uri = served.register(obj, "thing")
    obj.other_uri = str(served.register(other, "other"))
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = serializer
        # a proxy passed as an argument arrives as a working Proxy
        assert p.use_proxy(zpyro.Proxy(obj.other_uri)) == ["Proxy", True, 5]
        # and a returned proxy too
        returned = p.give_proxy()
        assert isinstance(returned, zpyro.Proxy)
        assert returned._pyroUri == zpyro.URI(obj.other_uri)
        with returned:
            returned.note("via returned proxy")
        assert other.notes() == ["via returned proxy"]


def test_daemon_context_manager() -> None:
    with zpyro.Daemon(host="127.0.0.1") as daemon:
        uri = daemon.register(Thing(), "thing")
        loop = _thread(daemon.request_loop)
        with zpyro.Proxy(uri) as p:
            assert p.add(1, 2) == 3
    loop.join(scaled(5))
    assert not loop.is_alive(), "leaving the with block stops the request loop"
    with pytest.raises(errors.DaemonError):
        daemon.register(Thing(), "again")


# -- instance modes, context, loop condition ---------------------------------------------------


@zpyro.behavior(instance_mode="single")
@zpyro.expose
class Single:
    created = 0

    def __init__(self) -> None:
        type(self).created += 1
        self.count = 0

    def increment(self) -> int:
        self.count += 1
        return self.count

    def identity(self) -> int:
        return id(self)


@zpyro.behavior(instance_mode="session")
@zpyro.expose
class PerSession:
    def identity(self) -> int:
        return id(self)


def test_register_class_single_instance(served: ServedDaemon) -> None:
    Single.created = 0
    uri = served.register(Single, "single")
    with zpyro.Proxy(uri) as a, zpyro.Proxy(uri) as b:
        assert a.increment() == 1
        assert b.increment() == 2
        assert a.increment() == 3
        assert a.identity() == b.identity()
    assert Single.created == 1


def test_register_class_session_instances(served: ServedDaemon) -> None:
    uri = served.register(PerSession, "session")
    with zpyro.Proxy(uri) as a, zpyro.Proxy(uri) as b:
        assert a.identity() == a.identity()
        assert a.identity() != b.identity()


def test_current_context_client(thing: tuple[Thing, zpyro.URI]) -> None:
    with zpyro.Proxy(thing[1]) as a, zpyro.Proxy(thing[1]) as b:
        first = a.client_identity()
        assert isinstance(first, bytes) and first
        assert a.client_identity() == first
        assert b.client_identity() != first
    assert zpyro.current_context.client is None  # outside a call


def test_request_loop_condition() -> None:
    keep_going = threading.Event()
    keep_going.set()
    with zpyro.Daemon(host="127.0.0.1") as daemon:
        uri = daemon.register(Thing(), "thing")
        loop = _thread(lambda: daemon.request_loop(loop_condition=keep_going.is_set))
        with zpyro.Proxy(uri) as p:
            assert p.add(1, 2) == 3
        keep_going.clear()
        loop.join(scaled(3))
        assert not loop.is_alive(), "request_loop did not return when the condition turned false"


def test_request_loop_condition_after_long_call() -> None:
    """Also when another thread took the sockets over during a long call."""
    keep_going = threading.Event()
    keep_going.set()
    obj = Thing()
    with zpyro.Daemon(host="127.0.0.1") as daemon:
        uri = daemon.register(obj, "thing")
        loop = _thread(lambda: daemon.requestLoop(loop_condition=keep_going.is_set))
        with zpyro.Proxy(uri) as p:
            assert p.slow(0.2) == 0.2
            assert p.add(1, 2) == 3
        keep_going.clear()
        loop.join(scaled(3))
        assert not loop.is_alive(), "request_loop did not return when the condition turned false"


def test_thousand_idle_proxies(thing: tuple[Thing, zpyro.URI]) -> None:
    uri = thing[1]
    threads_before = threading.active_count()
    proxies: list[zpyro.Proxy] = []
    try:
        for i in range(1000):
            p = zpyro.Proxy(uri)
            proxies.append(p)
            assert p.add(i, 1) == i + 1
        grown = threading.active_count() - threads_before
        assert grown < 10, f"{grown} threads more for 1000 idle proxies"
        with zpyro.Proxy(uri) as fresh:
            started = time.perf_counter()
            assert fresh.add(1, 2) == 3
            assert time.perf_counter() - started < 0.5
        started = time.perf_counter()
        assert proxies[0].add(5, 5) == 10  # an old idle one still works
        assert proxies[-1].add(6, 6) == 12
        assert time.perf_counter() - started < 0.5
    finally:
        for p in proxies:
            p._pyroRelease()


def test_thousand_idle_proxies_in_another_process(
    thing: tuple[Thing, zpyro.URI], spawn: Any
) -> None:
    """The daemon side alone: 1000 idle peers cost it no threads and no responsiveness."""
    uri = thing[1]
    with zpyro.Proxy(uri) as warm:
        assert warm.add(0, 0) == 0  # the request loop's own threads are running already
    threads_before = threading.active_count()
    clients = spawn([PYTHON, str(PROGRAMS / "idle_clients.py"), str(uri), "1000"])
    assert clients.wait_for("CONNECTED", timeout=40).split() == ["CONNECTED", "1000"]
    grown = threading.active_count() - threads_before
    assert grown < 10, f"{grown} daemon threads more for 1000 idle proxies"
    with zpyro.Proxy(uri) as fresh:
        started = time.perf_counter()
        assert fresh.add(1, 2) == 3
        assert time.perf_counter() - started < 0.5
    assert clients.proc.stdin is not None
    clients.proc.stdin.write("quit\n")
    clients.proc.stdin.flush()
    clients.wait_for("RELEASED")
    assert clients.proc.wait(scaled(10)) == 0
