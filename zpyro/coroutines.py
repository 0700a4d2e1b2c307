"""A daemon's ``async def`` methods: run on an event loop, answered when they are done.

The loop is the daemon's own (a thread started on first need) or, for an ``aio.Daemon``, the
loop serving it (``loop`` is set while it serves). A served coroutine is never awaited by the
thread that received its call: its reply goes out through ``send`` when it finishes, so many
slow awaits proceed at once without tying up worker threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from .dispatch import Finish


class Coroutines:
    def __init__(self, send: Callable[[bytes, list[Any]], None]) -> None:
        self._send = send  # send(client, reply frames), from any thread
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None  # set only for a loop we own
        self._lock = threading.Lock()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                    loop.close()

                self._thread = threading.Thread(target=run, name="zpyro-daemon-aio", daemon=True)
                self._thread.start()
                ready.wait(5.0)
                self.loop = loop
            return self.loop

    def defer(self, client: bytes, coro: Any, finish: Finish) -> None:
        """Run a served coroutine on the loop; its reply goes out when it is done."""

        def done(future: Any) -> None:
            try:
                result, error = future.result(), None
            except BaseException as exc:
                result, error = None, exc
            reply = finish(result, error)
            if reply is not None:
                self._send(client, reply)

        asyncio.run_coroutine_threadsafe(coro, self._event_loop()).add_done_callback(done)

    def run_blocking(self, coro: Any) -> Any:
        """For the rare coroutine that must finish in place (inside a batch)."""
        return asyncio.run_coroutine_threadsafe(coro, self._event_loop()).result()

    def close(self) -> None:
        """Stop the loop, if it is our own (never the loop serving an aio.Daemon)."""
        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(2.0)
