"""How clients spell and pick a broker pair, without processes: URIs with two addresses, NS_HOST
lists, the brokered daemon's address list, and the choice of the broker to talk to."""

from __future__ import annotations

from typing import Any

import pytest

import zpyro
from zpyro import errors
from zpyro.brokerlink import broker_endpoints
from zpyro.failover import Answer, choose, note_active
from zpyro.naming import ns_location
from zpyro.uri import URI

pytestmark = pytest.mark.timeout(30)


def test_a_uri_may_list_the_addresses_of_a_pair() -> None:
    uri = URI("PYRO:jobs@h1:9090,[::1]:9190")
    assert uri.locations == ("h1:9090", "[::1]:9190")
    assert uri.location == "h1:9090,[::1]:9190" and str(uri) == "PYRO:jobs@h1:9090,[::1]:9190"
    assert (uri.host, uri.port, uri.endpoint) == ("h1", 9090, "tcp://h1:9090")
    assert uri.endpoints == ("tcp://h1:9090", "tcp://[::1]:9190")
    assert URI(str(uri)) == uri
    name = URI("PYRONAME:jobs@h1:9090,h2:9090")
    assert name.locations == ("h1:9090", "h2:9090")
    single = URI("PYRO:x@./u:/tmp/a,b.sock")  # a comma in an ipc path is just a comma
    assert single.locations == ("./u:/tmp/a,b.sock",) and single.endpoints == (
        "ipc:///tmp/a,b.sock",
    )
    assert URI("PYRONAME:x").locations == () and URI("PYRONAME:x").endpoints == ()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("PYRO:x@h:1,h:1", "listed twice"),
        ("PYRO:x@h:1,./u:/tmp/s", "only tcp addresses"),
        ("PYRO:x@h:1,", "expected host:port"),
        ("PYRO:x@h:1,h2", "expected host:port"),
    ],
)
def test_bad_address_lists(text: str, why: str) -> None:
    with pytest.raises(errors.ZPyroError, match=why):
        URI(text)


@pytest.mark.parametrize(
    ("host", "port", "location"),
    [
        ("h1,h2", 9100, "h1:9100,h2:9100"),
        ("h1:9090, h2:9190", None, "h1:9090,h2:9190"),
        ("[::1]:9090,::1", 9190, "[::1]:9090,[::1]:9190"),
        ("h1", 9100, "h1:9100"),
        ("::1", 9100, "[::1]:9100"),
        ("h1:9100", 9999, "h1:9100"),
    ],
)
def test_ns_host_may_list_a_pair(host: str, port: int | None, location: str) -> None:
    assert ns_location(host, port) == location


def test_the_configured_ns_host_may_list_a_pair() -> None:
    zpyro.config.NS_HOST = "127.0.0.1:9100,127.0.0.1:9200"
    assert ns_location(None, None) == "127.0.0.1:9100,127.0.0.1:9200"
    assert broker_endpoints(True) == ["tcp://127.0.0.1:9100", "tcp://127.0.0.1:9200"]


@pytest.mark.parametrize(
    ("broker", "endpoints"),
    [
        ("tcp://h1:1", ["tcp://h1:1"]),
        ("h1:1,h2:2", ["tcp://h1:1", "tcp://h2:2"]),
        ("tcp://h1:1,tcp://h2:2", ["tcp://h1:1", "tcp://h2:2"]),
        ("PYRO:Pyro.NameServer@h1:1,h2:2", ["tcp://h1:1", "tcp://h2:2"]),
        ("ipc:///tmp/x,y.sock", ["ipc:///tmp/x,y.sock"]),
    ],
)
def test_a_brokered_daemon_takes_one_address_or_a_pair(broker: str, endpoints: list[str]) -> None:
    assert broker_endpoints(broker) == endpoints


def test_a_bad_broker_address_is_a_daemon_error() -> None:
    with pytest.raises(errors.DaemonError, match="bad broker address"):
        broker_endpoints("h1:1,h1:1")


def pair(state: str, peer: bool, role: str = "backup", active: str = "") -> dict[str, Any]:
    return {"role": role, "state": state, "peer": peer, "active": active}


def test_the_active_broker_is_chosen_at_once_wherever_it_is_listed() -> None:
    answers = [Answer("b", pair("passive", False)), Answer("p", pair("active", True, "primary"))]
    assert choose(answers, False) == (answers[1], False)
    assert choose([Answer("lone", None)], False) == (Answer("lone", None), False)  # no pair


def test_a_broker_that_lost_its_peer_is_chosen_only_when_none_is_active() -> None:
    lost = Answer("b", pair("passive", False))
    assert choose([lost], False) == (None, True)  # the other may still say it is active
    assert choose([lost, Answer("p", None, "refused")], True) == (lost, False)
    both = [Answer("b", pair("backup", False)), Answer("p", pair("primary", False, "primary"))]
    assert choose(both, True)[0] == both[1]  # neither active (both just started, cut): primary


def test_wait_while_a_passive_broker_still_hears_an_active_one_we_cannot_reach() -> None:
    answers = [Answer("p", None, "refused"), Answer("b", pair("passive", True, active="p"))]
    assert choose(answers, True) == (None, True)
    assert choose([Answer("p", None, "refused"), Answer("b", None, "timeout")], True) == (
        None,
        False,
    )


def test_note_active_only_remembers_an_address_of_the_pair() -> None:
    from zpyro import failover

    note_active(["x:1", "y:2"], "y:2")
    assert failover._ordered(["x:1", "y:2"]) == ["y:2", "x:1"]
    note_active(["x:1", "y:2"], "z:3")  # not one of them: ignored
    assert failover._ordered(["y:2", "x:1"]) == ["y:2", "x:1"]


def test_not_active_error_travels_with_the_active_address() -> None:
    exc = errors.NotActiveError("broker b is passive: the active one is p:1", "p:1")
    back = errors.payload_to_exception(errors.exception_to_payload(exc))
    assert isinstance(back, errors.NotActiveError) and isinstance(back, errors.CommunicationError)
    assert back.active == "p:1" and str(back) == "broker b is passive: the active one is p:1"
