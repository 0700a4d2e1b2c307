"""Server side of remote iterators: generators handed out by a daemon, fetched in chunks.

A method that returns a generator or iterator gives the caller a stream id and the first chunk;
the caller fetches further chunks by id. Streams are reclaimed when the caller closes them,
when they run out, when their caller goes away, when they exceed ITER_STREAM_LIFETIME, or when
nobody fetched from them for ITER_STREAM_LINGER seconds.
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
from .wire import DAEMON_OBJECT_ID

CHUNK_ITEMS = 200  # items per round trip: few round trips, bounded memory on both sides


def is_stream(value: Any) -> bool:
    """Results that travel as streams: generators and other one-shot iterators."""
    return inspect.isgenerator(value) or (
        isinstance(value, collections.abc.Iterator) and not isinstance(value, (str, bytes))
    )


class _Stream:
    __slots__ = ("iterator", "client", "created", "last_used", "lock")

    def __init__(self, iterator: Any, client: bytes, now: float) -> None:
        self.iterator = iterator
        self.client = client
        self.created = now
        self.last_used = now
        self.lock = threading.Lock()


class StreamRegistry:
    def __init__(self, lifetime: float, linger: float, chunk_items: int = CHUNK_ITEMS) -> None:
        self.lifetime = lifetime  # 0: no limit
        self.linger = linger  # 0: no limit
        self.chunk_items = chunk_items
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
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
        with stream.lock:
            stream.last_used = time.monotonic()
            items, finished, error = self._take(stream)
        if finished:
            self.close(stream_id)
        return [items, finished, error]

    def close(self, stream_id: str) -> None:
        with self._lock:
            stream = self._streams.pop(stream_id, None)
        if stream is not None:
            _close_quietly(stream.iterator)

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
                or (self.linger and now - s.last_used > self.linger)
            ]
        for sid in expired:
            self.close(sid)
        return len(expired)

    def close_all(self) -> None:
        with self._lock:
            ids = list(self._streams)
        for sid in ids:
            self.close(sid)

    def _take(self, stream: _Stream) -> tuple[list[Any], bool, dict[str, Any] | None]:
        items: list[Any] = []
        try:
            for _ in range(self.chunk_items):
                items.append(next(stream.iterator))
        except StopIteration:
            return items, True, None
        except Exception as exc:  # arrives at the caller after the items before it
            return items, True, errors.exception_to_payload(exc)
        return items, False, None


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
                "stream_next", self._stream_id, object_id=_stream_object(self._stream_id)
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
                    "stream_close",
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
