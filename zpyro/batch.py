"""Batched calls: many calls on one object as one message each way (Pyro's BatchProxy).

On the wire a batch is stored by column, not as one ``[method, args, kwargs]`` list per call, so
2000 small calls cost the serializer a few flat lists instead of 2000 nested ones (see
``docs/PROTOCOL.md``, "Batches"):

* request: ``[count, methods, arity, arguments, keywords]``: ``methods`` is one name for every
  call or a list of names, ``arity`` one positional-argument count or a list of counts,
  ``arguments`` all positional arguments one call after the other, ``keywords`` a list of
  ``[index, {name: value}]`` for the calls that have keyword arguments;
* reply: ``[values, error]``: the results of the calls that ran, in order, and the error map of
  the call that failed (the calls after it did not run), or null.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import errors


class CallQueue:
    """The calls of a batch, kept by column, ready to be sent as one message."""

    __slots__ = ("names", "arities", "arguments", "keywords")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.arities: list[int] = []
        self.arguments: list[Any] = []
        self.keywords: list[list[Any]] = []

    def add(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if kwargs:
            self.keywords.append([len(self.names), kwargs])
        self.names.append(name)
        self.arities.append(len(args))
        self.arguments.extend(args)

    def body(self) -> list[Any]:
        """The batch as it travels: ``[count, methods, arity, arguments, keywords]``."""
        count = len(self.names)
        names: Any = self.names
        arities: Any = self.arities
        if count and names.count(names[0]) == count:
            names = names[0]  # one method for all: the common case
        if count and arities.count(arities[0]) == count:
            arities = arities[0]
        return [count, names, arities, self.arguments, self.keywords]


class _QueuedMethod:
    __slots__ = ("_batch", "_name")

    def __init__(self, batch: BatchProxy, name: str) -> None:
        self._batch = batch
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self._batch._pyroCalls.add(self._name, args, kwargs)


class BatchProxy:
    """Queue calls on a proxy, then run them all with one round trip.

    ``b = BatchProxy(p); b.a(); b.b(1); results = b()`` gives an iterator of the results in
    order; a call that raised raises when the iterator reaches it (the calls after it were not
    run). ``b(oneway=True)`` waits for nothing; ``b(asynchronous=True)`` returns a Future of the
    results iterator. Calling the batch empties it (it can be filled again); leaving a
    ``with batch(p) as b:`` block keeps the queued calls, as in Pyro: ``b()`` runs them.
    """

    def __init__(self, proxy: Any) -> None:
        self._pyroProxy = proxy
        self._pyroCalls = CallQueue()

    def __getattr__(self, name: str) -> _QueuedMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        stub = _QueuedMethod(self, name)
        self.__dict__[name] = stub  # later lookups skip __getattr__
        return stub

    def __call__(self, oneway: bool = False, asynchronous: bool = False) -> Any:
        if oneway and asynchronous:
            raise errors.ZPyroError("an asynchronous oneway batch makes no sense (as in Pyro)")
        calls, self._pyroCalls = self._pyroCalls, CallQueue()
        return self._pyroProxy._pyroRunBatch(calls.body(), oneway, asynchronous)

    def __enter__(self) -> BatchProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        """Nothing: the queued calls stay, to run when the batch is called (as in Pyro)."""


def batch(proxy: Any) -> BatchProxy:
    """Pyro4 spelling of BatchProxy(proxy)."""
    return BatchProxy(proxy)


MAX_BATCH_CALLS = 1_000_000  # per batch; more is a mistake or an attack (split it)


def read_calls(body: Any) -> tuple[int, Any, Any, Any, dict[int, dict[str, Any]]]:
    """Check a received batch: (count, methods, arity, arguments, {index: kwargs}).

    ``methods`` stays a str when one name is for every call (else a list of ``count`` names);
    ``arity`` an int when every call has that many arguments (else a list of ``count`` ints).
    """
    if not isinstance(body, (list, tuple)) or len(body) != 5:
        raise errors.ProtocolError("a batch is [count, methods, arity, arguments, keywords]")
    count, methods, arity, arguments, keywords = body
    if type(count) is not int or count < 0:
        raise errors.ProtocolError("batch call count is not a count")
    if count > MAX_BATCH_CALLS:  # a tiny message must not claim a billion calls
        raise errors.ProtocolError(f"a batch holds at most {MAX_BATCH_CALLS} calls, not {count}")
    if type(methods) is not str and not _column(methods, count):
        raise errors.ProtocolError("batch methods are neither one name nor one name per call")
    if type(arity) is int:
        wanted = arity * count
        good = arity >= 0
    else:
        good = _column(arity, count) and all(type(a) is int and a >= 0 for a in arity)
        wanted = sum(arity) if good else -1
    if not good:
        raise errors.ProtocolError("batch arity is neither one count nor one count per call")
    if not isinstance(arguments, (list, tuple)) or len(arguments) != wanted:
        raise errors.ProtocolError(f"batch arguments: {wanted} expected")
    named: dict[int, dict[str, Any]] = {}
    if not isinstance(keywords, (list, tuple)):
        raise errors.ProtocolError("batch keywords are not a list")
    for entry in keywords:
        if (
            not isinstance(entry, (list, tuple))
            or len(entry) != 2
            or type(entry[0]) is not int
            or not 0 <= entry[0] < count
            or not isinstance(entry[1], dict)
            or not all(isinstance(k, str) for k in entry[1])
        ):
            raise errors.ProtocolError("batch keywords are not [index, {name: value}] pairs")
        named[entry[0]] = entry[1]
    return count, methods, arity, arguments, named


def _column(values: Any, count: int) -> bool:
    return isinstance(values, (list, tuple)) and len(values) == count


def batch_results(reply: Any) -> Iterator[Any]:
    """The results iterator of a batch reply ``[values, error]``: the error raises at its place."""
    if not isinstance(reply, (list, tuple)) or len(reply) != 2:
        raise errors.ProtocolError("batch reply is not [values, error]")
    values, error = reply
    if not isinstance(values, (list, tuple)) or not (error is None or isinstance(error, dict)):
        raise errors.ProtocolError("batch reply is not [values, error]")
    return _iterate(values, error)


def _iterate(values: Any, error: dict[str, Any] | None) -> Iterator[Any]:
    yield from values
    if error is not None:
        raise errors.payload_to_exception(error)
