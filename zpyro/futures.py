"""Futures: ``zpyro.Future`` (Pyro4's ``FutureResult``) and Pyro4's local ``Future(callable)``.

A call through an async proxy returns a ``zpyro.Future``: a ``concurrent.futures.Future`` (so
``wait``, ``as_completed``, ``add_done_callback`` work) with Pyro4's ``.value``, ``.ready``,
``.wait(timeout)``, ``.then(fn, *args)`` and ``.iferror(handler)``. As in Pyro4, ``then`` chains
onto the future itself: ``f.then(g).then(h)`` returns ``f``, whose ``.value`` is then
``h(g(result))``. Chained functions and error handlers are user code, so they never run in the
thread that reads replies off the connection: a small pool of helper threads runs them (a future
without them is settled directly, at no extra cost).

``zpyro.Future(fn)`` (with a callable) is Pyro4's local future: calling it runs ``fn`` in a
background thread and returns a ``zpyro.Future`` of the result; before that, ``then``,
``iferror``, ``delay(seconds)`` and ``cancel()``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .workers import WorkerPool

__all__ = ["Future", "FutureResult", "LocalFuture"]

log = logging.getLogger("zpyro.futures")

_CANCELLED = "CANCELLED"  # concurrent.futures' state of a cancelled future nobody was told of
CHAIN_THREADS = 16  # helper threads for then()/iferror() (more queue: delayed, never dropped)

Link = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_SETTLING: list[Link] = []  # a future's chain while its outcome is being set (never appended to)

_runner: WorkerPool | None = None
_runner_lock = threading.Lock()


def _run_later(fn: Callable[..., Any], *args: Any) -> None:
    global _runner
    if _runner is None:
        with _runner_lock:
            if _runner is None:
                _runner = WorkerPool(0, CHAIN_THREADS, 2**31, "zpyro-future")
    _runner.submit(fn, *args)


class Future(concurrent.futures.Future[Any]):
    """The result of a call made through an async proxy (or of a batch run asynchronously)."""

    # set on the instance only when used: a plain future costs nothing extra
    _chain: list[Link] | None = None
    _on_error: Callable[[BaseException], Any] | None = None

    def __new__(cls, somecallable: Callable[..., Any] | None = None) -> Any:
        if somecallable is not None and cls is Future:
            return LocalFuture(somecallable)  # Pyro4's Future(callable)
        return super().__new__(cls)

    def __init__(self, somecallable: Callable[..., Any] | None = None) -> None:
        super().__init__()

    @property
    def value(self) -> Any:
        """The result (the end of its then() chain); blocks until it is there, raises the
        call's exception."""
        return self.result()

    @property
    def ready(self) -> bool:
        return self.done()

    def cancel(self) -> bool:
        """Cancel (the call's reply, when it comes, is dropped). Waiters see it done at once:
        nothing ever "starts" a zpyro Future, so without the notify here
        ``concurrent.futures.wait``/``as_completed`` would wait for it forever."""
        if not super().cancel():
            return False
        with self._condition:  # the stdlib Future's own (re-entrant) lock: notify only once
            if self._state == _CANCELLED:
                self.set_running_or_notify_cancel()
        return True

    set_cancelled = cancel  # Pyro4 name

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the result is there; False if `timeout` passed first."""
        try:
            self.exception(timeout)
        except concurrent.futures.TimeoutError:
            return False
        except concurrent.futures.CancelledError:
            pass
        return True

    def then(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Chain ``call(result, *args, **kwargs)`` onto this future: its value becomes what
        `call` returns. Returns this future (Pyro4's FutureResult.then).

        When the result is there already, `call` runs right away in this thread. A failed
        future skips the chain; an exception raised by `call` becomes the future's exception.
        """
        with self._condition:
            if self._chain is _SETTLING:
                self._condition.wait_for(self.done)  # being settled right now: a moment
            if not self.done():
                if self._chain is None:
                    self._chain = []
                self._chain.append((call, args, kwargs))
                return self
            if self.cancelled() or self._exception is not None:
                return self
            try:  # (under the lock, as Pyro4: chained calls on a done future stay in order)
                self._result = call(self._result, *args, **kwargs)
                return self
            except BaseException as exc:
                self._exception, self._result = exc, None
                error, handler = exc, self._on_error
        if handler is not None:
            _call_handler(handler, error)
        return self

    def iferror(self, handler: Callable[[BaseException], Any]) -> Future:
        """Call ``handler(exception)`` when the call (or a chained function) fails; right away
        when it has failed already. Returns this future."""
        with self._condition:
            if self._chain is _SETTLING:
                self._condition.wait_for(self.done)
            if not self.done():
                self._on_error = handler
                return self
            error = None if self.cancelled() else self._exception
        if error is not None:
            _call_handler(handler, error)
        return self

    def _deliver(self, value: Any, error: BaseException | None) -> None:
        """Settle it with a call's outcome (the proxy's ``deliver``); a Future the caller gave
        up on (cancelled, e.g. with its asyncio task) drops the outcome."""
        with self._condition:
            if self.cancelled():
                return
            direct = self._chain is None and self._on_error is None
            if direct:
                self._chain = _SETTLING  # then()/iferror() now wait for the outcome
        if direct:  # (outside the lock: done-callbacks run in set_result)
            self._settle_now(value, error)
        else:
            _run_later(self._settle, value, error)  # user code: never in the reader's thread

    def _settle_now(self, value: Any, error: BaseException | None) -> None:
        try:
            if error is None:
                self.set_result(value)
            else:
                self.set_exception(error)
        except concurrent.futures.InvalidStateError:  # cancelled just now
            with self._condition:
                self._condition.notify_all()  # (then()/iferror() may wait for it)

    def _settle(self, value: Any, error: BaseException | None) -> None:
        """Run the chain (also links added meanwhile), then settle; a helper thread."""
        while True:
            with self._condition:
                if self.done():
                    return  # cancelled meanwhile
                chain = self._chain
                if error is None and chain:
                    call, args, kwargs = chain.pop(0)
                else:
                    self._chain = _SETTLING
                    handler = self._on_error
                    break
            try:
                value = call(value, *args, **kwargs)
            except BaseException as exc:
                error = exc
        self._settle_now(value, error)
        if error is not None and handler is not None:
            _call_handler(handler, error)


FutureResult = Future  # Pyro4's name for the result of an async call


def _call_handler(handler: Callable[[BaseException], Any], error: BaseException) -> None:
    try:
        handler(error)
    except Exception:
        log.exception("iferror() handler %r raised", handler)


class LocalFuture:
    """Pyro4's ``Future(callable)``: ``f(*args)`` runs the callable in a background thread and
    returns a zpyro.Future of its result (after the then() chain)."""

    def __init__(self, somecallable: Callable[..., Any]) -> None:
        if not callable(somecallable):
            raise TypeError(f"Future needs a callable, not {somecallable!r}")
        self.callable = somecallable
        self._chain: list[Link] = []
        self._on_error: Callable[[BaseException], Any] | None = None
        self._cond = threading.Condition()
        self._called = False  # __call__ ran: no more then()
        self._completed = False  # the callable started (or the future was cancelled): final
        self._cancelled = False
        self._delay = 0.0
        self._delay_from = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Future:
        with self._cond:
            if self._called:
                raise RuntimeError("the future has already been evaluated")
            if self._cancelled:
                raise RuntimeError("the future has been cancelled")
            self._called = True
            self._delay_from = time.monotonic()
        result = Future()
        threading.Thread(
            target=self._run, args=(result, args, kwargs), name="zpyro-local-future", daemon=True
        ).start()
        return result

    def _run(self, result: Future, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with self._cond:
            while not self._cancelled:
                remaining = self._delay_from + self._delay - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._completed = True
            cancelled = self._cancelled
        if cancelled:
            result._deliver(None, RuntimeError("future has been cancelled"))
            return
        try:
            value = self.callable(*args, **kwargs)
            for call, link_args, link_kwargs in self._chain:
                value = call(value, *link_args, **link_kwargs)
        except Exception as exc:
            if self._on_error is not None:
                _call_handler(self._on_error, exc)
            result._deliver(None, exc)
            return
        result._deliver(value, None)

    def then(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> LocalFuture:
        """Chain ``call(previous_result, *args, **kwargs)``; returns this future."""
        with self._cond:
            if self._called:
                raise RuntimeError("the future has already been evaluated: then() comes first")
            self._chain.append((call, args, kwargs))
        return self

    def iferror(self, handler: Callable[[BaseException], Any]) -> LocalFuture:
        """Call ``handler(exception)`` when the callable (or the chain) raises."""
        self._on_error = handler
        return self

    def delay(self, seconds: float) -> bool:
        """Run the callable `seconds` from now (from the call, if not called yet); False when
        it has started already."""
        with self._cond:
            if self._completed:
                return False
            self._delay = max(0.0, seconds)
            if self._called:
                self._delay_from = time.monotonic()
            self._cond.notify_all()
        return True

    def cancel(self) -> bool:
        """Never run the callable (its result raises RuntimeError); False when it has started."""
        with self._cond:
            if self._completed:
                return False
            self._cancelled = True
            self._cond.notify_all()
        return True
