"""``zpyro.Future``: a concurrent.futures.Future with Pyro4's conveniences.

It works with ``concurrent.futures.wait``/``as_completed`` and ``add_done_callback``, and adds
Pyro4's ``.value``, ``.ready``, ``.wait(timeout)`` and ``.then(fn)``.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

_CANCELLED = "CANCELLED"  # concurrent.futures' state of a cancelled future nobody was told of


class Future(concurrent.futures.Future[Any]):
    """The result of a call made through an async proxy (or a batch run asynchronously)."""

    @property
    def value(self) -> Any:
        """The result; blocks until it is there, raises the call's exception."""
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

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the result is there; False if `timeout` passed first."""
        try:
            self.exception(timeout)
        except concurrent.futures.TimeoutError:
            return False
        except concurrent.futures.CancelledError:
            pass
        return True

    def then(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """A new Future of ``fn(result, *args, **kwargs)``, run when this one is done.

        An exception (of this call or of `fn`) passes down the chain.
        """
        chained = Future()

        def run(done: concurrent.futures.Future[Any]) -> None:
            if chained.cancelled():
                return  # nobody wants this link of the chain any more
            if done.cancelled():
                chained.cancel()
                return
            error = done.exception()
            if error is not None:
                chained.set_exception(error)
                return
            try:
                chained.set_result(fn(done.result(), *args, **kwargs))
            except BaseException as exc:
                chained.set_exception(exc)

        self.add_done_callback(run)
        return chained

    def _deliver(self, value: Any, error: BaseException | None) -> None:
        """Settle it with a call's outcome (the proxy's ``deliver``); a Future the caller gave
        up on (cancelled, e.g. with its asyncio task) drops the outcome."""
        if self.cancelled():
            return
        try:
            if error is None:
                self.set_result(value)
            else:
                self.set_exception(error)
        except concurrent.futures.InvalidStateError:  # cancelled just now
            pass
