"""Server side of remote iterators: generators handed out by a daemon, fetched in chunks.

A method that returns a generator or iterator gives the caller a stream id and the first chunk;
the caller fetches further chunks by id. A chunk is what is *already there*: a stream never waits
to fill one (a generator that yields on events delivers each item as it comes). Only when nothing
is there yet does a fetch wait, for the next item or the end.

Generators (and other iterators that may block) run in a producer thread of their own stream,
taken from a pool: it fills a buffer of at most ``CHUNK_ITEMS`` items ahead of the caller and
stops when the buffer is full, so a fast generator streams in full chunks while its next chunk
is already being made, and memory stays bounded (the caller's chunk plus the buffer). Builtin
iterators over containers (``iter(list)``, ``iter(range(n))``, ...) never block: they are read
in the fetching thread.

Streams are reclaimed when the caller closes them, when they run out, when their caller goes
away, when they exceed ITER_STREAM_LIFETIME, or when nobody fetched from them for
ITER_STREAM_LINGER seconds (a fetch that is waiting for an item counts as fetching).
"""

from __future__ import annotations

import collections
import collections.abc
import inspect
import threading
import time
import uuid
from typing import Any

from . import errors
from .wire import DAEMON_OBJECT_ID, STREAM_CLOSE, STREAM_NEXT
from .workers import WorkerPool

CHUNK_ITEMS = 200  # items per round trip at most: few round trips, bounded memory on both sides
PRODUCERS = 64  # producer threads per daemon at most (a blocked generator holds one)

# iterators of builtin containers: they never block, so no producer thread is needed
_SAMPLES: tuple[Any, ...] = (
    [],
    (),
    range(0),
    "",
    b"",
    bytearray(),
    set(),
    frozenset(),
    {},
    {}.keys(),
    {}.values(),
    {}.items(),
    collections.deque(),
)
_NON_BLOCKING = frozenset(type(iter(sample)) for sample in _SAMPLES) | {
    type(reversed([])),
    type(reversed(range(0))),
}


def is_stream(value: Any) -> bool:
    """Results that travel as streams: generators and other one-shot iterators."""
    return inspect.isgenerator(value) or (
        isinstance(value, collections.abc.Iterator) and not isinstance(value, (str, bytes))
    )


class _Stream:
    __slots__ = (
        "iterator",
        "client",
        "created",
        "last_used",
        "cond",
        "items",
        "finished",
        "error",
        "producing",
        "waiting",
        "closing",
        "threaded",
    )

    def __init__(self, iterator: Any, client: bytes, now: float) -> None:
        self.iterator = iterator
        self.client = client
        self.created = now
        self.last_used = now
        self.cond = threading.Condition(threading.Lock())
        self.items: collections.deque[Any] = collections.deque()  # produced, not yet fetched
        self.finished = False  # the iterator ran out (or raised: error)
        self.error: dict[str, Any] | None = None
        self.producing = False  # a producer task is queued or running
        self.waiting = 0  # fetches waiting for an item
        self.closing = False  # closed: whoever holds the iterator closes it
        self.threaded = type(iterator) not in _NON_BLOCKING


class StreamRegistry:
    def __init__(
        self,
        lifetime: float,
        linger: float,
        chunk_items: int = CHUNK_ITEMS,
        producers: int = PRODUCERS,
    ) -> None:
        self.lifetime = lifetime  # 0: no limit
        self.linger = linger  # 0: no limit
        self.chunk_items = chunk_items
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._pool: WorkerPool | None = None
        self._producers = producers
        # "ROUTE/" on a brokered daemon: tells the caller where to send stream_next (BROKER.md)
        self.prefix = ""

    def __len__(self) -> int:
        return len(self._streams)

    def open(self, iterator: Any, client: bytes) -> list[Any]:
        """Register a stream; the reply value: [stream_id, items, finished, error]."""
        self.sweep()
        stream_id = self.prefix + uuid.uuid4().hex
        stream = _Stream(iter(iterator), client, time.monotonic())
        items, finished, error = self._take(stream)
        if not finished:
            with self._lock:
                self._streams[stream_id] = stream
        return [stream_id, items, finished, error]

    def next_chunk(self, stream_id: str, client: bytes) -> list[Any]:
        """[items, finished, error] for the next chunk of a stream of this client."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.client != client:
            raise errors.ZPyroError(f"stream {stream_id!r} is unknown, closed or expired")
        items, finished, error = self._take(stream)
        if finished:
            self.close(stream_id)
        return [items, finished, error]

    def close(self, stream_id: str) -> None:
        with self._lock:
            stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self._finish(stream)

    def drop_client(self, client: bytes) -> int:
        with self._lock:
            gone = [sid for sid, s in self._streams.items() if s.client == client]
        for sid in gone:
            self.close(sid)
        return len(gone)

    def sweep(self) -> int:
        """Reclaim streams past their lifetime or idle past the linger time."""
        if not self._streams:
            return 0
        now = time.monotonic()
        with self._lock:
            expired = [
                sid
                for sid, s in self._streams.items()
                if (self.lifetime and now - s.created > self.lifetime)
                or (self.linger and not s.waiting and now - s.last_used > self.linger)
            ]
        for sid in expired:
            self.close(sid)
        return len(expired)

    def close_all(self) -> None:
        with self._lock:
            ids = list(self._streams)
        for sid in ids:
            self.close(sid)
        if self._pool is not None:
            self._pool.shutdown(timeout=0)

    # -- producing and fetching -----------------------------------------------------------------

    def _take(self, stream: _Stream) -> tuple[list[Any], bool, dict[str, Any] | None]:
        """What is there (waiting for one item or the end when nothing is): (items, finished,
        error)."""
        if not stream.threaded:
            return self._read_here(stream)
        with stream.cond:
            stream.last_used = time.monotonic()
            if not stream.items and not stream.finished:
                self._start_producer(stream)
                stream.waiting += 1
                try:
                    while not stream.items and not stream.finished and not stream.closing:
                        stream.cond.wait()
                finally:
                    stream.waiting -= 1
                    stream.last_used = time.monotonic()
            items = _drain(stream.items, self.chunk_items)
            if stream.closing:
                return items, True, None
            if not stream.finished:
                self._start_producer(stream)  # room again: make the next chunk meanwhile
            return items, stream.finished, stream.error

    def _read_here(self, stream: _Stream) -> tuple[list[Any], bool, dict[str, Any] | None]:
        """A builtin container's iterator: read right here, a chunk at a time."""
        items: list[Any] = []
        with stream.cond:  # one fetch at a time per stream
            stream.last_used = time.monotonic()
            if stream.closing:
                return items, True, None
            try:
                for _ in range(self.chunk_items):
                    items.append(next(stream.iterator))
            except StopIteration:
                return items, True, None
            except Exception as exc:  # arrives at the caller after the items before it
                return items, True, errors.exception_to_payload(exc)
        return items, False, None

    def _start_producer(self, stream: _Stream) -> None:
        """(stream.cond held) Have a producer fill the buffer, unless one is at it."""
        if stream.producing or stream.closing:
            return
        stream.producing = True
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = WorkerPool(0, self._producers, 2**31, "zpyro-stream")
                pool = self._pool
        if not pool.submit(self._produce, stream):  # (only when shut down): the end
            stream.producing = False
            stream.finished = True
            stream.cond.notify_all()

    def _produce(self, stream: _Stream) -> None:
        """A producer task: yield items into the buffer until it is full, the iterator ends or
        the stream is closed (then it closes the iterator, which only this thread may touch).

        Items go into the buffer without the lock (a deque's append and popleft are atomic);
        a fetch that waits says so (``waiting``) before it looks at the buffer, and this thread
        looks at ``waiting`` after each append, so one of the two always sees the other."""
        iterator, cond, items, cap = stream.iterator, stream.cond, stream.items, self.chunk_items
        append = items.append
        while not stream.closing:
            if len(items) >= cap:
                with cond:
                    if len(items) >= cap and not stream.closing:
                        stream.producing = False
                        return  # full: the next fetch starts another producer
                continue
            try:
                item = next(iterator)
            except StopIteration:
                self._produced_all(stream, None)
                return
            except Exception as exc:  # arrives at the caller after the items before it
                self._produced_all(stream, errors.exception_to_payload(exc))
                return
            append(item)
            if stream.waiting:
                with cond:
                    cond.notify_all()
        with cond:
            stream.producing = False
        _close_quietly(iterator)

    @staticmethod
    def _produced_all(stream: _Stream, error: dict[str, Any] | None) -> None:
        with stream.cond:
            stream.finished = True
            stream.error = error
            stream.producing = False
            stream.cond.notify_all()

    @staticmethod
    def _finish(stream: _Stream) -> None:
        """Closed: wake its waiting fetches; close the iterator unless a producer holds it."""
        with stream.cond:
            stream.closing = True
            stream.items.clear()
            stream.cond.notify_all()
            close_here = not stream.producing
        if close_here:
            _close_quietly(stream.iterator)


def _drain(items: collections.deque[Any], most: int) -> list[Any]:
    """Take up to `most` items off the buffer (a producer may append meanwhile)."""
    popleft = items.popleft
    return [popleft() for _ in range(min(len(items), most))]


def _close_quietly(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


class RemoteIterator:
    """The caller's side of a stream: yields items, fetching the next chunk when it runs dry."""

    def __init__(
        self, proxy: Any, stream_id: str, items: list[Any], finished: bool, error: Any
    ) -> None:
        self._proxy = proxy
        self._stream_id = stream_id
        self._items = collections.deque(items)
        self._finished = finished
        self._error = error

    def __iter__(self) -> RemoteIterator:
        return self

    def __next__(self) -> Any:
        while not self._items:
            if self._error is not None:
                error, self._error = self._error, None
                raise errors.payload_to_exception(error)
            if self._finished:
                raise StopIteration
            items, self._finished, self._error = self._proxy._pyroDaemonCall(
                STREAM_NEXT, self._stream_id, object_id=_stream_object(self._stream_id)
            )
            self._items.extend(items)
        return self._items.popleft()

    def close(self) -> None:
        """Stop early: the daemon drops its side of the stream."""
        if not self._finished:
            self._finished = True
            self._items.clear()
            try:
                self._proxy._pyroDaemonCall(
                    STREAM_CLOSE,
                    self._stream_id,
                    oneway=True,
                    object_id=_stream_object(self._stream_id),
                )
            except errors.ZPyroError:
                pass  # the daemon reclaims abandoned streams by itself

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _stream_object(stream_id: str) -> str:
    """Where a stream's chunks are fetched: the daemon object, or (brokered) the one daemon
    that holds it, addressed through the broker as ``Pyro.Daemon:ROUTE``."""
    route, sep, _ = stream_id.rpartition("/")
    return f"{DAEMON_OBJECT_ID}:{route}" if sep else DAEMON_OBJECT_ID
