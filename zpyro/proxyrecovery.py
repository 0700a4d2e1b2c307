"""What a proxy does when a call fails on the way: retry, reconnect, follow a broker pair.

A call whose connection was lost or that timed out is retried ``MAX_RETRIES`` times (it may then
run twice, as in Pyro); a PYRONAME:/PYROMETA: call that could not connect is retried once with
the name resolved again. A URI that lists several addresses (``PYRO:obj@h1:p1,h2:p2``: a broker
pair, :mod:`zpyro.failover`) is followed: a call refused by a broker that is not active
(``NotActiveError``) goes to the active one, and a call of an ``@idempotent`` method lost with
its broker is sent again to the one that took over. Other calls lost with it fail with
``ConnectionClosedError`` (they may have run); the next call finds the active broker.
``Proxy`` mixes this in; none of it runs unless a call failed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from . import errors, failover, wire
from .connection import StaleConnection
from .proxybase import Deliver, ProxyBase

RECONNECT_INTERVAL = 1.0  # seconds between _pyroReconnect's tries (Pyro: 2)


class ProxyRecovery(ProxyBase):
    """The retrying and following part of ``Proxy`` (a mixin)."""

    def _pyroReconnect(self, tries: int = 100_000_000) -> None:
        """Release, then try to connect up to `tries` times, a second apart, until the daemon
        answers (Pyro's reconnect idiom: the daemon may still be restarting, its object or name
        not registered yet). ConnectionClosedError when every try failed."""
        self._pyroRelease()
        last: BaseException | None = None
        for attempt in range(max(1, tries)):
            try:
                self._pyroBind()
                return
            except (errors.CommunicationError, errors.DaemonError, errors.NamingError) as exc:
                if isinstance(exc, errors.ProtocolError):
                    raise  # (a refused serializer, a message too big: no use trying again)
                last = exc
                self._pyroRelease()
                if attempt + 1 < tries:
                    time.sleep(RECONNECT_INTERVAL)
        raise errors.ConnectionClosedError(
            f"failed to reconnect to {self._pyroUri}: {last}"
        ) from last

    def _pyroRecover(
        self,
        exc: errors.CommunicationError,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        object_id: str | None,
        flags: int,
    ) -> Any:
        """A call failed: retry it where Pyro would, else raise its error.

        ``MAX_RETRIES`` (``_pyroMaxRetries``) retries a call whose connection was lost or that
        timed out (it may then run twice, as in Pyro). A PYRONAME:/PYROMETA: call that could not
        connect at all (so it never ran) is retried once after resolving the name again: the
        name may have moved. A broker pair (docs/BROKER.md): a call refused by a broker that is
        not active goes to the active one; an @idempotent call lost with its broker is sent
        once more, to the broker that took over.
        """
        retries = self._pyroMaxRetries
        resolved_again = resent = False
        while True:
            if isinstance(exc, errors.NotActiveError):
                return self._pyroFollowing(method, args, kwargs, object_id, flags, exc)
            if (
                self._pyroPaired
                and not resent
                and type(exc) is errors.ConnectionClosedError
                and method in self._pyroIdempotent
            ):
                resent = True  # (it may run twice: that is what @idempotent allows)
            elif retries > 0 and isinstance(
                exc, (errors.ConnectionClosedError, errors.TimeoutError)
            ):
                retries -= 1
            elif (
                not resolved_again
                and type(exc) is errors.CommunicationError
                and self._pyroUri.protocol != "PYRO"
            ):
                resolved_again = True  # (a new connection resolves the name anew)
            else:
                raise exc
            try:
                return self._pyroCall(method, args, kwargs, object_id, flags)
            except errors.CommunicationError as again:
                exc = again

    def _pyroFollowing(
        self,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        object_id: str | None,
        flags: int,
        refused: errors.NotActiveError,
    ) -> Any:
        """A broker of the pair refused the call (it did not run): call again, at the active
        broker; while none is active yet (a pair just started), again a moment later, for up to
        failover.failover_wait()."""
        deadline = time.monotonic() + failover.failover_wait()
        while self._pyroFollow(refused):
            try:
                return self._pyroCall(method, args, kwargs, object_id, flags)
            except errors.NotActiveError as again:
                refused = again
                if time.monotonic() >= deadline:
                    break
                if not refused.active:
                    time.sleep(failover.PAUSE)
        raise refused

    def _pyroFollow(self, refused: errors.NotActiveError) -> bool:
        """A broker of the pair refused a call (it is not active): drop the connection and ask
        the named active broker first. False when this proxy has no other address to go to."""
        if not self._pyroPaired:
            return False
        failover.note_active(self._pyroTarget.locations, refused.active)
        with self._Proxy__lock:
            conn = self._pyroConnection
            if conn is None or (refused.active and conn.endpoint == f"tcp://{refused.active}"):
                return True  # already gone, or already to the active one (another call moved)
            self._pyroConnection = None
        conn.close(str(refused))
        return True


_resender: Any = None  # a small thread pool, made on first use: calls sent again after a failover
_resender_lock = threading.Lock()


def following(
    proxy: ProxyRecovery,
    method: str,
    args: tuple[Any, ...] | list[Any],
    kwargs: dict[str, Any],
    flags: int,
    deliver: Deliver,
) -> Deliver:
    """`deliver`, for a call to a broker pair that returns at once (a future): a call a broker
    refused as not active, one its closed connection never sent, or one of an @idempotent method
    lost with its broker, is sent again once (from another thread: this callback runs in the
    thread reading replies, under its lock)."""
    resend = not flags & wire.FLAG_BATCH and method in proxy._pyroIdempotent

    def again(refused: errors.NotActiveError | None) -> None:
        try:
            if refused is not None:
                proxy._pyroFollow(refused)
            proxy._pyroCall(method, args, kwargs, None, flags, deliver, follow=False)
        except BaseException as exc:
            deliver(None, exc)

    def outcome(value: Any, error: BaseException | None) -> None:
        refused = error if isinstance(error, errors.NotActiveError) else None
        again_ok = isinstance(error, StaleConnection) or (  # never sent, or may run twice
            resend and type(error) is errors.ConnectionClosedError
        )
        if refused is None and not again_ok:
            deliver(value, error)
            return
        global _resender
        with _resender_lock:
            if _resender is None:
                from concurrent.futures import ThreadPoolExecutor

                _resender = ThreadPoolExecutor(2, thread_name_prefix="zpyro-resend")
        _resender.submit(again, refused)

    return outcome
