"""The frame codec, byte for byte, and fuzzed: decode raises only ProtocolError."""

from __future__ import annotations

import array
import struct

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zpyro import wire
from zpyro.errors import ProtocolError

pytestmark = pytest.mark.timeout(30)

# A CALL written out by hand from the layout table in wire.py's docstring:
# kind=CALL(1) flags=META(0x02) serializer=1 reserved=0 call_id=0x01020304
# object "greeter" (7 bytes) method "hello" (5 bytes).
GOLDEN_SIGNATURE = b"ZPY\x01"
GOLDEN_HEADER = (
    b"\x01"  # kind CALL
    b"\x02"  # flags FLAG_META
    b"\x01"  # serializer id 1
    b"\x00"  # reserved
    b"\x01\x02\x03\x04"  # call id, big endian
    b"\x00\x07"  # object id length
    b"\x00\x05"  # method length
    b"greeter"
    b"hello"
)
GOLDEN_PAYLOAD = b"\x80payload"


def test_signature_constant() -> None:
    assert wire.SIGNATURE == GOLDEN_SIGNATURE
    assert wire.HEADER_SIZE == 12


def test_encode_golden_bytes() -> None:
    frames = wire.encode(
        wire.CALL, wire.FLAG_META, 1, 0x01020304, "greeter", "hello", GOLDEN_PAYLOAD
    )
    assert frames == [GOLDEN_SIGNATURE, GOLDEN_HEADER, GOLDEN_PAYLOAD]


def test_encode_golden_bytes_with_buffers_and_unicode() -> None:
    frames = wire.encode(wire.RESULT, 0, 3, 0xFFFFFFFF, "é", "", b"", [b"b0", b"b1"])
    header = b"\x02\x00\x03\x00" + b"\xff\xff\xff\xff" + b"\x00\x02" + b"\x00\x00" + b"\xc3\xa9"
    assert frames == [GOLDEN_SIGNATURE, header, b"", b"b0", b"b1"]


def test_encode_header_matches_encode() -> None:
    header = wire.encode_header(wire.CALL, wire.FLAG_META, 1, 0x01020304, "greeter", "hello")
    assert header == GOLDEN_HEADER


def test_decode_golden_bytes() -> None:
    msg = wire.decode([GOLDEN_SIGNATURE, GOLDEN_HEADER, GOLDEN_PAYLOAD])
    assert isinstance(msg, wire.Message)
    assert msg.kind == wire.CALL
    assert msg.flags == wire.FLAG_META
    assert msg.serializer_id == 1
    assert msg.call_id == 0x01020304
    assert msg.object_id == "greeter"
    assert msg.method == "hello"
    assert msg.payload == GOLDEN_PAYLOAD
    assert list(msg.buffers) == []


def test_decode_passes_payload_and_buffers_through_untouched() -> None:
    payload = bytearray(b"pp")
    buf = memoryview(b"buffer")
    msg = wire.decode([GOLDEN_SIGNATURE, GOLDEN_HEADER, payload, buf])
    assert msg.payload is payload
    assert len(msg.buffers) == 1
    assert msg.buffers[0] is buf


def test_decode_accepts_zmq_frames() -> None:
    frames = [zmq.Frame(GOLDEN_SIGNATURE), zmq.Frame(GOLDEN_HEADER), zmq.Frame(GOLDEN_PAYLOAD)]
    msg = wire.decode(frames)
    assert (msg.object_id, msg.method, msg.call_id) == ("greeter", "hello", 0x01020304)
    assert msg.payload is frames[2]


def test_repr_names_kind() -> None:
    msg = wire.decode([GOLDEN_SIGNATURE, GOLDEN_HEADER, GOLDEN_PAYLOAD])
    text = repr(msg)
    assert "CALL" in text and "greeter.hello" in text


@pytest.mark.parametrize(
    "frames, fragment",
    [
        ([GOLDEN_SIGNATURE, GOLDEN_HEADER], "frames"),
        ([b"ZPY\x02", GOLDEN_HEADER, b""], "version"),
        ([b"XYZ\x01", GOLDEN_HEADER, b""], "signature"),
        ([b"ZPY", GOLDEN_HEADER, b""], "signature"),
        ([GOLDEN_SIGNATURE, GOLDEN_HEADER[:11], b""], "short"),
        ([GOLDEN_SIGNATURE, b"\x0a" + GOLDEN_HEADER[1:], b""], "kind"),
        ([GOLDEN_SIGNATURE, b"\x00" + GOLDEN_HEADER[1:], b""], "kind"),
        ([GOLDEN_SIGNATURE, GOLDEN_HEADER + b"x", b""], "length"),
        ([GOLDEN_SIGNATURE, GOLDEN_HEADER[:-1], b""], "length"),
        (
            [
                GOLDEN_SIGNATURE,
                wire.encode_header(1, 0, 1, 5, "ab", "c")[:12] + b"\xff\xfe" + b"c",
                b"",
            ],
            "UTF-8",
        ),
    ],
)
def test_decode_rejects(frames: list[bytes], fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        wire.decode(frames)
    assert fragment.lower() in str(info.value).lower()


@pytest.mark.parametrize("kind", sorted(wire.KINDS))
@pytest.mark.parametrize("bit", [1 << i for i in range(8)])
def test_decode_rejects_flags_the_kind_does_not_carry(kind: int, bit: int) -> None:
    frames = wire.encode(kind, bit, 1, 9, "o", "m")
    if bit & wire.ALLOWED_FLAGS.get(kind, 0):
        assert wire.decode(frames).flags == bit
    else:
        with pytest.raises(ProtocolError, match="flags"):
            wire.decode(frames)
        assert wire.peek_call_id(frames) == 9  # so the error reply reaches its caller


@pytest.mark.parametrize("reserved", [1, 0x80, 0xFF])
def test_decode_rejects_a_nonzero_reserved_byte(reserved: int) -> None:
    header = GOLDEN_HEADER[:3] + bytes([reserved]) + GOLDEN_HEADER[4:]
    with pytest.raises(ProtocolError, match="reserved"):
        wire.decode([GOLDEN_SIGNATURE, header, b""])


def test_encode_refuses_too_long_strings() -> None:
    with pytest.raises(ProtocolError):
        wire.encode(wire.CALL, 0, 1, 1, "x" * 65536, "m")
    with pytest.raises(ProtocolError):
        wire.encode(wire.CALL, 0, 1, 1, "o", "é" * 40000)  # 80000 bytes once encoded
    # the limit itself is fine
    frames = wire.encode(wire.CALL, 0, 1, 1, "x" * 65535, "m")
    assert wire.decode(frames).object_id == "x" * 65535


# -- round trip -------------------------------------------------------------------------------

kinds = st.sampled_from(sorted(wire.KINDS))
u8 = st.integers(0, 255)


@st.composite
def kind_and_flags(draw: st.DrawFn) -> tuple[int, int]:
    """A kind and a subset of the flags that kind may carry."""
    kind = draw(kinds)
    allowed = wire.ALLOWED_FLAGS.get(kind, 0)
    return kind, draw(st.integers(0, 255)) & allowed


call_ids = st.integers(0, wire.MAX_CALL_ID)
names = st.text(max_size=40)
buffer_lists = st.lists(st.binary(max_size=64), max_size=3)


@given(kind_and_flags(), u8, call_ids, names, names, st.binary(max_size=256), buffer_lists)
def test_round_trip(
    kind_flags: tuple[int, int],
    ser: int,
    call_id: int,
    object_id: str,
    method: str,
    payload: bytes,
    buffers: list[bytes],
) -> None:
    kind, flags = kind_flags
    frames = wire.encode(kind, flags, ser, call_id, object_id, method, payload, buffers)
    assert len(frames) == 3 + len(buffers)
    assert frames[0] == wire.SIGNATURE
    header = frames[1]
    obj_b, meth_b = object_id.encode(), method.encode()
    assert (
        header
        == struct.pack("!BBBBIHH", kind, flags, ser, 0, call_id, len(obj_b), len(meth_b))
        + obj_b
        + meth_b
    )
    msg = wire.decode(frames)
    assert (msg.kind, msg.flags, msg.serializer_id, msg.call_id) == (kind, flags, ser, call_id)
    assert (msg.object_id, msg.method) == (object_id, method)
    assert msg.payload == payload
    assert list(msg.buffers) == buffers
    assert wire.peek_call_id(frames) == call_id
    assert wire.message_size(frames) == sum(len(f) for f in frames)


# -- fuzz: decode raises only ProtocolError ----------------------------------------------------


def _decode_or_protocol_error(frames: list[bytes]) -> None:
    try:
        msg = wire.decode(frames)
    except ProtocolError:
        return
    assert isinstance(msg, wire.Message)
    assert msg.kind in wire.KINDS
    assert isinstance(msg.object_id, str) and isinstance(msg.method, str)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_decode_arbitrary_frames(frames: list[bytes]) -> None:
    _decode_or_protocol_error(frames)
    assert isinstance(wire.peek_call_id(frames), int)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=4), st.binary(max_size=40))
def test_decode_arbitrary_header_after_good_signature(rest: list[bytes], header: bytes) -> None:
    frames = [wire.SIGNATURE, header, *rest]
    _decode_or_protocol_error(frames)
    assert 0 <= wire.peek_call_id(frames) <= wire.MAX_CALL_ID


valid_messages = st.builds(
    lambda kf, *rest: wire.encode(kf[0], kf[1], *rest),
    kind_and_flags(),
    u8,
    call_ids,
    names,
    names,
    st.binary(max_size=32),
    buffer_lists,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(valid_messages, st.data())
def test_decode_flipped_bytes(frames: list[bytes], data: st.DataObject) -> None:
    which = data.draw(st.integers(0, 1))  # signature or header
    frame = bytearray(frames[which])
    pos = data.draw(st.integers(0, len(frame) - 1))
    frame[pos] ^= data.draw(st.integers(1, 255))
    mutated = list(frames)
    mutated[which] = bytes(frame)
    _decode_or_protocol_error(mutated)
    wire.peek_call_id(mutated)


@given(valid_messages, st.data())
def test_decode_truncated_header(frames: list[bytes], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(frames[1]) - 1))
    mutated = [frames[0], frames[1][:cut], *frames[2:]]
    with pytest.raises(ProtocolError):
        wire.decode(mutated)
    expected = struct.unpack_from("!I", frames[1], 4)[0] if cut >= 12 else 0
    assert wire.peek_call_id(mutated) == expected


@given(valid_messages, st.integers(0, 255).filter(lambda v: v != wire.VERSION))
def test_decode_wrong_version(frames: list[bytes], version: int) -> None:
    mutated = [b"ZPY" + bytes([version]), *frames[1:]]
    with pytest.raises(ProtocolError, match="version"):
        wire.decode(mutated)


@given(valid_messages, st.integers(0, 255).filter(lambda v: v not in wire.KINDS))
def test_decode_unknown_kind(frames: list[bytes], kind: int) -> None:
    mutated = [frames[0], bytes([kind]) + frames[1][1:], *frames[2:]]
    with pytest.raises(ProtocolError, match="kind"):
        wire.decode(mutated)


@given(
    valid_messages, st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc"]), st.booleans()
)
def test_decode_bad_utf8(frames: list[bytes], bad: bytes, in_object: bool) -> None:
    msg = wire.decode(frames)
    obj = bad if in_object else msg.object_id.encode()
    meth = msg.method.encode() if in_object else bad
    header = struct.pack(
        "!BBBBIHH", msg.kind, msg.flags, msg.serializer_id, 0, msg.call_id, len(obj), len(meth)
    )
    mutated = [frames[0], header + obj + meth, *frames[2:]]
    with pytest.raises(ProtocolError, match="UTF-8"):
        wire.decode(mutated)
    assert wire.peek_call_id(mutated) == msg.call_id


# -- peek_call_id, message_size ----------------------------------------------------------------


@pytest.mark.parametrize(
    "frames",
    [[], [b""], [b"ZPY\x01"], [b"ZPY\x01", b"short"], [b"ZPY\x01", None, b""], [b"ZPY\x01", 5]],
)
def test_peek_call_id_unreadable_is_zero(frames: list[object]) -> None:
    assert wire.peek_call_id(frames) == 0  # type: ignore[arg-type]


def test_peek_call_id_reads_broken_message() -> None:
    frames = [b"garbage", GOLDEN_HEADER]  # too few frames and bad signature: decode fails
    with pytest.raises(ProtocolError):
        wire.decode(frames)
    assert wire.peek_call_id(frames) == 0x01020304


def test_message_size_bytes_and_frames() -> None:
    frames = wire.encode(wire.CALL, 0, 1, 1, "obj", "m", b"x" * 100, [b"y" * 50])
    assert wire.message_size(frames) == 4 + 12 + 3 + 1 + 100 + 50
    zframes = [zmq.Frame(bytes(f)) for f in frames]
    assert wire.message_size(zframes) == 4 + 12 + 3 + 1 + 100 + 50
    assert wire.message_size([]) == 0


def test_message_size_counts_bytes_of_buffers_not_items() -> None:
    # Buffers are sent as they are (serializers keep the original memoryview), so the size check
    # must count bytes: a memoryview of 1000 doubles is 8000 bytes on the wire.
    doubles = memoryview(array.array("d", [0.0] * 1000))
    assert doubles.nbytes == 8000
    frames = [b"ZPY\x01", b"h" * 12, b"", doubles]
    assert wire.message_size(frames) == 4 + 12 + 0 + 8000
    assert wire.message_size([bytearray(10), memoryview(b"abc")]) == 13
