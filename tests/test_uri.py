from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zpyro.errors import ZPyroError
from zpyro.uri import URI, endpoint_to_location, make_uri

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("text", "host", "port", "location", "endpoint", "ipv6"),
    [
        (
            "PYRO:obj@127.0.0.1:5555",
            "127.0.0.1",
            5555,
            "127.0.0.1:5555",
            "tcp://127.0.0.1:5555",
            False,
        ),
        (
            "PYRO:obj@localhost:5555",
            "localhost",
            5555,
            "localhost:5555",
            "tcp://localhost:5555",
            False,
        ),
        ("PYRO:obj@[::1]:5555", "::1", 5555, "[::1]:5555", "tcp://[::1]:5555", True),
        ("PYRO:obj@host:1", "host", 1, "host:1", "tcp://host:1", False),
        ("PYRO:obj@host:65535", "host", 65535, "host:65535", "tcp://host:65535", False),
    ],
)
def test_tcp_forms(
    text: str, host: str, port: int, location: str, endpoint: str, ipv6: bool
) -> None:
    uri = URI(text)
    assert (uri.protocol, uri.object, uri.host, uri.port) == ("PYRO", "obj", host, port)
    assert uri.sockpath is None and uri.inproc is None
    assert uri.location == location
    assert uri.endpoint == endpoint
    assert uri.is_ipv6 is ipv6
    assert str(uri) == text


def test_ipc_form() -> None:
    uri = URI("PYRO:obj@./u:/tmp/g.sock")
    assert uri.sockpath == "/tmp/g.sock"
    assert uri.sockname == "/tmp/g.sock"  # Pyro4 name
    assert uri.host is None and uri.port is None and uri.inproc is None
    assert uri.location == "./u:/tmp/g.sock"
    assert uri.endpoint == "ipc:///tmp/g.sock"
    assert str(uri) == "PYRO:obj@./u:/tmp/g.sock"


def test_inproc_form() -> None:
    uri = URI("PYRO:obj@./inproc:name")
    assert uri.inproc == "name"
    assert uri.host is None and uri.sockpath is None
    assert uri.location == "./inproc:name"
    assert uri.endpoint == "inproc://name"


def test_pyroname_without_location() -> None:
    uri = URI("PYRONAME:example.greeting")
    assert uri.protocol == "PYRONAME"
    assert uri.object == "example.greeting"
    assert uri.host is None and uri.port is None
    assert uri.location is None and uri.endpoint is None
    assert str(uri) == "PYRONAME:example.greeting"


def test_pyroname_with_location() -> None:
    uri = URI("PYRONAME:example.greeting@ns.local:9100")
    assert (uri.object, uri.host, uri.port) == ("example.greeting", "ns.local", 9100)
    assert uri.endpoint == "tcp://ns.local:9100"


def test_pyrometa() -> None:
    uri = URI("PYROMETA:tag1,region:eu")
    assert uri.protocol == "PYROMETA"
    assert uri.object == "tag1,region:eu"
    assert uri.metadata == frozenset({"tag1", "region:eu"})
    assert uri.location is None
    located = URI("PYROMETA:tag1,tag2@[::1]:9090")
    assert located.metadata == frozenset({"tag1", "tag2"})
    assert (located.host, located.port) == ("::1", 9090)
    assert URI("PYRO:obj@h:1").metadata == frozenset()


@pytest.mark.parametrize("prefix", ["pyro", "Pyro", "pYrO"])
def test_protocol_case_insensitive(prefix: str) -> None:
    uri = URI(f"{prefix}:obj@h:1")
    assert uri.protocol == "PYRO"
    assert str(uri) == "PYRO:obj@h:1"
    assert URI("pyroname:x").protocol == "PYRONAME"


def test_split_on_first_at() -> None:
    uri = URI("PYRO:obj@./u:/tmp/odd@name")
    assert uri.object == "obj"
    assert uri.sockpath == "/tmp/odd@name"


def test_surrounding_whitespace_ignored() -> None:
    assert URI("  PYRO:obj@h:1\n") == URI("PYRO:obj@h:1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "obj@h:1",
        "HTTP:obj@h:1",
        "PYRO:",
        "PYRO:obj",  # PYRO needs a location
        "PYRO:@h:1",
        "PYRO:obj@",
        "PYRO:obj@h",
        "PYRO:obj@:5555",
        "PYRO:obj@h:0",
        "PYRO:obj@h:65536",
        "PYRO:obj@h:-1",
        "PYRO:obj@h:port",
        "PYRO:obj@h:５５",  # non-ASCII digits
        "PYRO:obj@::1:5555",  # IPv6 without brackets
        "PYRO:obj@[::1]",
        "PYRO:obj@[::1]5555",
        "PYRO:obj@[]:5555",
        "PYRO:obj@[host]:5555",
        "PYRO:obj@./u:",
        "PYRO:obj@./inproc:",
        "PYRO:o bj@h:1",
        "PYRONAME:",
        "PYRONAME:@h:1",
        "PYROMETA:,",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(ZPyroError):
        URI(text)


def test_not_a_string() -> None:
    with pytest.raises(TypeError):
        URI(5555)  # type: ignore[arg-type]


def test_copy_equality_hash_repr() -> None:
    a = URI("pyro:obj@[::1]:5555")
    b = URI(a)
    assert a == b and b is not a
    assert hash(a) == hash(b) == hash("PYRO:obj@[::1]:5555")
    assert a == "PYRO:obj@[::1]:5555"
    assert a != "PYRO:obj@[::1]:5556"
    assert a != URI("PYRO:obj@[::1]:5556")
    assert a != 5555
    assert repr(a) == "zpyro.URI('PYRO:obj@[::1]:5555')"
    assert a.asString() == "PYRO:obj@[::1]:5555"
    table: dict[object, int] = {a: 1}
    assert table["PYRO:obj@[::1]:5555"] == 1


def test_is_unixsock_location_as_pyro() -> None:
    """Pyro4's static helper: the location of a unix-socket URI."""
    assert URI.isUnixsockLocation(URI("PYRO:o@./u:/tmp/s.sock").location or "")
    assert not URI.isUnixsockLocation("127.0.0.1:9090")
    assert not URI.isUnixsockLocation("./inproc:name")


def test_immutable() -> None:
    uri = URI("PYRO:obj@h:1")
    with pytest.raises(AttributeError):
        uri.port = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        uri.extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("endpoint", "location"),
    [
        ("tcp://127.0.0.1:5555", "127.0.0.1:5555"),
        ("tcp://[::1]:5555", "[::1]:5555"),
        ("tcp://::1:5555", "[::1]:5555"),
        ("tcp://localhost:5555", "localhost:5555"),
        ("ipc:///tmp/x", "./u:/tmp/x"),
        ("ipc://@abstract", "./u:\0abstract"),  # Linux's abstract namespace, spelt as Pyro
        ("inproc://n", "./inproc:n"),
    ],
)
def test_endpoint_to_location(endpoint: str, location: str) -> None:
    assert endpoint_to_location(endpoint) == location
    uri = make_uri("obj", location)
    if endpoint != "tcp://::1:5555":
        assert uri.endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    ["", "tcp://", "tcp://host", "tcp://host:0", "udp://h:1", "127.0.0.1:5555", "ipc://"],
)
def test_endpoint_to_location_invalid(endpoint: str) -> None:
    with pytest.raises(ZPyroError):
        endpoint_to_location(endpoint)


def test_make_uri() -> None:
    uri = make_uri("greeter", "127.0.0.1:5555")
    assert uri == URI("PYRO:greeter@127.0.0.1:5555")
    assert make_uri("example.greeting", "[::1]:9090", protocol="PYRONAME").protocol == "PYRONAME"
    with pytest.raises(ZPyroError):
        make_uri("", "127.0.0.1:5555")


# --- properties -------------------------------------------------------------------------------

object_ids = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="@"
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: not any(c.isspace() for c in s))
hostnames = st.from_regex(r"\A[a-zA-Z0-9]([a-zA-Z0-9.-]{0,30}[a-zA-Z0-9])?\Z")
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(min_value=1, max_value=65535)
paths = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="/._-@"),
    min_size=1,
    max_size=40,
)


@given(object_ids, hostnames | ipv4, ports)
def test_tcp_round_trip(obj: str, host: str, port: int) -> None:
    uri = URI(f"PYRO:{obj}@{host}:{port}")
    assert (uri.object, uri.host, uri.port) == (obj, host, port)
    assert not uri.is_ipv6
    assert URI(str(uri)) == uri
    assert uri.endpoint == f"tcp://{host}:{port}"
    assert endpoint_to_location(uri.endpoint) == uri.location
    assert make_uri(obj, uri.location or "") == uri


@given(object_ids, ipv6, ports)
def test_ipv6_round_trip(obj: str, host: str, port: int) -> None:
    uri = URI(f"PYRO:{obj}@[{host}]:{port}")
    assert uri.host == host and uri.is_ipv6
    assert ipaddress.ip_address(uri.host) == ipaddress.ip_address(host)
    assert str(uri) == f"PYRO:{obj}@[{host}]:{port}"
    assert uri.endpoint == f"tcp://[{host}]:{port}"
    assert endpoint_to_location(uri.endpoint) == f"[{host}]:{port}"
    assert URI(str(uri)) == uri


@given(object_ids, paths)
def test_ipc_round_trip(obj: str, path: str) -> None:
    uri = URI(f"PYRO:{obj}@./u:{path}")
    assert uri.sockpath == path
    # ZeroMQ's "ipc://@name" is Linux's abstract namespace: a file named "@..." is "./@..."
    assert uri.endpoint == (f"ipc://./{path}" if path.startswith("@") else f"ipc://{path}")
    assert endpoint_to_location(uri.endpoint) == f"./u:{path}"
    assert URI(str(uri)) == uri


@given(object_ids, paths)
def test_inproc_round_trip(obj: str, name: str) -> None:
    uri = URI(f"PYRO:{obj}@./inproc:{name}")
    assert uri.inproc == name
    assert endpoint_to_location(uri.endpoint or "") == f"./inproc:{name}"
    assert URI(str(uri)) == uri


@given(st.sampled_from(["PYRONAME", "PYROMETA"]), object_ids)
def test_name_round_trip(protocol: str, obj: str) -> None:
    if protocol == "PYROMETA" and not obj.strip(","):
        return  # no tags at all: invalid, covered above
    uri = URI(f"{protocol.lower()}:{obj}")
    assert str(uri) == f"{protocol}:{obj}"
    assert URI(str(uri)) == uri
    assert uri.host is None and uri.endpoint is None


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_zpyro_error(text: str) -> None:
    try:
        uri = URI(text)
    except ZPyroError:
        return
    assert URI(str(uri)) == uri
