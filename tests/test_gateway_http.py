"""The gateway's HTTP interface, through a real HTTP client (httpx) against ``python -m
zpyro.gateway``, a real broker and a real daemon: Pyro's URLs, parameters, headers, status codes
and JSON; keys, CORS, oneway, correlation ids, streams, pools, names that come and go.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import eventually, scaled
from gateway_support import WAIT, Cluster, processes, start_gateway

import zpyro

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with processes() as spawn:
        made = Cluster(spawn)
        try:
            yield made
        finally:
            made.close()


@pytest.fixture
def http(cluster: Cluster) -> Iterator[httpx.Client]:
    with cluster.gateway.client() as client:
        yield client


def pyro_error(response: httpx.Response) -> dict[str, Any]:
    """Pyro's JSON form of an exception (checks the shape on the way)."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["__exception__"] is True
    assert isinstance(body["__class__"], str) and isinstance(body["args"], list)
    assert isinstance(body["attributes"], dict)
    return body


# -- calls, parameters, results -------------------------------------------------------------------


def test_get_with_query_parameters_returns_the_json_result(http: httpx.Client) -> None:
    r = http.get("/pyro/http.things/pair", params={"a": "x", "b": "y"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == ["x", "y"]
    assert http.get("/pyro/http.things/echo").json() == "?"  # no parameters: the default


def test_post_with_a_form_body_and_with_a_json_body(http: httpx.Client) -> None:
    r = http.post("/pyro/http.things/pair", data={"a": "form", "b": "body"})
    assert (r.status_code, r.json()) == (200, ["form", "body"])
    r = http.post("/pyro/http.things/add", json={"args": [2, 3]})
    assert (r.status_code, r.json()) == (200, 5)  # typed: numbers stay numbers
    r = http.post("/pyro/http.things/pair", json={"args": [[1, {"k": None}]], "kwargs": {"b": 1.5}})
    assert r.json() == [[1, {"k": None}], 1.5]
    r = http.post("/pyro/http.things/pair?b=query", json={"args": ["json"]})
    assert r.json() == ["json", "query"]  # query and body parameters together


def test_a_parameter_given_twice_is_a_list_as_with_pyro(http: httpx.Client) -> None:
    r = http.get("/pyro/http.things/echo?x=1&x=2")
    assert r.json() == ["1", "2"]


def test_properties_meta_and_results_json_does_not_know(http: httpx.Client) -> None:
    assert http.get("/pyro/http.things/motto").json() == "objects over HTTP"
    meta = http.get("/pyro/http.things/$meta")
    assert meta.status_code == 200
    body = meta.json()
    assert "echo" in body["methods"] and "_hidden" not in body["methods"]
    assert body["attributes"] == ["motto"] and body["oneway"] == ["note"]
    assert http.get("/pyro/http.things/blob").json() == {
        "data": "AAF6cHlybw==",
        "encoding": "base64",
    }
    assert http.get("/pyro/http.things/odd_numbers").json() == ["NaN", "Infinity", 1.5]


def test_500_carries_the_remote_exception_as_pyro_does(http: httpx.Client) -> None:
    r = http.get("/pyro/http.things/fail")
    assert r.status_code == 500
    body = pyro_error(r)
    assert body["__class__"] == "builtins.ValueError"
    assert body["args"] == ["failed on purpose"]
    traceback = "".join(body["attributes"]["_pyroTraceback"])
    assert "ValueError: failed on purpose" in traceback and "in fail" in traceback
    r = http.get("/pyro/http.things/add", params={"a": "1"})  # a missing argument: TypeError
    assert r.status_code == 500 and pyro_error(r)["__class__"] == "builtins.TypeError"


def test_403_for_names_not_exposed_and_404_for_unknown_names_and_methods(
    http: httpx.Client,
) -> None:
    r = http.get("/pyro/hidden.things/echo")  # registered, but the default pattern is http\.
    assert r.status_code == 403 and pyro_error(r)["__class__"] == "zpyro.errors.SecurityError"
    r = http.get("/pyro/Pyro.NameServer/list")  # the name server's internals stay hidden
    assert r.status_code == 403
    r = http.get("/pyro/http.nobody/echo")
    assert r.status_code == 404 and pyro_error(r)["__class__"] == "zpyro.errors.NamingError"
    r = http.get("/pyro/http.things/nosuch")
    assert r.status_code == 404 and pyro_error(r)["__class__"] == "builtins.AttributeError"
    r = http.get("/pyro/http.things/_hidden")
    assert r.status_code == 404
    assert http.get("/pyro/http.things").status_code == 404  # no method in the URL
    assert http.get("/nowhere").status_code == 404
    r = http.put("/pyro/http.things/echo")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    assert http.head("/pyro/http.things/note", params={"x": "by HEAD"}).status_code == 405
    assert "by HEAD" not in http.get("/pyro/http.things/noted").json()  # it never ran


def test_the_correlation_id_is_made_or_taken_and_reaches_the_daemon(http: httpx.Client) -> None:
    r = http.get("/pyro/http.things/correlation")
    made = r.headers["x-pyro-correlation-id"]
    assert uuid.UUID(made) and r.json() == made  # the daemon saw the id the caller got
    mine = str(uuid.uuid4())
    r = http.get("/pyro/http.things/correlation", headers={"X-Pyro-Correlation-Id": mine})
    assert r.headers["x-pyro-correlation-id"] == mine and r.json() == mine
    r = http.get("/pyro/http.things/fail", headers={"X-Pyro-Correlation-Id": "trace-7"})
    assert r.headers["x-pyro-correlation-id"] == "trace-7"  # on errors too


def test_oneway_header_returns_at_once_with_an_empty_body(
    cluster: Cluster, http: httpx.Client
) -> None:
    seconds = scaled(3)
    start = time.monotonic()
    r = http.get(
        "/pyro/http.things/sleep", params={"seconds": seconds}, headers={"X-Pyro-Options": "oneway"}
    )
    assert r.status_code == 200 and r.content == b""
    assert time.monotonic() - start < seconds  # did not wait for the method
    # a method that is oneway by its metadata: also an empty 200; it still runs
    cluster.things.noted_event.clear()
    r = http.get("/pyro/http.things/note", params={"x": "hello"})
    assert r.status_code == 200 and r.content == b""
    assert cluster.things.noted_event.wait(WAIT)
    assert "hello" in http.get("/pyro/http.things/noted").json()


def test_many_requests_at_once_share_one_connection_and_overlap(http: httpx.Client) -> None:
    """20 calls of a 0.5 s method at once take far less than 20 x 0.5 s: they run together."""
    seconds = 0.5
    results: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=scaled(30)) as c:
            results.append(
                c.get("/pyro/http.things/sleep", params={"seconds": seconds}).status_code
            )

    threads = [threading.Thread(target=one) for _ in range(20)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(60))
    took = time.monotonic() - start
    assert results == [200] * 20
    assert took < 20 * seconds / 2, f"20 overlapping calls took {took:.1f} s"


# -- streams --------------------------------------------------------------------------------------


def test_a_generator_streams_as_json_lines(http: httpx.Client) -> None:
    with http.stream("GET", "/pyro/http.things/count", params={"n": 1000}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        items = [json.loads(line) for line in r.iter_lines() if line]
    assert items == list(range(1000))
    assert http.get("/pyro/http.things/count", params={"n": 0}).text == ""


def test_an_error_inside_a_stream_is_its_last_line(http: httpx.Client) -> None:
    lines = http.get("/pyro/http.things/count_then_fail", params={"n": 3}).text.splitlines()
    assert [json.loads(x) for x in lines[:3]] == [0, 1, 2]
    last = json.loads(lines[3])
    assert last["__exception__"] is True and last["__class__"] == "builtins.KeyError"
    assert len(lines) == 4


def test_a_stream_is_bounded_and_a_client_that_goes_away_frees_the_generator(
    cluster: Cluster, http: httpx.Client
) -> None:
    things = cluster.things
    things.streams_closed.clear()
    with things.lock:
        things.produced = 0
    with http.stream("GET", "/pyro/http.things/endless", params={"size": 10}) as r:
        lines = r.iter_lines()
        for _ in range(5):
            assert len(next(lines)) == 10 * 1024 + 2  # a JSON string of 10 KB
        # the client stops reading: the gateway stops fetching once the pipes are full
        last = -1
        deadline = time.monotonic() + WAIT
        while True:
            with things.lock:
                now = things.produced
            if now == last or time.monotonic() > deadline:
                break
            last = now
            time.sleep(0.5)  # how far the generator gets while the client reads nothing
        assert 5 <= now < 3000, f"the daemon made {now} items for a client that read 5"
    # the client went away (connection closed): the daemon's generator is closed
    assert things.streams_closed.wait(WAIT), "the generator was not closed"


# -- keys, CORS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(cluster: Cluster) -> Iterator[Any]:
    """A second gateway for the same cluster with a key from the environment and CORS on."""
    with processes() as spawn:
        yield start_gateway(
            spawn,
            cluster.broker,
            "--cors",
            "http://app.example",
            env={"ZPYRO_GATEWAY_KEY": "s3cret key"},
        )


def test_the_gateway_key_as_header_or_query_parameter(keyed: Any) -> None:
    with keyed.client() as http:
        r = http.get("/pyro/http.things/echo", params={"x": "a"})
        assert r.status_code == 403 and "key" in pyro_error(r)["args"][0]
        r = http.get("/pyro/http.things/echo", headers={"X-Pyro-Gateway-Key": "wrong"})
        assert r.status_code == 403
        r = http.get("/pyro/http.things/echo", headers={"X-Pyro-Gateway-Key": "s3cret key"})
        assert (r.status_code, r.json()) == (200, "?")
        r = http.get("/pyro/http.things/pair", params={"a": 1, "$key": "s3cret key"})
        assert (r.status_code, r.json()) == (200, ["1", "default"])  # $key is no argument
        assert http.get("/console/state").status_code == 403
        state = http.get("/console/state", params={"$key": "s3cret key"})
        assert state.status_code == 200 and state.json()["gateway"]["key_required"] is True


def test_cors_preflight_and_responses_for_the_allowed_origin_only(keyed: Any) -> None:
    with keyed.client() as http:
        pre = http.options(
            "/pyro/http.things/echo",
            headers={
                "Origin": "http://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-pyro-gateway-key",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://app.example"
        assert "POST" in pre.headers["access-control-allow-methods"]
        assert "x-pyro-gateway-key" in pre.headers["access-control-allow-headers"].lower()
        r = http.get(
            "/pyro/http.things/echo",
            headers={"Origin": "http://app.example", "X-Pyro-Gateway-Key": "s3cret key"},
        )
        assert r.headers["access-control-allow-origin"] == "http://app.example"
        assert "x-pyro-correlation-id" in r.headers["access-control-expose-headers"].lower()
        bad = http.options(
            "/pyro/http.things/echo",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


def test_no_cors_headers_unless_asked_for(http: httpx.Client) -> None:
    r = http.get("/pyro/http.things/echo", headers={"Origin": "http://app.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


# -- the name server, pools, the console's sources ------------------------------------------------


def test_a_name_registered_later_is_callable_without_a_restart(
    cluster: Cluster, http: httpx.Client
) -> None:
    assert http.get("/pyro/http.later/echo").status_code == 404
    cluster.ns.register("http.later", cluster.uri)
    eventually(
        lambda: http.get("/pyro/http.later/echo", params={"x": 1}).status_code == 200,
        15,
        "the gateway sees http.later",
    )
    cluster.ns.remove("http.later")
    eventually(
        lambda: http.get("/pyro/http.later/echo").status_code == 404, 15, "http.later is gone"
    )


def test_a_brokered_pool_is_called_and_shown_with_its_free_slots(
    cluster: Cluster, http: httpx.Client, start_worker: Any
) -> None:
    worker = start_worker(cluster.broker, "http.jobs", capacity=3)
    eventually(
        lambda: http.get("/pyro/http.jobs/work", params={"x": "a"}).status_code == 200,
        15,
        "the gateway sees the pool",
    )
    assert http.get("/pyro/http.jobs/work", params={"x": "a"}).json() == [worker.pid, "a"]
    state = http.get("/console/state").json()
    assert state["gateway"]["ready"] is True and state["pools_error"] is None
    pool = state["pools"]["http.jobs"]
    assert (pool["capacity"], pool["free"], pool["queued"]) == (3, 3, 0)
    assert [d["pid"] for d in pool["daemons"]] == [worker.pid]
    names = {n["name"]: n for n in state["names"]}
    assert "http.things" in names and "hidden.things" not in names
    assert names["http.things"]["metadata"] == ["kind:test"]


def test_the_event_feed_sends_announcements_of_exposed_names(
    cluster: Cluster, http: httpx.Client
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with http.stream("GET", "/console/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = ""
        registered = False
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                seen.append((kind, json.loads(line[6:])))
                if kind == "hello" and not registered:
                    registered = True  # the stream is open: now make news
                    cluster.ns.register("hidden.news", cluster.uri)
                    cluster.ns.register("http.news", cluster.uri)
                if kind == "name.registered" and seen[-1][1]["name"] == "http.news":
                    break
    cluster.ns.remove("http.news")
    cluster.ns.remove("hidden.news")
    names = [body.get("name") for kind, body in seen if kind == "name.registered"]
    assert names == ["http.news"]  # hidden.news was not shown
    assert seen[0][0] == "hello"


def test_requests_while_the_name_server_is_not_reached_are_503(start_broker: Any) -> None:
    """A gateway started before its broker answers 503, then serves once the broker is up."""
    import socket

    with socket.socket() as s:  # a free port pair for a broker that is not running yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        pub_port = s.getsockname()[1]
    with processes() as spawn:
        from gateway_support import GatewayProcess, gateway_args

        gateway = GatewayProcess(
            spawn(gateway_args(port, pub_port), {"ZPYRO_CONNECT_TIMEOUT": "0.5"})
        )
        assert gateway.ready_line.rstrip().endswith("names=unreachable")
        with gateway.client() as http:
            r = http.get("/pyro/http.things/echo")
            assert r.status_code == 503 and r.headers["retry-after"]
            error = pyro_error(r)
            assert error["__class__"] == "zpyro.errors.CommunicationError"
            assert "has not been reached yet" in error["args"][0]
            assert http.get("/console/state").json()["gateway"]["ready"] is False
            broker = start_broker(port=port, pub_port=pub_port)
            ns = zpyro.locate_ns("127.0.0.1", broker.port)
            with ns:
                ns.register("http.echo", "PYRO:x@127.0.0.1:1")
            eventually(
                lambda: http.get("/console/state").json()["gateway"]["ready"],
                15,
                "the gateway reaches the broker",
            )
