"""The broker's announcements as server-sent events, for every open console.

The NameWatcher hands each announcement over in its own thread; the feed moves it to the event
loop and into every subscriber's bounded queue. A subscriber that falls behind (a stalled
browser tab) is not allowed to grow memory: its queue is emptied and it is sent one ``resync``
event, after which the page fetches the whole picture again. Nothing is dropped without a word.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from zpyro import announce

QUEUE_SIZE = 256  # events one subscriber may have pending before it is told to resync
KEEPALIVE_SECONDS = 15.0  # an SSE comment this often keeps proxies from closing an idle stream


class Subscriber:
    __slots__ = ("queue", "lagged")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self.lagged = False


def sse(kind: str, body: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def visible(ann: announce.Announcement, exposed: re.Pattern[str] | None) -> dict[str, Any] | None:
    """The announcement as the console may see it: only exposed names (None: nothing left)."""
    body = dict(ann.body)
    body.update(kind=ann.kind, epoch=ann.epoch, seq=ann.seq)
    if exposed is None:
        return body
    if "name" in body:
        return body if exposed.match(body["name"]) else None
    if "names" in body:
        names = [n for n in body["names"] if exposed.match(n)]
        if not names:
            return None
        body["names"] = names
    return body


class Feed:
    def __init__(self, exposed: re.Pattern[str] | None) -> None:
        self.exposed = exposed
        self._subscribers: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = asyncio.Event()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def announce(self, ann: announce.Announcement) -> None:
        """Any thread (the watcher's): pass an announcement on to the loop."""
        loop = self.loop
        if loop is None or not self._subscribers:
            return
        body = visible(ann, self.exposed)
        if body is None:
            return
        try:
            loop.call_soon_threadsafe(self._fan_out, sse(ann.kind, body))
        except RuntimeError:  # the loop has closed: nobody listens any more
            pass

    def _fan_out(self, event: bytes) -> None:
        for sub in self._subscribers:
            if sub.lagged:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.lagged = True  # the stream sends "resync" next, in place of what it missed

    async def events(self, hello: dict[str, Any]) -> AsyncIterator[bytes]:
        """One subscriber's stream: a hello, then announcements, until the gateway stops."""
        sub = Subscriber()
        self._subscribers.add(sub)
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            yield sse("hello", hello)
            while not self.stopping.is_set():
                if sub.lagged:
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                    sub.lagged = False
                    yield sse("resync", {"why": "this console fell behind the announcements"})
                    continue
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait(
                    {getter, stopping},
                    timeout=KEEPALIVE_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
                    if not done:
                        yield b": keepalive\n\n"
        finally:
            stopping.cancel()
            self._subscribers.discard(sub)
