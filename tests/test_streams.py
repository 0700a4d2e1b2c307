"""Streaming: a remote generator/iterator arrives as a local iterator fetched lazily in chunks."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServedDaemon, scaled, serving

import zpyro
from zpyro import errors
from zpyro.streams import CHUNK_ITEMS, RemoteIterator

pytestmark = pytest.mark.timeout(60)

ALL_SERIALIZERS = ["serpent", "json", "msgpack", "marshal", "pickle"]


class Words:
    """A hand-written iterator (not a generator): streams as well."""

    def __init__(self, text: str) -> None:
        self._words = text.split()

    def __iter__(self) -> Words:
        return self

    def __next__(self) -> str:
        if not self._words:
            raise StopIteration
        return self._words.pop(0)


@zpyro.expose
class Streamer:
    def __init__(self) -> None:
        self.produced = 0  # items the last count() generator has yielded so far
        self.closed = threading.Event()  # a generator's finally ran
        self.chunk_requests = 0  # counted by a wrapper around the daemon's stream_next

    def count(self, n: int) -> Iterator[int]:
        self.produced = 0
        try:
            for i in range(n):
                self.produced = i + 1
                yield i
        finally:
            self.closed.set()

    def endless(self) -> Iterator[int]:
        try:
            yield from itertools.count()
        finally:
            self.closed.set()

    def failing(self, good: int) -> Iterator[int]:
        yield from range(good)
        raise ValueError(f"broke after {good} items")

    def failing_at_once(self) -> Iterator[int]:
        raise KeyError("nothing at all")
        yield 0  # pragma: no cover - makes this a generator

    def words(self, text: str) -> Any:
        return Words(text)

    def builtin_iterator(self, n: int) -> Any:
        return iter(range(n))

    def text(self) -> str:
        return "a string is a value, not a stream"

    def payloads(self, n: int, size: int) -> Iterator[str]:
        for i in range(n):
            yield f"{i:08d}".ljust(size, "x")


@pytest.fixture
def streamer() -> Iterator[tuple[ServedDaemon, Streamer, zpyro.URI]]:
    with serving(serializers_accepted=frozenset(ALL_SERIALIZERS)) as served:
        obj = Streamer()
        count_chunk_requests(served.daemon, obj)
        yield served, obj, served.register(obj, "streams.streamer")


def count_chunk_requests(daemon: zpyro.Daemon, obj: Streamer) -> None:
    daemon_object = daemon.registry.resolve("Pyro.Daemon", b"")
    original = daemon_object.stream_next

    def stream_next(stream_id: str) -> Any:
        obj.chunk_requests += 1
        return original(stream_id)

    daemon_object.stream_next = stream_next


def streams_open(served: ServedDaemon) -> int:
    return len(served.daemon.dispatcher.streams)


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS)
def test_generator_arrives_as_an_iterator(streamer: Any, serializer: str) -> None:
    _, _, uri = streamer
    with zpyro.Proxy(uri) as p:
        p._pyroSerializer = serializer
        squares = p.count(10)
        assert isinstance(squares, RemoteIterator)
        assert iter(squares) is squares
        assert list(squares) == list(range(10))
        assert list(squares) == []  # used up, like any iterator
        assert list(p.count(1000)) == list(range(1000))


def test_any_iterator_streams_but_strings_do_not(streamer: Any) -> None:
    _, _, uri = streamer
    with zpyro.Proxy(uri) as p:
        assert list(p.words("the quick brown fox")) == ["the", "quick", "brown", "fox"]
        assert list(p.builtin_iterator(450)) == list(range(450))
        assert p.text() == "a string is a value, not a stream"
        assert list(p.count(0)) == []


def test_items_are_fetched_lazily_a_chunk_per_round_trip(streamer: Any) -> None:
    served, obj, uri = streamer
    with zpyro.Proxy(uri) as p:
        it = p.count(1000)
        # the call's reply carried what was there (at least one item); meanwhile the daemon
        # makes at most one chunk more, then the generator waits
        first = len(it._items)
        assert 1 <= first <= CHUNK_ITEMS and obj.chunk_requests == 0
        deadline = time.monotonic() + scaled(5)
        while obj.produced < min(first + CHUNK_ITEMS, 1000) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # (time to overshoot, if it would)
        assert obj.produced == first + CHUNK_ITEMS
        assert [next(it) for _ in range(first)] == list(range(first))
        assert obj.chunk_requests == 0
        assert next(it) == first  # runs dry: one round trip fetches what the daemon has
        assert obj.chunk_requests == 1
        assert list(it) == list(range(first + 1, 1000))
        # a fast generator keeps ahead of the fetches: chunks are full, not an item each
        assert obj.chunk_requests <= 3 * 1000 // CHUNK_ITEMS
        assert streams_open(served) == 0  # finished streams are gone from the daemon


def test_exception_mid_stream_comes_after_the_items_before_it(streamer: Any) -> None:
    served, _, uri = streamer
    with zpyro.Proxy(uri) as p:
        for good in (0, 5, CHUNK_ITEMS, 450):
            it = p.failing(good)
            received = []
            with pytest.raises(ValueError, match=f"broke after {good} items") as raised:
                for item in it:
                    received.append(item)
            assert received == list(range(good))
            assert "ValueError" in "".join(zpyro.get_remote_traceback(raised.value))
            with pytest.raises(StopIteration):
                next(it)  # raised once; then the stream is over
        with pytest.raises(KeyError):
            list(p.failing_at_once())
        assert streams_open(served) == 0


def test_closing_the_iterator_frees_the_generator(streamer: Any) -> None:
    served, obj, uri = streamer
    with zpyro.Proxy(uri) as p:
        it = p.endless()
        assert list(itertools.islice(it, 450)) == list(range(450))
        assert streams_open(served) == 1
        it.close()
        assert obj.closed.wait(scaled(5))  # the generator's finally ran in the server
        assert streams_open(served) == 0
        with pytest.raises(StopIteration):
            next(it)
        it.close()  # closing twice is harmless


def test_dropping_the_iterator_frees_the_generator(streamer: Any) -> None:
    served, obj, uri = streamer
    with zpyro.Proxy(uri) as p:
        it = p.endless()
        assert next(it) == 0
        del it
        gc.collect()
        assert obj.closed.wait(scaled(5))
        assert streams_open(served) == 0
        assert p.text()  # the proxy goes on working


def test_releasing_the_proxy_frees_its_streams(streamer: Any) -> None:
    served, obj, uri = streamer
    p = zpyro.Proxy(uri)
    it = p.endless()
    assert next(it) == 0
    p._pyroRelease()
    assert obj.closed.wait(scaled(5))
    assert streams_open(served) == 0
    del it


def test_a_stream_belongs_to_its_caller(streamer: Any) -> None:
    _, _, uri = streamer
    with zpyro.Proxy(uri) as p, zpyro.Proxy(uri) as other:
        it = p.endless()
        with pytest.raises(errors.ZPyroError, match="unknown, closed or expired"):
            other._pyroDaemonCall("stream_next", it._stream_id)
        assert next(it) == 0
        it.close()


def test_abandoned_stream_is_reclaimed_after_the_linger_time() -> None:
    zpyro.config.ITER_STREAM_LINGER = 0.3
    with serving() as served:
        obj = Streamer()
        uri = served.register(obj, "streams.linger")
        with zpyro.Proxy(uri) as p:
            it = p.endless()  # kept, but never read from again
            assert next(it) == 0
            assert obj.closed.wait(scaled(5))  # the daemon's sweep closed it
            assert streams_open(served) == 0
            list(itertools.islice(it, CHUNK_ITEMS - 1))  # what had arrived is still there
            with pytest.raises(errors.ZPyroError, match="unknown, closed or expired"):
                next(it)


def test_stream_in_use_is_kept_while_it_is_read() -> None:
    zpyro.config.ITER_STREAM_LINGER = 0.5
    with serving() as served:
        obj = Streamer()
        uri = served.register(obj, "streams.kept")
        with zpyro.Proxy(uri) as p:
            it = p.endless()
            deadline = time.monotonic() + 1.5  # three linger times
            while time.monotonic() < deadline:
                next(it)  # fetches a chunk about every 200 items: never idle for long
                time.sleep(0.0005)
            assert not obj.closed.is_set()
            it.close()
            assert obj.closed.wait(scaled(5))


def test_stream_is_reclaimed_after_its_lifetime_even_when_used() -> None:
    zpyro.config.ITER_STREAM_LIFETIME = 0.4
    zpyro.config.ITER_STREAM_LINGER = 0  # no idle limit: only the lifetime counts
    with serving() as served:
        obj = Streamer()
        uri = served.register(obj, "streams.lifetime")
        with zpyro.Proxy(uri) as p:
            it = p.endless()
            with pytest.raises(errors.ZPyroError, match="unknown, closed or expired"):
                deadline = time.monotonic() + scaled(10)
                while time.monotonic() < deadline:
                    next(it)
                    time.sleep(0.0005)
            assert obj.closed.wait(scaled(5))
            assert streams_open(served) == 0


def test_streaming_off_gives_an_error_instead() -> None:
    zpyro.config.ITER_STREAMING = False
    with serving() as served:
        uri = served.register(Streamer(), "streams.off")
        with zpyro.Proxy(uri) as p:
            with pytest.raises(errors.SerializeError, match="generator"):
                p.count(3)
            assert p.text()  # a plain value still works


def test_a_million_items_in_bounded_memory(streamer: Any) -> None:
    """10^6 items: the server generator is never more than two chunks ahead of the consumer
    (the one the consumer holds, and the daemon's buffer)."""
    served, obj, uri = streamer
    n = 1_000_000
    with zpyro.Proxy(uri) as p:
        total = 0
        ahead = 0
        for consumed, item in enumerate(p.count(n), 1):
            total += item
            ahead = max(ahead, obj.produced - consumed)
        assert consumed == n and total == n * (n - 1) // 2
        assert ahead <= 2 * CHUNK_ITEMS
        assert obj.chunk_requests <= 3 * n // CHUNK_ITEMS
        assert streams_open(served) == 0


def test_streaming_memory_is_measured_bounded(streamer: Any) -> None:
    """tracemalloc over both sides (client and daemon share this process)."""
    _, _, uri = streamer
    n, size = 50_000, 200  # about 12 MB if it were all held at once
    with zpyro.Proxy(uri) as p:
        p._pyroBind()
        tracemalloc.start()
        try:
            seen = 0
            for item in p.payloads(n, size):
                seen += len(item) == size
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert seen == n
    assert peak < 3_000_000, f"peak {peak} bytes while streaming"
