"""Batched calls: many calls on one object as one message each way (Pyro's BatchProxy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import errors


class _QueuedMethod:
    __slots__ = ("_batch", "_name")

    def __init__(self, batch: BatchProxy, name: str) -> None:
        self._batch = batch
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self._batch._pyroQueue.append([self._name, args, kwargs])


class BatchProxy:
    """Queue calls on a proxy, then run them all with one round trip.

    ``b = BatchProxy(p); b.a(); b.b(1); results = b()`` gives an iterator of the results in
    order; a call that raised raises when the iterator reaches it (the calls after it were not
    run). ``b(oneway=True)`` waits for nothing; ``b(asynchronous=True)`` returns a Future of the
    results iterator.
    """

    def __init__(self, proxy: Any) -> None:
        self._pyroProxy = proxy
        self._pyroQueue: list[list[Any]] = []

    def __getattr__(self, name: str) -> _QueuedMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        return _QueuedMethod(self, name)

    def __call__(self, oneway: bool = False, asynchronous: bool = False) -> Any:
        calls, self._pyroQueue = self._pyroQueue, []
        return self._pyroProxy._pyroBatch(calls, oneway, asynchronous)

    def __enter__(self) -> BatchProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pyroQueue = []


def batch(proxy: Any) -> BatchProxy:
    """Pyro4 spelling of BatchProxy(proxy)."""
    return BatchProxy(proxy)


def batch_results(results: Any) -> Iterator[Any]:
    """The results iterator of a batch reply: [[ok, value or error payload], ...]."""
    if not isinstance(results, (list, tuple)):
        raise errors.ProtocolError("batch reply is not a list")
    return _iterate(results)


def _iterate(results: Any) -> Iterator[Any]:
    for entry in results:
        ok, value = entry
        if not ok:
            raise errors.payload_to_exception(value)
        yield value
