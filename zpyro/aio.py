"""asyncio faces of Proxy and Daemon: thin adapters over the same connection, codec and dispatch.

``aio.Proxy`` is a ``zpyro.Proxy`` whose calls are awaitable: each call goes through the same
pipelined connection as futures do and resolves an asyncio future of the running loop, so
``asyncio.gather`` over many calls on one proxy keeps them all in flight at once. Results that
arrive together reach the loop together: one wake-up of the loop for a burst of replies, not one
``call_soon_threadsafe`` per reply (as ``asyncio.wrap_future`` would do).

``aio.Daemon`` is a ``zpyro.Daemon`` served from inside a running loop: the loop watches the
daemon's socket and wake-up descriptor, plain methods run on the worker pool, and ``async def``
methods run on the serving loop itself.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Any, cast

from . import client, server
from .sockets import can_read
from .uri import URI
from .wire import GETATTR

__all__ = ["Daemon", "Proxy"]


class _Inbox:
    """Hands results from the thread that reads replies to the futures of one event loop."""

    __slots__ = ("_loop", "_items", "_scheduled", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # weak: the inbox must not keep its loop alive
        self._items: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self._scheduled = False  # a _drain is on its way to the loop

    def push(self, future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
        """Any thread. The first result of a burst wakes the loop; the others just queue."""
        self._items.append((future, value, error))
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop()
            try:
                if loop is not None:
                    loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: nobody awaits these any more
                pass

    def _drain(self) -> None:
        self._scheduled = False  # before draining: a result queued from now on schedules again
        items = self._items
        while items:
            future, value, error = items.popleft()
            if future.done():  # cancelled (e.g. by wait_for) while the call was out
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = weakref.WeakKeyDictionary()


def _inbox(loop: asyncio.AbstractEventLoop) -> _Inbox:
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _inboxes[loop] = _Inbox(loop)
    return inbox


class _AwaitableMethod:
    __slots__ = ("_owner", "_name")

    def __init__(self, owner: Proxy, name: str) -> None:
        self._owner = owner
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._owner._pyroAwait(self._name, args, kwargs)

    def __await__(self) -> Any:
        """``await p.prop`` before the proxy has its metadata: connect, then read the property."""
        return self._owner._pyroAwaitAttr(self._name).__await__()


class Proxy:
    """``async with aio.Proxy(uri) as p: await p.method(...)``."""

    def __init__(self, uri: str | URI) -> None:
        object.__setattr__(self, "_pyroProxy", client.Proxy(uri))

    async def _pyroConnect(self) -> None:
        """Connect and learn the metadata without blocking the loop."""
        proxy = self._pyroProxy
        if proxy._pyroConnection is None or not (proxy._pyroMethods or proxy._pyroAttrs):
            await asyncio.get_running_loop().run_in_executor(None, proxy._pyroGetMetadata)

    async def _pyroAwait(
        self, method: str, args: Any, kwargs: dict[str, Any], flags: int = 0
    ) -> Any:
        """Call `method`; `flags` (e.g. ``wire.FLAG_ONEWAY``) for this one call only."""
        proxy = self._pyroProxy
        if proxy._pyroConnection is None or not (proxy._pyroMethods or proxy._pyroAttrs):
            await self._pyroConnect()
        loop = asyncio.get_running_loop()
        if method in proxy._pyroOneway:
            conn = proxy._pyroConnection
            if conn is None or not conn.has_room():
                # a oneway call waits for room (zpyro.credit): in a worker thread, not the loop's
                return await loop.run_in_executor(None, proxy._pyroCall, method, args, kwargs)
        future = loop.create_future()
        push = _inbox(loop).push
        proxy._pyroSubmit(
            method, args, kwargs, flags, lambda value, error: push(future, value, error)
        )
        return await future

    async def _pyroAwaitAttr(self, name: str) -> Any:
        await self._pyroConnect()
        if name not in self._pyroProxy._pyroAttrs:
            raise AttributeError(f"remote object has no exposed property {name!r}")
        return await self._pyroAwait(GETATTR, (name,), {})

    def __getattr__(self, name: str) -> Any:
        proxy = self._pyroProxy
        if name.startswith("_pyro"):
            return getattr(proxy, name)  # _pyroTimeout, _pyroSerializer, _pyroOneway, ...
        if name.startswith("_"):
            raise AttributeError(name)
        if name in proxy._pyroAttrs:  # a property: awaitable value
            return self._pyroAwait(GETATTR, (name,), {})
        return _AwaitableMethod(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._pyroProxy, name, value)  # _pyro* settings go to the proxy underneath

    async def __aenter__(self) -> Proxy:
        await self._pyroConnect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._pyroProxy._pyroRelease()

    def __repr__(self) -> str:
        return f"<zpyro.aio.Proxy for {self._pyroProxy._pyroUri}>"


class Daemon(server.Daemon):
    """A Daemon served by the running loop: ``await daemon.serve_forever()``."""

    async def serve_forever(self) -> None:
        """Serve until shutdown() or until this task is cancelled."""
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[None] = loop.create_future()
        serving = self._serving
        self._coroutines.loop = loop  # async def methods run on this loop
        serving.stop.clear()
        router = serving.router
        # the router (wakes come through its back door), the waker of a brokered daemon
        ready: dict[Any, int] = {sock: 1 for sock in self.sockets}

        def on_readable() -> None:
            if serving.stop.is_set():
                if not stopped.done():
                    stopped.set_result(None)
                return
            serving.events(ready)
            # the zmq descriptor is edge-triggered: look again before waiting for the next edge
            if can_read(router) or serving.outbox:
                loop.call_soon(on_readable)

        # the ROUTER's monitor too (clients that went away): events() drains it at every turn
        fds = [sock if isinstance(sock, int) else cast(int, sock.fd) for sock in self.sockets]
        for fd in fds:
            loop.add_reader(fd, on_readable)
        loop.call_soon(on_readable)  # anything that arrived before we started watching
        try:
            await stopped
        finally:
            for fd in fds:
                loop.remove_reader(fd)
            self._coroutines.loop = None
