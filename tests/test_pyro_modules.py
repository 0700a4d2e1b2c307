"""The Pyro4 module paths programs import, and the client half of the call context (issue 9, d7).

``import zpyro as Pyro4`` gives ``Pyro4.core``, ``.naming``, ``.errors``, ``.util``,
``.futures``, ``.constants``, ``.socketutil``, ``.message`` as attributes; ``zpyro.alias_as``
makes ``import Pyro4.X`` work unchanged; client-side ``current_context`` works as in Pyro4.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, scaled, serving

import zpyro as Pyro4
from zpyro import wire

pytestmark = pytest.mark.timeout(60)

MODULES = ["core", "naming", "errors", "util", "futures", "constants", "socketutil", "message"]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZPYRO_", "PYRO_"))}
    env["PYTHONPATH"] = str(ROOT)  # zpyro only: no tests/pyro4_shim here
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(30),
        cwd=str(ROOT),
    )


def test_module_paths_are_attributes_after_a_plain_import() -> None:
    code = "import zpyro as Pyro4\n" + "".join(f"print(Pyro4.{m}.__name__)\n" for m in MODULES)
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"zpyro.{m}" for m in MODULES]


def test_alias_as_pyro4_runs_a_program_unchanged() -> None:
    code = """
import zpyro; zpyro.alias_as("Pyro4")
import Pyro4, Pyro4.core, Pyro4.errors
from Pyro4.util import SerializerBase
from Pyro4.constants import DAEMON_NAME
import runpy
assert Pyro4 is zpyro and Pyro4.core is zpyro.core and Pyro4.core.Proxy is zpyro.Proxy
assert SerializerBase is zpyro.util.SerializerBase and DAEMON_NAME == "Pyro.Daemon"
runpy.run_module("Pyro4.configuration", run_name="__main__")  # python -m Pyro4.configuration
try:
    import Pyro4.flame
except ModuleNotFoundError as exc:
    print("missing:", exc.name)
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "SERIALIZER = serpent" in lines and lines[-1] == "missing: Pyro4.flame"


def test_alias_as_pyro5_maps_its_module_names() -> None:
    code = """
import zpyro; zpyro.alias_as("Pyro5")
import Pyro5.api, Pyro5.errors, Pyro5.nameserver, Pyro5.protocol
assert Pyro5.api is zpyro and Pyro5.nameserver is zpyro.naming
assert Pyro5.protocol.FLAGS_ONEWAY == zpyro.message.FLAGS_ONEWAY
print(Pyro5.api.Proxy.__name__, Pyro5.errors.CommunicationError.__name__)
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Proxy", "CommunicationError"]
    with pytest.raises(ValueError):
        Pyro4.alias_as("zpyro")


def test_core_names() -> None:
    core = Pyro4.core
    assert core.Proxy is Pyro4.Proxy and core.Daemon is Pyro4.Daemon and core.URI is Pyro4.URI
    assert core.current_context is Pyro4.current_context
    assert core.batch is Pyro4.batch and core.asyncproxy is Pyro4.asyncproxy
    assert core.expose is Pyro4.expose and core.oneway is Pyro4.oneway
    assert core.behavior is Pyro4.behavior and core.callback is Pyro4.callback
    assert core._resolve is Pyro4.resolve and core._locateNS is Pyro4.locateNS
    assert (core.DAEMON_NAME, core.NAMESERVER_NAME) == ("Pyro.Daemon", "Pyro.NameServer")  # Pyro5
    assert Pyro4.futures.FutureResult is Pyro4.Future


def test_constants() -> None:
    c = Pyro4.constants
    assert c.DAEMON_NAME == "Pyro.Daemon" and c.NAMESERVER_NAME == "Pyro.NameServer"
    assert Pyro4.__version__ == c.VERSION and c.PROTOCOL_VERSION == wire.VERSION
    assert c.FLAME_NAME == "Pyro.Flame"


def test_socketutil_on_loopback_only() -> None:
    su = Pyro4.socketutil
    assert su.getIpAddress("127.0.0.1") == "127.0.0.1"
    assert su.getIpAddress("localhost", ipVersion=4).startswith("127.")
    assert su.getIpVersion("127.0.0.1") == 4 and su.getIpVersion("::1") == 6
    assert su.getInterfaceAddress("127.0.0.1") == "127.0.0.1"  # (asks the routing table)
    port = su.findProbablyUnusedPort()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # it was free
    with socket.socket() as sock:
        bound = su.bindOnUnusedPort(sock)
        assert sock.getsockname() == ("127.0.0.1", bound)
    assert su.get_ip_address("127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert su.get_interface("127.0.0.1") == ipaddress.ip_interface("127.0.0.1")
    assert su.find_probably_unused_port() > 0
    with pytest.raises(ValueError):
        su.getIpAddress("127.0.0.1", ipVersion=5)
    for name in ("createSocket", "SocketConnection", "createBroadcastSocket", "getSSLcontext"):
        with pytest.raises(AttributeError, match="not supported"):
            getattr(su, name)


def test_message_constants_are_zpyros_wire_values() -> None:
    m = Pyro4.message
    assert m.FLAGS_ONEWAY == wire.FLAG_ONEWAY and m.FLAGS_BATCH == wire.FLAG_BATCH
    assert m.FLAGS_COMPRESSED == wire.FLAG_COMPRESSED
    assert m.FLAGS_ITEMSTREAMRESULT == wire.FLAG_STREAM
    assert m.MSG_INVOKE == wire.CALL and m.MSG_RESULT == wire.RESULT and m.MSG_PING == wire.PING
    assert m.secure_compare(b"a", b"a") and not m.secure_compare(b"a", b"b")
    for name in ("Message", "MSG_CONNECT", "FLAGS_EXCEPTION", "FLAGS_KEEPSERIALIZED"):
        with pytest.raises(AttributeError, match="not supported"):
            getattr(m, name)


def test_errors_tree_as_pyro() -> None:
    e = Pyro4.errors
    for cls in (e.SerializeError, e.MessageTooLargeError):
        assert issubclass(cls, e.ProtocolError) and issubclass(cls, e.CommunicationError)
    assert e.PyroError is e.ZPyroError


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


@Pyro4.expose
class Geometry:
    def move(self, point: Point, dx: int) -> Point:
        assert isinstance(point, Point), type(point)
        return Point(point.x + dx, point.y)

    def fail(self) -> None:
        raise ValueError("remote trouble")


@pytest.fixture
def geometry() -> Iterator[Pyro4.URI]:
    with serving() as served:
        yield served.register(Geometry(), "geometry")


def test_serializer_base_registers_custom_classes(geometry: Pyro4.URI) -> None:
    sb = Pyro4.util.SerializerBase
    sb.register_class_to_dict(Point, lambda p: {"__class__": "test.Point", "x": p.x, "y": p.y})
    sb.register_dict_to_class("test.Point", lambda name, d: Point(d["x"], d["y"]))
    try:
        for serializer in ("serpent", "json", "msgpack"):
            with Pyro4.Proxy(geometry) as g:
                g._pyroSerializer = serializer
                moved = g.move(Point(1, 2), 10)
                assert isinstance(moved, Point) and (moved.x, moved.y) == (11, 2)
        assert sb.class_to_dict(Point(3, 4)) == {"__class__": "test.Point", "x": 3, "y": 4}
        assert isinstance(sb.dict_to_class({"__class__": "test.Point", "x": 0, "y": 0}), Point)
        assert sb.dict_to_class({"__class__": "not.Registered"}) == {"__class__": "not.Registered"}
    finally:
        sb.unregister_class_to_dict(Point)
        sb.unregister_dict_to_class("test.Point")
    assert sb.class_to_dict(Point(1, 1))["__class__"].endswith("Point")
    with pytest.raises(AttributeError, match="register_class_to_dict"):
        sb.register_type_replacement(Point, str)
    with pytest.raises(AttributeError, match="another interface"):
        Pyro4.util.get_serializer  # noqa: B018


def test_traceback_helpers_both_spellings(geometry: Pyro4.URI) -> None:
    with Pyro4.Proxy(geometry) as g:
        try:
            g.fail()
        except ValueError as exc:
            handled = "".join(Pyro4.util.getPyroTraceback())
            triple = "".join(Pyro4.util.getPyroTraceback(*sys.exc_info()))
            single = "".join(Pyro4.util.getPyroTraceback(exc))
            formatted = "".join(Pyro4.util.formatTraceback(*sys.exc_info()))
    assert handled == triple == single
    assert Pyro4.errors.get_pyro_traceback is Pyro4.util.getPyroTraceback  # Pyro5's spelling
    assert (
        "Remote traceback" in handled
        and "remote trouble" in handled
        and "def fail" not in formatted
    )
    assert Pyro4.util.excepthook is Pyro4.excepthook
    members = Pyro4.util.get_exposed_members(Geometry)
    assert members == {"methods": {"move", "fail"}, "oneway": set(), "attrs": set()}
    assert Pyro4.util.get_exposed_members(Geometry, as_lists=True)["methods"] == ["fail", "move"]
    assert Pyro4.util.is_private_attribute("_x") and not Pyro4.util.is_private_attribute("x")


@Pyro4.expose
class Inner:
    def correlation(self) -> str:
        return str(Pyro4.current_context.correlation_id)


@Pyro4.expose
class Outer:
    def __init__(self, inner: str) -> None:
        self.inner = inner

    def correlations(self) -> tuple[str, str]:
        with Pyro4.Proxy(self.inner) as inner:
            return str(Pyro4.current_context.correlation_id), inner.correlation()

    def annotation(self, key: str) -> str:
        Pyro4.current_context.response_annotations = {"RESP": b"for " + key.encode()}
        value: bytes = Pyro4.current_context.annotations.get(key, b"")
        return value.decode()

    def plain(self) -> int:
        return 1


class ListeningProxy(Pyro4.Proxy):
    seen: list[tuple[dict[str, Any], int]] = []

    def _pyroResponseAnnotations(self, annotations: dict[str, Any], msgtype: int) -> None:
        self.seen.append((dict(annotations), msgtype))


@pytest.fixture
def outer() -> Iterator[Pyro4.URI]:
    with serving() as served:
        inner = served.register(Inner(), "inner")
        yield served.register(Outer(str(inner)), "outer")


def test_correlation_id_generated_when_the_client_has_none(outer: Pyro4.URI) -> None:
    with Pyro4.Proxy(outer) as p:
        mine, nested = p.correlations()
        assert mine == nested and uuid.UUID(mine)  # one generated id for the whole chain
        assert p.correlations()[0] != mine  # a new one for each call
        assert Pyro4.current_context.correlation_id is None  # nothing set in this client
        Pyro4.current_context.correlation_id = uuid.uuid4()
        try:
            expected = str(Pyro4.current_context.correlation_id)
            assert p.correlations() == (expected, expected)
        finally:
            Pyro4.current_context.correlation_id = None


def test_client_side_annotations_and_response_annotations(outer: Pyro4.URI) -> None:
    with ListeningProxy(outer) as p:
        assert Pyro4.current_context.response_annotations == {}
        Pyro4.current_context.annotations = {"XTRA": b"extra data"}
        assert p.annotation("XTRA") == "extra data"
        assert Pyro4.current_context.response_annotations == {"RESP": b"for XTRA"}
        assert p.seen[-1] == ({"RESP": b"for XTRA"}, Pyro4.message.MSG_RESULT)
        assert p.annotation("XTRA") == ""  # annotations set this way go with one call
        assert p.plain() == 1
        assert Pyro4.current_context.response_annotations == {}  # (the last call's: none)


def test_setting_an_unknown_attribute_on_a_proxy_raises(outer: Pyro4.URI) -> None:
    with Pyro4.Proxy(outer) as p:
        with pytest.raises(AttributeError, match="no_such"):
            p.no_such = 1
        p._pyroTimeout = 2.0  # the proxy's own settings stay settable
        assert p._pyroTimeout == 2.0


@Pyro4.expose
class Middle:
    """Passes blobs on without loading their data."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def dispatch(self, blob: Any, listener: Any) -> Any:
        self.seen.append((blob.info, type(blob._serialized)))
        return listener.process(blob)


@Pyro4.expose
class End:
    def process(self, blob: Any) -> Any:
        data = blob.deserialized()
        return [blob.info, data.x, data.y]


def test_serialized_blob_passes_through_without_being_loaded() -> None:
    sb = Pyro4.util.SerializerBase
    sb.register_class_to_dict(Point, lambda p: {"__class__": "test.Point", "x": p.x, "y": p.y})
    sb.register_dict_to_class("test.Point", lambda name, d: Point(d["x"], d["y"]))
    middle = Middle()
    try:
        with serving() as served:
            middle_uri = served.register(middle, "middle")
            end = Pyro4.Proxy(served.register(End(), "end"))
            for serializer in ("serpent", "json", "msgpack"):
                with Pyro4.Proxy(middle_uri) as m:
                    m._pyroSerializer = serializer
                    blob = Pyro4.core.SerializedBlob("where", Point(3, 4))
                    assert blob.deserialized().x == 3  # (locally: the data itself)
                    assert m.dispatch(blob, end) == ["where", 3, 4]
    finally:
        sb.unregister_class_to_dict(Point)
        sb.unregister_dict_to_class("test.Point")
    assert middle.seen == [("where", bytes)] * 3  # the middle only ever held the bytes
    assert Pyro4.SerializedBlob is Pyro4.core.SerializedBlob


@pytest.mark.parametrize(
    ("owner", "name", "why"),
    [
        ("util", "all_exceptions", "dispatcher internals"),
        ("util", "get_exposed_property_value", "dispatcher internals"),
        ("util", "set_exposed_property_value", "dispatcher internals"),
        ("util", "reset_exposed_members", "dispatcher internals"),
        ("util", "CloudpickleSerializer", "no cloudpickle"),
        ("util", "MsgpackSerializer", "another interface"),
        ("SerializerBase", "dumps", "another interface"),
        ("SerializerBase", "loadsCall", "another interface"),
        ("SerializerBase", "recreate_classes", "another interface"),
        ("proxy", "_pyroInvokeBatch", "batch"),
    ],
)
def test_pyro_internals_are_refused_with_the_reason(owner: str, name: str, why: str) -> None:
    """What the porting table lists as refused says why, at the point of use."""
    target: Any = {
        "util": Pyro4.util,
        "SerializerBase": Pyro4.util.SerializerBase,
        "proxy": Pyro4.Proxy("PYRO:nothing@127.0.0.1:1"),  # never connects: no call is made
    }[owner]
    with pytest.raises(AttributeError, match=why):
        getattr(target, name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        Pyro4.util.SerializerBase.no_such_name  # noqa: B018 (other names: the usual error)
