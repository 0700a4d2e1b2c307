"""Pyro's ways of calling through a proxy beyond a plain call, and the hooks around its calls.

Calls that return at once: a :class:`~zpyro.futures.Future` (``_pyroCallAsync``; async mode,
``_pyroAsync`` and :func:`asyncproxy`), or an outcome handed to a callback (``_pyroSubmit``);
batches (``_pyroBatch``, :mod:`zpyro.batch`); annotations (``_pyroAnnotations`` out with every
call, ``_pyroResponseAnnotations`` for those a reply carried); Pyro5's ``_pyroClaimOwnership``.
``Proxy`` mixes this in; the call path they all take (``_pyroCall``) is in ``client.py``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from . import wire
from .batch import BatchProxy, batch_results
from .context import _current as _current_call
from .futures import Future
from .proxybase import Deliver, ProxyBase


class ProxyCallStyles(ProxyBase):
    """Futures, callbacks, batches and annotations: that part of ``Proxy`` (a mixin)."""

    def _pyroAnnotations(self) -> dict[str, Any]:
        """Annotations to send with every call; override to add your own (as in Pyro)."""
        return {}

    def _pyroCallAnnotations(self) -> dict[str, Any]:
        """What goes with a call: `_pyroAnnotations()`, the annotations the program set on
        `current_context` (for this one call, as in Pyro), and the correlation id, so a chain of
        nested calls (A->B->C) shares it (a served call without one gets one generated)."""
        annotations = self._pyroAnnotations()
        info = _current_call.get()
        if info is None:
            return annotations
        if not info.object_id and info.annotations:  # set by the program, not received
            annotations = {**info.annotations, **annotations}
            info.annotations = {}
        correlation_id = info.correlation_id
        if correlation_id:
            annotations = {**annotations, "correlation_id": str(correlation_id)}
        return annotations

    def _pyroResponseAnnotations(self, annotations: dict[str, Any], msgtype: int) -> None:
        """Called with the annotations a reply carried (`msgtype`: zpyro.message.MSG_RESULT);
        override to use them. They are also in ``current_context.response_annotations`` after
        a plain call, and kept in ``self._pyroLastResponseAnnotations``."""
        self._pyroLastResponseAnnotations = annotations

    def _pyroCallAsync(
        self, method: str, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], flags: int = 0
    ) -> Future:
        """Send the call and return a Future of its result at once."""
        future = Future()
        try:  # (as _pyroSubmit, without its extra call: this is the futures' hot path)
            self._pyroCall(method, args, kwargs, None, flags, future._deliver)
        except BaseException as exc:
            future._deliver(None, exc)
        return future

    def _pyroSubmit(
        self,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        flags: int,
        deliver: Deliver,
    ) -> None:
        """Send the call; ``deliver(value, error)`` gets its outcome once.

        It runs in whichever thread reads the reply (the caller's own, right away, for a oneway
        call or a call that could not be sent), so it must be quick and must not block.
        """
        try:
            self._pyroCall(method, args, kwargs, None, flags, deliver)
        except BaseException as exc:
            deliver(None, exc)

    def _pyroClaimOwnership(self) -> None:
        """Pyro5's: make this thread the proxy's owner. zpyro proxies may be used by many
        threads at once (their calls are pipelined), so there is nothing to claim."""

    def _pyroAsync(self, asynchronous: bool = True) -> None:
        """Switch this proxy's calls to return a zpyro.Future, or back (Pyro4 habit)."""
        self._pyroAsyncMode = asynchronous

    def _pyroBatch(self) -> BatchProxy:
        """A batch proxy for this proxy (Pyro4): queue calls on it, then call it to run them."""
        return BatchProxy(self)

    def _pyroRunBatch(self, calls: list[Any], oneway: bool, asynchronous: bool) -> Any:
        """Run queued calls as one message; see zpyro.BatchProxy (`calls`: a CallQueue body)."""
        flags = wire.FLAG_BATCH | (wire.FLAG_ONEWAY if oneway else 0)
        if asynchronous and not oneway:
            return self._pyroCallAsync("", (calls,), {}, flags).then(batch_results)
        result = self._pyroCall("", (calls,), {}, None, flags)  # one message: the whole batch
        return None if oneway else batch_results(result)


AnyProxy = TypeVar("AnyProxy", bound=ProxyCallStyles)


def asyncproxy(proxy: AnyProxy, asynchronous: bool = True) -> AnyProxy:
    """Switch `proxy` itself to asynchronous mode (its calls return zpyro.Future objects), or
    back with ``asynchronous=False``, as Pyro4's ``asyncproxy``. Returns the same proxy: its
    one connection, so a session object behind it stays the same instance. For a separate
    async proxy, switch a copy: ``asyncproxy(copy.copy(p))``."""
    proxy._pyroAsync(asynchronous)
    return proxy
