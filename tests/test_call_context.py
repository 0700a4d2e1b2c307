"""Call context: ``zpyro.current_context`` (who calls, call id, correlation id) and annotations
that travel both ways."""

from __future__ import annotations

import concurrent.futures
import copy
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServedDaemon, scaled, serving

import zpyro
from zpyro import aio

pytestmark = pytest.mark.timeout(60)

ctx = zpyro.current_context


def snapshot() -> dict[str, Any]:
    return {
        "client": ctx.client_id,
        "call_id": ctx.call_id,
        "object_id": ctx.object_id,
        "method": ctx.method,
        "correlation_id": ctx.correlation_id,
        "annotations": dict(ctx.annotations),
        "client_key": ctx.client_key,
        "active": ctx.active,
    }


@zpyro.expose
class Backend:
    def stock(self, item: str) -> dict[str, Any]:
        return {"item": item, **snapshot()}


@zpyro.expose
class Middle:
    def __init__(self, backend_uri: zpyro.URI) -> None:
        self.backend_uri = backend_uri

    async def lookup(self, item: str) -> list[Any]:
        """Served on the daemon's event loop; its nested call goes through an aio.Proxy."""
        mine = snapshot()
        async with aio.Proxy(self.backend_uri) as backend:
            return [mine, await backend.stock(item)]


@zpyro.expose
class Frontend:
    def __init__(self, middle_uri: zpyro.URI, backend_uri: zpyro.URI) -> None:
        self.middle_uri = middle_uri
        self.backend_uri = backend_uri

    def order(self, item: str) -> list[Any]:
        mine = snapshot()
        with zpyro.Proxy(self.middle_uri) as middle:
            return [mine, *middle.lookup(item)]

    def start_chain(self, item: str) -> list[Any]:
        """A server may start a chain itself: its nested calls carry the id it sets."""
        ctx.correlation_id = "chain-started-by-frontend"
        with zpyro.Proxy(self.backend_uri) as backend:
            return [snapshot(), backend.stock(item)]

    def whoami(self) -> dict[str, Any]:
        return snapshot()

    def annotated(self) -> dict[str, Any]:
        ctx.response_annotations["served_by"] = "frontend-1"
        ctx.response_annotations["call_id"] = ctx.call_id
        ctx.response_annotations["echo"] = ctx.annotations.get("client_version")
        return ctx.annotations

    async def annotated_async(self) -> str:
        ctx.response_annotations["async"] = True
        return "ok"

    def stream_annotated(self) -> Iterator[int]:
        ctx.response_annotations["streamed"] = "yes"
        return iter(range(5))

    @zpyro.oneway
    def oneway_note(self, box: list[Any]) -> None:
        pass


@pytest.fixture
def chain() -> Iterator[tuple[zpyro.URI, zpyro.URI, zpyro.URI]]:
    """frontend (daemon A) -> middle (daemon B, async def) -> backend (daemon C)."""
    with serving() as a, serving() as b, serving() as c:
        backend_uri = c.register(Backend(), "ctx.backend")
        middle_uri = b.register(Middle(backend_uri), "ctx.middle")
        frontend_uri = a.register(Frontend(middle_uri, backend_uri), "ctx.frontend")
        yield frontend_uri, middle_uri, backend_uri


@pytest.fixture(autouse=True)
def _no_correlation_id_left() -> Iterator[None]:
    yield
    ctx.correlation_id = None


def test_outside_a_call_nothing_is_set() -> None:
    assert ctx.active is False
    assert ctx.client is None and ctx.call_id is None and ctx.method is None
    assert ctx.client_id is None and ctx.client_sock_addr is None and ctx.seq is None
    assert "not in a call" in repr(ctx)
    with pytest.raises(AttributeError):
        ctx.no_such_field  # noqa: B018
    with pytest.raises(AttributeError, match="read-only"):
        ctx.client = b"forged"


def test_who_is_calling(chain: Any) -> None:
    frontend_uri, _, _ = chain
    with zpyro.Proxy(frontend_uri) as a, zpyro.Proxy(frontend_uri) as b:
        first, second, other = a.whoami(), a.whoami(), b.whoami()
    assert first["active"] is True
    assert (first["object_id"], first["method"]) == ("ctx.frontend", "whoami")
    assert isinstance(first["client"], bytes) and first["client"]
    assert first["client"] == second["client"]  # the same proxy connection
    assert other["client"] != first["client"]  # another proxy: another identity
    assert first["call_id"] != second["call_id"] and first["call_id"] > 0
    assert first["client_key"] is None  # no CURVE here
    assert first["annotations"] == {}
    # the client sent no correlation id: the served call has one generated (as in Pyro4)
    assert (
        uuid.UUID(first["correlation_id"]) and first["correlation_id"] != second["correlation_id"]
    )


def test_correlation_id_travels_down_a_chain_of_nested_calls(chain: Any) -> None:
    frontend_uri, _, _ = chain
    correlation_id = str(uuid.uuid4())
    ctx.correlation_id = correlation_id
    assert ctx.active is False  # setting it in a client does not make this a served call
    with zpyro.Proxy(frontend_uri) as p:
        at_a, at_b, at_c = p.order("teapot")
    assert [s["correlation_id"] for s in (at_a, at_b, at_c)] == [correlation_id] * 3
    assert [s["object_id"] for s in (at_a, at_b, at_c)] == [
        "ctx.frontend",
        "ctx.middle",
        "ctx.backend",
    ]
    assert at_c["item"] == "teapot"
    # each hop is a call of its own, from its own caller
    assert len({s["client"] for s in (at_a, at_b, at_c)}) == 3


def test_without_a_correlation_id_one_is_generated_for_the_chain(chain: Any) -> None:
    frontend_uri, _, _ = chain
    with zpyro.Proxy(frontend_uri) as p:
        at_a, at_b, at_c = p.order("cup")
    generated = at_a["correlation_id"]
    assert uuid.UUID(generated)  # made by the first daemon, as Pyro4 does
    assert [s["correlation_id"] for s in (at_a, at_b, at_c)] == [generated] * 3
    assert ctx.correlation_id is None  # the client still has none


def test_a_server_can_start_a_chain(chain: Any) -> None:
    frontend_uri, _, _ = chain
    with zpyro.Proxy(frontend_uri) as p:
        at_a, at_c = p.start_chain("saucer")
        assert at_a["correlation_id"] == at_c["correlation_id"] == "chain-started-by-frontend"
        # it was the served call's context: the next call starts without it
        assert p.whoami()["correlation_id"] != "chain-started-by-frontend"
    assert ctx.correlation_id is None  # nothing leaked into the client


def test_correlation_id_is_per_thread_and_goes_with_futures(chain: Any) -> None:
    frontend_uri, _, _ = chain
    seen: dict[str, Any] = {}

    def client(name: str) -> None:
        ctx.correlation_id = f"id-of-{name}"
        with zpyro.Proxy(frontend_uri) as p:
            seen[name] = [s["correlation_id"] for s in p.order(name)]
            with zpyro.asyncproxy(copy.copy(p)) as ap:
                seen[name + "-future"] = ap.whoami().result(timeout=scaled(5))["correlation_id"]

    threads = [threading.Thread(target=client, args=(n,)) for n in ("t1", "t2", "t3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(15))
    for name in ("t1", "t2", "t3"):
        assert seen[name] == [f"id-of-{name}"] * 3
        assert seen[name + "-future"] == f"id-of-{name}"
    assert ctx.correlation_id is None  # this thread never set one


def test_correlation_id_from_an_asyncio_client(chain: Any) -> None:
    import asyncio

    frontend_uri, _, _ = chain

    async def one(name: str) -> list[Any]:
        ctx.correlation_id = name  # a task has its own context
        async with aio.Proxy(frontend_uri) as p:
            return [s["correlation_id"] for s in await p.order(name)]

    async def main() -> list[Any]:
        ctx.correlation_id = "parent"  # the tasks inherit it, then set their own
        results = await asyncio.gather(one("task-a"), one("task-b"))
        assert ctx.correlation_id == "parent"  # unchanged by the tasks
        return results

    assert asyncio.run(main()) == [["task-a"] * 3, ["task-b"] * 3]


class VersionedProxy(zpyro.Proxy):
    """Sends an annotation of its own with every call, and collects what replies carry."""

    def __init__(self, uri: Any) -> None:
        super().__init__(uri)
        self._pyroReplies: list[tuple[dict[str, Any], int]] = []

    def _pyroAnnotations(self) -> dict[str, Any]:
        return {**super()._pyroAnnotations(), "client_version": "2.1"}

    def _pyroResponseAnnotations(self, annotations: dict[str, Any], msgtype: int) -> None:
        super()._pyroResponseAnnotations(annotations, msgtype)
        self._pyroReplies.append((annotations, msgtype))


@pytest.mark.parametrize("serializer", ["serpent", "json", "msgpack"])
def test_annotations_travel_both_ways(chain: Any, serializer: str) -> None:
    frontend_uri, _, _ = chain
    ctx.correlation_id = "corr-1"
    with VersionedProxy(frontend_uri) as p:
        p._pyroSerializer = serializer
        sent = p.annotated()
        assert sent == {"client_version": "2.1", "correlation_id": "corr-1"}
        annotations, msgtype = p._pyroReplies[-1]
        assert msgtype == zpyro.message.MSG_RESULT  # (Pyro's second argument)
        assert annotations == {
            "served_by": "frontend-1",
            "call_id": annotations["call_id"],
            "echo": "2.1",
        }
        assert p._pyroLastResponseAnnotations == annotations  # the default hook keeps them
        assert ctx.response_annotations == annotations  # and so does the context, as in Pyro


def test_a_call_without_response_annotations_leaves_the_last_ones(chain: Any) -> None:
    frontend_uri, _, _ = chain
    with VersionedProxy(frontend_uri) as p:
        p.annotated()
        count = len(p._pyroReplies)
        p.whoami()  # fills none: the hook is not called
        assert len(p._pyroReplies) == count


def test_response_annotations_from_async_methods_futures_batches_and_streams(chain: Any) -> None:
    frontend_uri, _, _ = chain
    with VersionedProxy(frontend_uri) as p:
        assert p.annotated_async() == "ok"
        assert p._pyroLastResponseAnnotations == {"async": True}

        assert list(p.stream_annotated()) == [0, 1, 2, 3, 4]
        assert p._pyroLastResponseAnnotations == {"streamed": "yes"}

        b = zpyro.BatchProxy(p)
        b.whoami()
        b.annotated()
        whoami, sent = b()
        assert whoami["annotations"]["client_version"] == "2.1"
        assert p._pyroLastResponseAnnotations["served_by"] == "frontend-1"

        p._pyroAsync()
        futures = [p.annotated() for _ in range(10)]
        concurrent.futures.wait(futures, timeout=scaled(5))
        assert all(f.result()["client_version"] == "2.1" for f in futures)
        served = [a["call_id"] for a, _ in p._pyroReplies[-10:]]
        assert len(set(served)) == 10  # each future's reply carried its own call's annotations
        assert {msgtype for _, msgtype in p._pyroReplies} == {zpyro.message.MSG_RESULT}


def test_annotations_reach_oneway_calls(chain: Any) -> None:
    frontend_uri, _, _ = chain
    seen: list[Any] = []
    done = threading.Event()

    @zpyro.expose
    class Sink:
        @zpyro.oneway
        def note(self) -> None:
            seen.append(snapshot())
            done.set()

    with serving() as d:
        uri = d.register(Sink(), "ctx.sink")
        ctx.correlation_id = "oneway-corr"
        with VersionedProxy(uri) as p:
            assert p.note() is None
            assert done.wait(scaled(5))
    assert seen[0]["annotations"] == {"client_version": "2.1", "correlation_id": "oneway-corr"}
    assert seen[0]["correlation_id"] == "oneway-corr"


def test_context_is_reset_between_calls_served_by_the_same_thread() -> None:
    @zpyro.expose
    class Peek:
        def peek(self) -> Any:
            return [ctx.correlation_id, dict(ctx.response_annotations)]

        def set_some(self) -> None:
            ctx.response_annotations["left"] = "over"

    with serving(threadpool_size=1) as d:
        uri = d.register(Peek(), "ctx.peek")
        with zpyro.Proxy(uri) as p:
            ctx.correlation_id = "first"
            assert p.peek() == ["first", {}]
            p.set_some()
            ctx.correlation_id = None
            generated, left = p.peek()
            assert generated != "first" and left == {}


def test_served_objects_see_their_own_daemon_context(served: ServedDaemon) -> None:
    uri = served.register(
        Frontend(zpyro.URI("PYRO:x@127.0.0.1:1"), zpyro.URI("PYRO:y@127.0.0.1:1"))
    )
    with zpyro.Proxy(uri) as p:
        info = p.whoami()
    assert info["object_id"] == uri.object and repr(ctx).startswith("<zpyro.current_context")
