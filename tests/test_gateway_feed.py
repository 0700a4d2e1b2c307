"""zpyro/gateway/feed.py: announcements to server-sent events, filtered, bounded, stoppable.
The feed is driven from a thread as the NameWatcher drives it; no sockets."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from typing import Any

import pytest
from conftest import scaled

from zpyro.announce import Announcement
from zpyro.gateway import feed as feedmod
from zpyro.gateway.feed import Feed, visible

pytestmark = pytest.mark.timeout(30)
EXPOSED = re.compile(r"http\.")


def ann(kind: str, seq: int, **body: Any) -> Announcement:
    return Announcement(kind, 7, seq, 1.5, body)


def parse(event: bytes) -> tuple[str, dict[str, Any]]:
    head, data = event.decode().strip().split("\n")
    return head.removeprefix("event: "), json.loads(data.removeprefix("data: "))


def test_only_exposed_names_are_visible() -> None:
    assert visible(ann("name.registered", 1, name="http.a", uri="u", metadata=[]), EXPOSED) == {
        "name": "http.a",
        "uri": "u",
        "metadata": [],
        "kind": "name.registered",
        "epoch": 7,
        "seq": 1,
    }
    assert visible(ann("name.removed", 2, name="Pyro.NameServer"), EXPOSED) is None
    joined = ann("daemon.joined", 3, daemon="d", names=["jobs", "http.jobs"], capacity=2)
    assert visible(joined, EXPOSED)["names"] == ["http.jobs"]  # type: ignore[index]
    assert visible(ann("daemon.left", 4, daemon="d", names=["jobs"], reason="x"), EXPOSED) is None
    assert visible(ann("broker.alive", 4), EXPOSED) == {
        "kind": "broker.alive",
        "epoch": 7,
        "seq": 4,
    }
    assert visible(ann("name.removed", 2, name="x"), None) is not None  # expose all


def test_announcements_from_another_thread_reach_a_subscriber_in_order() -> None:
    async def scenario() -> list[tuple[str, dict[str, Any]]]:
        feed = Feed(EXPOSED)
        feed.bind(asyncio.get_running_loop())
        stream = feed.events({"epoch": 7, "seq": 0})
        got = [parse(await stream.__anext__())]  # hello: the subscriber is in
        thread = threading.Thread(
            target=lambda: [
                feed.announce(ann("name.registered", n, name=f"http.n{n}", uri="u", metadata=[]))
                for n in range(1, 4)
            ]
        )
        thread.start()
        for _ in range(3):
            got.append(parse(await asyncio.wait_for(stream.__anext__(), scaled(5))))
        thread.join()
        feed.stopping.set()
        with pytest.raises(StopAsyncIteration):  # stopping ends the stream
            await asyncio.wait_for(stream.__anext__(), scaled(5))
        return got

    got = asyncio.run(scenario())
    assert got[0] == ("hello", {"epoch": 7, "seq": 0})
    assert [body["name"] for _, body in got[1:]] == ["http.n1", "http.n2", "http.n3"]


def test_a_subscriber_that_falls_behind_is_told_to_resync_not_buffered(monkeypatch: Any) -> None:
    monkeypatch.setattr(feedmod, "QUEUE_SIZE", 4)

    async def scenario() -> list[str]:
        feed = Feed(None)
        feed.bind(asyncio.get_running_loop())
        stream = feed.events({})
        await stream.__anext__()  # hello
        for n in range(1, 11):  # ten announcements while the subscriber reads nothing
            feed.announce(ann("name.removed", n, name=f"n{n}"))
        await asyncio.sleep(0)  # let the loop run the hand-overs (call_soon_threadsafe)
        await asyncio.sleep(0)
        kinds = [parse(await stream.__anext__())[0]]
        feed.announce(ann("name.removed", 11, name="n11"))
        kinds.append(parse(await asyncio.wait_for(stream.__anext__(), scaled(5)))[1]["name"])
        await stream.aclose()
        return kinds

    assert asyncio.run(scenario()) == ["resync", "n11"]


def test_an_idle_stream_sends_keepalive_comments(monkeypatch: Any) -> None:
    monkeypatch.setattr(feedmod, "KEEPALIVE_SECONDS", 0.05)

    async def scenario() -> bytes:
        feed = Feed(None)
        stream = feed.events({})
        await stream.__anext__()
        beat = await asyncio.wait_for(stream.__anext__(), scaled(5))
        await stream.aclose()
        return beat

    assert asyncio.run(scenario()) == b": keepalive\n\n"
