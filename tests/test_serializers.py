from __future__ import annotations

import collections
import datetime
import math
import threading
from typing import Any

import pytest
import zmq
from conftest import raw_dumps
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from zpyro import classdicts, serializers
from zpyro.errors import SerializeError
from zpyro.serializers import BY_ID, OOB_THRESHOLD, SERIALIZERS, Serializer, get_serializer

pytestmark = pytest.mark.timeout(60)

NAMES = ["serpent", "json", "msgpack", "marshal", "pickle"]
CLASS_CAPABLE = ["serpent", "json", "msgpack"]  # carry objects as dicts with "__class__"
KEEP_TUPLES = ["serpent", "marshal", "pickle"]
MIB = 1 << 20


@pytest.fixture(params=NAMES)
def ser(request: pytest.FixtureRequest) -> Serializer:
    return SERIALIZERS[request.param]


def roundtrip(ser: Serializer, obj: Any, **kw: Any) -> Any:
    payload, bufs = ser.dumps(obj, **kw)
    assert type(payload) is bytes
    return ser.loads(payload, bufs)


# ---- plain data ------------------------------------------------------------------------------

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # msgpack's range
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
# Keys shaped like the serializers' own markers ("__zpyro_bytes__", "___zpyro_oob__", ...) are
# user data too: a one-entry map with such a key travels escaped and must come back as it was.
# They are drawn on purpose, not left to chance.
marker_names = st.sampled_from(["oob__", "bytes__", "oobset__", "x", ""]) | st.text(max_size=4)
marker_keys = st.builds(lambda n, name: "_" * n + "zpyro_" + name, st.integers(0, 4), marker_names)
keys = st.text() | marker_keys
trees = st.recursive(
    leaves,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(keys, kids, max_size=5),
    max_leaves=30,
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=trees)
def test_roundtrip_nested(name: str, data: Any) -> None:
    ser = SERIALIZERS[name]
    assert roundtrip(ser, data) == data
    # a tiny threshold sends most bytes out of band: the markers must come back everywhere
    payload, bufs = ser.dumps(data, oob_threshold=2)
    assert ser.loads(payload, bufs) == data


def test_small_call_payload(ser: Serializer) -> None:
    payload, bufs = ser.dumps([("Irmen",), {}])
    assert bufs == []
    result = ser.loads(payload)
    expected = [("Irmen",), {}] if ser.name in KEEP_TUPLES else [["Irmen"], {}]
    assert result == expected
    assert ser.loads(*ser.dumps("Hello, Irmen")) == "Hello, Irmen"


def test_tuples_and_sets(ser: Serializer) -> None:
    data = {"t": (1, 2, (3,)), "s": {1, 2, 3}, "fs": frozenset({"a"})}
    out = roundtrip(ser, data)
    if ser.name in KEEP_TUPLES:
        assert out == data
    else:
        assert out["t"] == [1, 2, [3]]
        assert sorted(out["s"]) == [1, 2, 3]
        assert out["fs"] == ["a"]


def test_nan_and_infinities_come_back_as_floats(ser: Serializer) -> None:
    """Pyro's echo server has nan() and inf(): serpent writes a NaN as a class dict, which
    comes back a float, as in Pyro (a look-alike dict with more keys stays a dict)."""
    out = roundtrip(ser, [math.nan, {"x": -math.inf}, math.inf])
    assert math.isnan(out[0]) and out[1:] == [{"x": -math.inf}, math.inf]
    other = {"__class__": "float", "value": "nan", "unit": "m"}
    assert roundtrip(ser, other) == other


# ---- bytes and out-of-band buffers -----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, OOB_THRESHOLD - 1, OOB_THRESHOLD, MIB])
def test_bytes_come_back_as_bytes(ser: Serializer, size: int) -> None:
    blob = bytes(range(256)) * (size // 256) + b"\x00\xff" * (size % 256 // 2) + b"z" * (size % 2)
    assert len(blob) == size
    shapes = [
        (blob, lambda o: o),
        ([blob], lambda o: o[0]),
        ({"k": blob}, lambda o: o["k"]),
        ((1, blob), lambda o: o[1]),
    ]
    for obj, pick in shapes:
        got = pick(roundtrip(ser, obj))
        assert type(got) is bytes
        assert got == blob


def test_big_buffers_travel_out_of_band(ser: Serializer) -> None:
    big = b"a" * MIB
    big2 = bytearray(b"b" * (OOB_THRESHOLD + 1))
    big3 = memoryview(b"c" * 40000)
    data = {"x": big, "y": [1, (big2, "z")], "z": big3, "small": b"s"}
    payload, bufs = ser.dumps(data)
    assert len(payload) < 1000
    assert len(bufs) == 3
    assert any(b is big for b in bufs)
    assert any(b is big2 for b in bufs)
    assert any(b is big3 for b in bufs)
    out = ser.loads(payload, bufs)
    assert out["x"] == big and type(out["x"]) is bytes
    assert out["y"][1][0] == bytes(big2) and type(out["y"][1][0]) is bytes
    assert out["z"] == bytes(big3) and type(out["z"]) is bytes
    assert out["small"] == b"s"
    # the caller's data is untouched
    assert data["x"] is big and data["y"][1][0] is big2 and data["z"] is big3


def test_top_level_big_bytes(ser: Serializer) -> None:
    big = b"q" * MIB
    payload, bufs = ser.dumps(big)
    assert len(payload) < 1000
    assert len(bufs) == 1 and bufs[0] is big
    assert ser.loads(payload, bufs) == big


def test_threshold_is_a_parameter(ser: Serializer) -> None:
    blob = b"x" * 100
    assert ser.dumps([blob], oob_threshold=100)[1][0] is blob
    assert ser.dumps([blob], oob_threshold=101)[1] == []


@pytest.mark.parametrize("size", [5, 50000])
def test_bytearray_and_memoryview_arrive_as_bytes(ser: Serializer, size: int) -> None:
    data = [bytearray(b"x" * size), memoryview(b"y" * size)]
    out = roundtrip(ser, data)
    assert [type(v) for v in out] == [bytes, bytes]
    assert out == [b"x" * size, b"y" * size]


def test_received_buffers_may_be_frames(ser: Serializer) -> None:
    big = b"f" * 50000
    payload, bufs = ser.dumps([big, big])
    for wrap in (zmq.Frame, memoryview, bytearray):
        out = ser.loads(memoryview(payload), [wrap(b) for b in bufs])
        assert out == [big, big]
        assert all(type(v) is bytes for v in out)


def test_set_holding_big_buffer(ser: Serializer) -> None:
    big = b"s" * 50000
    out = roundtrip(ser, {big, 1})
    assert sorted(out, key=str) == sorted([big, 1], key=str)


def test_container_subclasses_are_walked(ser: Serializer) -> None:
    Pair = collections.namedtuple("Pair", "a b")
    big = b"n" * 50000
    data = collections.OrderedDict(p=Pair(1, big))
    payload, bufs = ser.dumps(data)
    assert bufs and bufs[0] is big and len(payload) < 1000
    out = ser.loads(payload, bufs)
    assert list(out["p"]) == [1, big]


def test_many_rows_with_one_big_buffer(ser: Serializer) -> None:
    big = b"r" * 50000
    rows: list[Any] = [(i, "x") for i in range(100)] + [(100, big)]
    payload, bufs = ser.dumps(rows)
    assert bufs == [big] and bufs[0] is big
    out = ser.loads(payload, bufs)
    assert out[-1][1] == big and len(out) == 101


def test_bad_buffer_reference(ser: Serializer) -> None:
    for index in (5, -1, "0", None):
        payload = raw_dumps(ser.name, [{"__zpyro_oob__": index}])
        with pytest.raises(SerializeError, match="out-of-band"):
            ser.loads(payload, [b"only one"])
    with pytest.raises(SerializeError, match="out-of-band"):  # a marker with no buffers at all
        ser.loads(raw_dumps(ser.name, [{"__zpyro_oob__": 0}]))


@pytest.mark.parametrize(
    "data",
    [
        [{"__zpyro_oob__": 0}],
        {"__zpyro_bytes__": "aGk="},
        {"__zpyro_oobset__": [1, 2]},
        {"___zpyro_oob__": {"__zpyro_unknown": [{"____zpyro_": b"x"}]}},
        {"k": {"__zpyro_oob__": b"big" * 20000}},  # a marker-shaped map holding a real buffer
        [{"__zpyro_x": i} for i in range(40)],  # the big-container shortcut must escape too
        {"__zpyro_oob__": 0, "other": 1},  # two entries: never a marker, sent as it is
    ],
)
def test_marker_shaped_user_maps_round_trip_as_data(ser: Serializer, data: Any) -> None:
    assert roundtrip(ser, data) == data


def test_escaped_maps_carry_one_more_underscore(ser: Serializer) -> None:
    payload, _ = ser.dumps([{"__zpyro_oob__": 0}, {"_zpyro_x": 1}, {"__zpyro_oob__": 0, "a": 1}])
    text = bytes(payload)
    assert b"___zpyro_oob__" in text and b"____zpyro" not in text
    assert b"'__zpyro_x'" not in text and b"__zpyro_x" not in text  # one underscore: untouched


def test_unknown_marker_is_refused(ser: Serializer) -> None:
    with pytest.raises(SerializeError, match="unknown marker"):
        ser.loads(raw_dumps(ser.name, {"a": [{"__zpyro_future__": 1}]}))


# ---- custom classes --------------------------------------------------------------------------


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


class Point3(Point):
    pass


class Plain:
    def __init__(self) -> None:
        self.a = 1
        self.b = [b"raw", "text"]


POINT_NAME = f"{__name__}.Point"


@pytest.fixture
def point_hooks():
    def to_dict(p: Point) -> dict[str, Any]:
        return {"x": p.x, "y": p.y}  # no "__class__": the module adds it

    def from_dict(name: str, d: dict[str, Any]) -> Point:
        assert name == POINT_NAME
        return Point(d["x"], d["y"])

    before = (dict(classdicts.class_to_dict), dict(classdicts.dict_to_class))
    serializers.register_class_to_dict(Point, to_dict)
    serializers.register_dict_to_class(POINT_NAME, from_dict)
    yield
    serializers.unregister_class_to_dict(Point)
    serializers.unregister_dict_to_class(POINT_NAME)
    assert (classdicts.class_to_dict, classdicts.dict_to_class) == before


@pytest.mark.parametrize("name", CLASS_CAPABLE)
def test_registered_class_roundtrip(name: str, point_hooks: None) -> None:
    ser = SERIALIZERS[name]
    data = {"p": Point(1, 2), "ps": [Point(3, 4)], "blob": b"z" * 50000}
    out = roundtrip(ser, data)
    assert out == data


@pytest.mark.parametrize("name", CLASS_CAPABLE)
def test_a_registered_converter_wins_over_the_builtin_handling(name: str) -> None:
    """A tz-aware datetime would travel as its ISO text; registered, it comes back a datetime
    with every serializer that carries classes (json and msgpack as serpent)."""
    when = datetime.datetime(
        2026, 5, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=9))
    )
    assert roundtrip(SERIALIZERS[name], when) == "2026-05-01T12:00:00+09:00"
    serializers.register_class_to_dict(datetime.datetime, lambda d: {"iso": d.isoformat()})
    serializers.register_dict_to_class(
        "datetime.datetime", lambda _n, d: datetime.datetime.fromisoformat(d["iso"])
    )
    try:
        assert roundtrip(SERIALIZERS[name], [when]) == [when]
    finally:
        serializers.unregister_class_to_dict(datetime.datetime)
        serializers.unregister_dict_to_class("datetime.datetime")


@pytest.mark.parametrize("name", CLASS_CAPABLE)
def test_class_to_dict_only(name: str, point_hooks: None) -> None:
    serializers.unregister_dict_to_class(POINT_NAME)
    out = roundtrip(SERIALIZERS[name], [Point(1, 2)])
    assert out == [{"__class__": POINT_NAME, "x": 1, "y": 2}]


@pytest.mark.parametrize("name", CLASS_CAPABLE)
def test_registered_converter_applies_to_subclasses(name: str, point_hooks: None) -> None:
    payload, _ = SERIALIZERS[name].dumps(Point3(5, 6))
    serializers.unregister_dict_to_class(POINT_NAME)
    out = SERIALIZERS[name].loads(payload)
    assert out == {"__class__": f"{__name__}.Point3", "x": 5, "y": 6}


@pytest.mark.parametrize("name", CLASS_CAPABLE)
def test_unregistered_object_arrives_as_dict(name: str) -> None:
    out = roundtrip(SERIALIZERS[name], [Plain()])
    assert out[0]["__class__"] == f"{__name__}.Plain"
    assert out[0]["a"] == 1
    assert list(out[0]["b"]) == [b"raw", "text"]


class Outer:
    class Inner:
        def __init__(self) -> None:
            self.x = 1


@pytest.mark.parametrize("name", CLASS_CAPABLE)
def test_a_nested_class_is_named_by_its_qualified_name(name: str) -> None:
    """serpent's own class naming says Inner; ours, in every serializer, Outer.Inner."""
    out = roundtrip(SERIALIZERS[name], [Outer.Inner()])
    assert out == [{"__class__": f"{__name__}.Outer.Inner", "x": 1}]


def test_pickle_keeps_real_objects(point_hooks: None) -> None:
    out = roundtrip(SERIALIZERS["pickle"], [Point(1, 2), b"x" * 50000])
    assert out == [Point(1, 2), b"x" * 50000]


def test_marshal_refuses_custom_classes() -> None:
    with pytest.raises(SerializeError, match="marshal.*builtin types"):
        SERIALIZERS["marshal"].dumps([Plain()])


def test_unserializable_values_raise_serialize_error(ser: Serializer) -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    if ser.name == "pickle":  # pickle carries cycles (sent inline, without the walk)
        out = roundtrip(ser, cyclic)
        assert out[1] is out
        return
    with pytest.raises(SerializeError, match=ser.name):
        ser.dumps(cyclic)


@pytest.mark.parametrize(
    "name, value",
    [("json", object()), ("msgpack", 2**70), ("marshal", object()), ("pickle", lambda: 1)],
)
def test_specific_unserializable(name: str, value: Any) -> None:
    with pytest.raises(SerializeError, match=name) as info:
        SERIALIZERS[name].dumps({"v": value})
    assert info.value.__cause__ is not None


# ---- lookup ----------------------------------------------------------------------------------


def test_get_serializer() -> None:
    for ident, name in enumerate(NAMES, start=1):
        s = get_serializer(name)
        assert s is get_serializer(ident) is BY_ID[ident]
        assert s.name == name and s.serializer_id == ident
    for bad in ("yaml", 99, 0):
        with pytest.raises(SerializeError, match=repr(bad)):
            get_serializer(bad)


# ---- garbage in ------------------------------------------------------------------------------


def marshal_bomb(data: bytes) -> bool:
    """A marshal tuple/list/set header claiming a huge size: marshal allocates it before noticing
    the data is short (5 bytes can cost 30 s and GiBs) -- one reason marshal is opt-in only."""
    for i, code in enumerate(data[:-4]):
        if code & 0x7F in b"([<>" and int.from_bytes(data[i + 1 : i + 5], "little") > 10_000:
            return True
    return False


@pytest.mark.parametrize("name", ["serpent", "json", "msgpack", "marshal"])
@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200))
def test_loads_garbage_raises_only_serialize_error(name: str, junk: bytes) -> None:
    ser = SERIALIZERS[name]
    assume(name != "marshal" or not marshal_bomb(junk))
    try:
        ser.loads(junk)
    except SerializeError:
        pass


@pytest.mark.parametrize("name", ["serpent", "json", "msgpack", "marshal"])
@settings(max_examples=100, deadline=None)
@given(junk=st.binary(max_size=64), nbufs=st.integers(0, 3))
def test_loads_corrupted_payload_with_buffers(name: str, junk: bytes, nbufs: int) -> None:
    ser = SERIALIZERS[name]
    payload, _ = ser.dumps({"a": [1, b"x" * 10, {"__zpyro_oob__": 2}]})
    cut = len(junk) % (len(payload) + 1)
    assume(name != "marshal" or not marshal_bomb(payload[:cut] + junk))
    try:
        ser.loads(payload[:cut] + junk, [b"b"] * nbufs)
    except SerializeError:
        pass


@pytest.mark.parametrize("name", ["serpent", "json", "msgpack"])
def test_truncated_payload(name: str) -> None:
    ser = SERIALIZERS[name]
    payload, _ = ser.dumps({"a": [1, 2, "three"]})
    for cut in range(1, len(payload) - 1):
        try:
            ser.loads(payload[:cut])
        except SerializeError:
            continue


# ---- sharing ---------------------------------------------------------------------------------


def test_shared_between_threads(ser: Serializer) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                blob = bytes([n]) * (40000 + i)
                data = [n, i, {"b": blob}]
                out = roundtrip(ser, data)
                assert out[0] == n and out[1] == i and out[2]["b"] == blob
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
