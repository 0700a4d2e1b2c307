"""``zpyro.Executor``: a ``concurrent.futures.Executor`` whose jobs are remote method calls.

Point it at a pool of brokered daemons (``Executor("PYRONAME:jobs.render")``) and the broker
spreads the jobs over the pool. ``submit("render", frame)`` calls ``render(frame)`` on the remote
object and returns a :class:`zpyro.Future` at once; ``map`` yields results in order. All calls go
out pipelined over one async proxy (one connection), so a few hundred jobs in flight cost no
threads.

``max_pending`` bounds how many calls this executor has in flight: ``submit`` blocks until a reply
frees a slot. (The broker queues too, but a client should not push a million calls at once.)
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent import futures as cf
from typing import IO, Any

from .client import Proxy, asyncproxy
from .futures import Future
from .uri import URI

REDRAW_SECONDS = 0.1  # how often a live progress line is redrawn on a terminal


class Executor(cf.Executor):
    """Run remote method calls on the object at `uri` (usually a ``PYRONAME:`` of a pool).

    `progress`: True (progress on stderr) or a text stream. On a terminal a one-line display is
    redrawn as jobs finish; on anything else only the final summary is written, at shutdown.
    """

    def __init__(
        self,
        uri: str | URI,
        max_pending: int | None = None,
        progress: bool | IO[str] = False,
    ) -> None:
        if max_pending is not None and max_pending < 1:
            raise ValueError("max_pending must be at least 1 (or None for no bound)")
        self.uri = URI(uri) if not isinstance(uri, URI) else uri
        self.max_pending = max_pending
        self._proxy = asyncproxy(Proxy(self.uri))
        self._cond = threading.Condition()
        self._in_flight: set[Future] = set()  # calls sent and not yet answered: the slots
        self._unsettled: set[Future] = set()  # futures handed out and not yet done
        self._shut = False
        self._released = False
        stream = sys.stderr if progress is True else (None if progress is False else progress)
        self._progress = _Progress(stream) if stream is not None else None

    @property
    def proxy(self) -> Proxy:
        """The async proxy every call goes through (e.g. set its ``_pyroTimeout``)."""
        return self._proxy

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, fn: str, /, *args: Any, **kwargs: Any) -> Future:  # type: ignore[override]
        """Call the remote method named `fn` with the arguments; a Future of its result.

        Blocks while `max_pending` calls are in flight. Cancelling the Future drops the result;
        a call already sent may still run remotely.
        """
        if not isinstance(fn, str):
            raise TypeError(f"submit() takes the remote method's name, not {type(fn).__name__}")
        future = Future()
        with self._cond:
            while self._full() and not self._shut:
                self._cond.wait()
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._in_flight.add(future)
            self._unsettled.add(future)
        if self._progress is not None:
            self._progress.submitted()
        try:
            call = self._proxy._pyroInvoke(fn, args, kwargs)  # async: errors come in the Future
        except Exception as exc:  # (should one slip out, it must still free the slot)
            call = Future()
            call.set_exception(exc)
        call.add_done_callback(lambda done: self._answered(future, done))
        return future

    def map(  # type: ignore[override]
        self,
        fn: str,
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        """Results of `fn(*args)` for each args of ``zip(*iterables)``, in order.

        As with the stdlib: the calls start now, `timeout` counts from this call, and the first
        failing call raises at its position. With `max_pending` the arguments are taken lazily
        (at most twice `max_pending` results wait to be yielded), so a huge iterable is fine.
        `chunksize` is accepted for compatibility and ignored: every call is its own message.
        """
        end = None if timeout is None else time.monotonic() + timeout
        arguments = zip(*iterables, strict=False)  # stops at the shortest, as the stdlib
        window = None if self.max_pending is None else 2 * self.max_pending
        pending: deque[Future] = deque()

        def top_up(block: bool) -> None:
            # only the first submit may wait for a slot: never sit on results that are ready
            while window is None or len(pending) < window:
                if not block and self._full():
                    return
                args = next(arguments, None)
                if args is None:
                    return
                pending.append(self.submit(fn, *args))
                block = False

        top_up(block=True)

        def results() -> Iterator[Any]:
            try:
                while pending:
                    head = pending[0]
                    remaining = None if end is None else max(0.0, end - time.monotonic())
                    value = head.result(remaining)
                    pending.popleft()
                    top_up(block=not pending)
                    yield value
            finally:
                for future in pending:
                    future.cancel()

        return results()

    # -- shutting down ------------------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submits. `wait`: return once every Future is done (the connection is then
        released). `cancel_futures`: cancel every Future not done yet and drop the connection
        now, so their replies are never waited for (calls already sent may still run)."""
        with self._cond:
            self._shut = True
            self._cond.notify_all()  # submitters waiting for a slot give up
            unanswered = list(self._unsettled)
        if cancel_futures:
            for future in unanswered:
                future.cancel()
            self._release()  # fails the calls still out, so their slots come back at once
        if wait:
            cf.wait(unanswered)
            self._release()
        else:
            threading.Thread(
                target=self._release_when_done, args=(unanswered,), daemon=True
            ).start()

    def _release_when_done(self, unanswered: list[Future]) -> None:
        cf.wait(unanswered)
        self._release()

    def _release(self) -> None:
        with self._cond:
            if self._released:
                return
            self._released = True
        self._proxy._pyroRelease()
        if self._progress is not None:
            self._progress.finish()

    # -- replies --------------------------------------------------------------------------------

    def _full(self) -> bool:
        return self.max_pending is not None and len(self._in_flight) >= self.max_pending

    def _answered(self, future: Future, call: cf.Future[Any]) -> None:
        """A call's reply (or failure) is in: free its slot, then pass the outcome on.

        The slot goes first so that a done-callback which submits the next job finds one free
        (it runs on the thread that reads replies: were it to wait for a slot, none would come).
        """
        error = call.exception() if not call.cancelled() else cf.CancelledError()
        with self._cond:
            self._in_flight.discard(future)
            self._cond.notify_all()
        try:
            if error is None:
                future.set_result(call.result())
            else:
                future.set_exception(error)
            cancelled = False
        except cf.InvalidStateError:  # the caller cancelled it: drop the outcome
            cancelled = True
        if self._progress is not None:
            self._progress.answered(failed=error is not None and not cancelled, cancelled=cancelled)
        with self._cond:
            self._unsettled.discard(future)

    def __repr__(self) -> str:
        return f"<zpyro.Executor for {self.uri}; {len(self._in_flight)} calls in flight>"


class _Progress:
    """Counts jobs; on a terminal redraws one line while they run; writes a final summary."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        try:
            self.live = stream.isatty()
        except (AttributeError, ValueError):
            self.live = False
        self.total = self.done = self.failed = self.cancelled = 0
        self.started: float | None = None
        self.last_answer: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._width = 0  # of the last live line, to blank what a shorter one leaves

    def submitted(self) -> None:
        with self._lock:
            self.total += 1
            if self.started is None:
                self.started = time.monotonic()
                if self.live:
                    self._ticker = threading.Thread(target=self._redraw, daemon=True)
                    self._ticker.start()

    def answered(self, failed: bool, cancelled: bool) -> None:
        # runs on the thread reading replies: count only, the ticker does the writing
        with self._lock:
            self.done += not cancelled
            self.failed += failed
            self.cancelled += cancelled
            self.last_answer = time.monotonic()

    def line(self, final: bool = False) -> str:
        with self._lock:
            total, done, failed, cancelled = self.total, self.done, self.failed, self.cancelled
            start, last = self.started, self.last_answer
        now = time.monotonic()
        end = (last or now) if final else now
        elapsed = 0.0 if start is None else max(0.0, end - start)
        rate = done / elapsed if elapsed > 0 else 0.0
        tail = "total" if final else "elapsed"
        dropped = f", {cancelled} cancelled" if cancelled else ""
        return (
            f"{done}/{total} done, {failed} failed{dropped}, {rate:,.1f} jobs/s, "
            f"{elapsed:.2f} s {tail}"
        )

    def _redraw(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            self._write(self.line(), end="")

    def _write(self, text: str, end: str) -> None:
        prefix = "\r" if self.live else ""
        pad = " " * max(0, self._width - len(text)) if self.live else ""
        self._width = len(text)
        try:
            self.stream.write(f"{prefix}{text}{pad}{end}")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream must not break the executor

    def finish(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1.0)
        self._write(self.line(final=True), end="\n")
