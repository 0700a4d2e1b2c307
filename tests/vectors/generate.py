"""Write the shared test vectors (frames.json, values.json, messages.json) from the cases below.

The JSON files are the authority: Python (tests/test_vectors.py) and JavaScript
(clients/js/test/vectors.test.js) both check their codecs against them. Run this only when the
protocol itself changes on purpose (``python tests/vectors/generate.py``), and read the diff.

Values in the files use JSON with three tagged forms: ``{"$bytes": "hex"}``, ``{"$uri": "PYRO:..."}``
and ``{"$set": [...]}`` (a set: Python gives a set, JavaScript an array).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from zpyro import wire  # noqa: E402
from zpyro.serializers import SERIALIZERS  # noqa: E402
from zpyro.uri import URI  # noqa: E402  (zpyro.classdicts gives it its class map)

MSGPACK, JSON = SERIALIZERS["msgpack"], SERIALIZERS["json"]
FLAG_NAMES = {
    wire.FLAG_ONEWAY: "ONEWAY",
    wire.FLAG_META: "META",
    wire.FLAG_BATCH: "BATCH",
    wire.FLAG_ANNOTATED: "ANNOTATED",
    wire.FLAG_CREDIT: "CREDIT",
}
# flags are per kind: bit 0x10 is HANDSHAKE on a CALL and STREAM on a RESULT
CALL_FLAG_NAMES = {**FLAG_NAMES, wire.FLAG_HANDSHAKE: "HANDSHAKE"}
OTHER_FLAG_NAMES = {**FLAG_NAMES, wire.FLAG_STREAM: "STREAM"}


def tagged(value: Any) -> Any:
    """A Python value in the files' JSON notation."""
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, URI):
        return {"$uri": str(value)}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((tagged(v) for v in value), key=json.dumps)}
    if isinstance(value, (list, tuple)):
        return [tagged(v) for v in value]
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    return value


def hexes(frames: list[Any]) -> list[str]:
    return [bytes(f).hex() for f in frames]


def flag_names(kind: int, flags: int) -> list[str]:
    names = CALL_FLAG_NAMES if kind == wire.CALL else OTHER_FLAG_NAMES
    return [name for bit, name in names.items() if flags & bit]


# -- frames.json: the header codec ---------------------------------------------------------------


def frames_vectors() -> dict[str, Any]:
    valid = []
    cases = [
        ("CALL serpent, the doc's example", wire.CALL, 0, 1, 7, "g", "hi", b"", []),
        (
            "CALL with META, unicode object id",
            wire.CALL,
            wire.FLAG_META,
            3,
            0x01020304,
            "grüße",
            "hello",
            b"\x92\x90\x80",
            [],
        ),
        (
            "CALL oneway+annotated",
            wire.CALL,
            wire.FLAG_ONEWAY | wire.FLAG_ANNOTATED,
            3,
            1,
            "o",
            "log",
            b"\x93\x90\x80\x80",
            [],
        ),
        (
            "CALL batch (empty method name)",
            wire.CALL,
            wire.FLAG_BATCH,
            2,
            2,
            "calc",
            "",
            b'[[[0,"m",0,[],[]]],{}]',
            [],
        ),
        (
            "RESULT with stream, meta, annotated and batch bits",
            wire.RESULT,
            wire.FLAG_STREAM | wire.FLAG_META | wire.FLAG_ANNOTATED | wire.FLAG_BATCH,
            3,
            0xFFFFFFFF,
            "",
            "",
            b"\xc0",
            [],
        ),
        (
            "RESULT with two buffers",
            wire.RESULT,
            0,
            3,
            9,
            "",
            "",
            b"\x81\xad__zpyro_oob__\x00",
            [b"buf0", b""],
        ),
        (
            "CALL connection handshake (empty method, data 'hello')",
            wire.CALL,
            wire.FLAG_HANDSHAKE,
            3,
            1,
            "g",
            "",
            b"\x92\x91\xa5hello\x80",
            [],
        ),
        ("ERROR, empty payload", wire.ERROR, 0, 2, 0, "", "", b"", []),
        (
            "CALL, oneway with credit",
            wire.CALL,
            wire.FLAG_ONEWAY | wire.FLAG_CREDIT,
            3,
            12,
            "sink",
            "work",
            b"\x92\x90\x80",
            [],
        ),  # fmt: skip
        (
            "ERROR, a notice about oneway call 12",
            wire.ERROR,
            wire.FLAG_ONEWAY,
            2,
            12,
            "",
            "",
            b"{}",
            [],
        ),  # fmt: skip
        ("CREDIT for 250 oneway calls", wire.CREDIT, 0, 2, 0, "", "", b"250", []),
        ("PING", wire.PING, 0, 0, 5, "", "", b"", []),
        ("PONG", wire.PONG, 0, 0, 5, "", "", b"", []),
        ("READY", wire.READY, 0, 2, 0, "", "", b"{}", []),
        ("DONE", wire.DONE, 0, 0, 77, "", "", b"", []),
        ("BYE", wire.BYE, 0, 0, 0, "", "", b"", []),
    ]
    for name, kind, flags, ser, call_id, obj, meth, payload, bufs in cases:
        frames = wire.encode(kind, flags, ser, call_id, obj, meth, payload, bufs)
        valid.append(
            {
                "name": name,
                "frames": hexes(frames),
                "message": {
                    "kind": wire.KIND_NAMES[kind],
                    "flags": flag_names(kind, flags),
                    "serializer": ser,
                    "call_id": call_id,
                    "object": obj,
                    "method": meth,
                    "payload": payload.hex(),
                    "buffers": [b.hex() for b in bufs],
                },
            }
        )
    good = wire.encode(wire.CALL, 0, 3, 7, "g", "hi", b"\x92\x90\x80")
    sig, header, payload = good

    def header_with(**fields: int) -> bytes:
        h = bytearray(header)
        for offset, value in fields.items():
            h[int(offset[1:])] = value
        return bytes(h)

    invalid = [
        ("two frames", [sig, header], "frames", 7),
        ("one frame", [sig], "frames", 0),
        ("no frames", [], "frames", 0),
        ("version 2", [b"ZPY\x02", header, payload], "version", 7),
        ("version 0", [b"ZPY\x00", header, payload], "version", 7),
        ("bad signature", [b"XYZ\x01", header, payload], "signature", 7),
        ("short signature", [b"ZPY", header, payload], "signature", 7),
        ("long signature", [b"ZPY\x01\x00", header, payload], "signature", 7),
        ("header of 11 bytes", [sig, header[:11], payload], "short", 0),
        ("empty header", [sig, b"", payload], "short", 0),
        ("kind 0", [sig, header_with(b0=0), payload], "kind", 7),
        ("kind 10", [sig, header_with(b0=10), payload], "kind", 7),
        ("kind 255", [sig, header_with(b0=255), payload], "kind", 7),
        # (a CALL may carry every flag bit: its refused headers are other kinds' and the
        # reserved byte's)
        (
            "INFLATES flag on a RESULT",
            [sig, header_with(b0=wire.RESULT, b1=wire.FLAG_INFLATES), payload],
            "flags",
            7,
        ),
        (
            "CREDIT flag on a RESULT",
            [sig, header_with(b0=wire.RESULT, b1=wire.FLAG_CREDIT), payload],
            "flags",
            7,
        ),
        (
            "CREDIT flag on a CREDIT",
            [sig, header_with(b0=wire.CREDIT, b1=wire.FLAG_CREDIT), payload],
            "flags",
            7,
        ),
        (
            "reserved flag 0x40 on a RESULT",
            [sig, header_with(b0=wire.RESULT, b1=0x40), payload],
            "flags",
            7,
        ),
        (
            "bit 0x10 (STREAM on a RESULT, HANDSHAKE on a CALL) on an ERROR",
            [sig, header_with(b0=wire.ERROR, b1=0x10), payload],
            "flags",
            7,
        ),
        (
            "ONEWAY flag on a RESULT",
            [sig, header_with(b0=wire.RESULT, b1=wire.FLAG_ONEWAY), payload],
            "flags",
            7,
        ),
        (
            "META flag on an ERROR",
            [sig, header_with(b0=wire.ERROR, b1=wire.FLAG_META), payload],
            "flags",
            7,
        ),
        ("any flag on a PING", [sig, header_with(b0=wire.PING, b1=1), b""], "flags", 7),
        ("reserved byte 1", [sig, header_with(b3=1), payload], "reserved", 7),
        ("reserved byte 0xff", [sig, header_with(b3=0xFF), payload], "reserved", 7),
        ("header one byte too long", [sig, header + b"x", payload], "length", 7),
        ("header one byte too short", [sig, header[:-1], payload], "length", 7),
        (
            "object id not UTF-8",
            [sig, wire.encode_header(1, 0, 3, 5, "ab", "c")[:12] + b"\xff\xfe" + b"c", payload],
            "UTF-8",
            5,
        ),
        (
            "method a lone surrogate in UTF-8",
            [sig, wire.encode_header(1, 0, 3, 6, "o", "abc")[:13] + b"\xed\xa0\x80", payload],
            "UTF-8",
            6,
        ),
    ]
    return {
        "about": "The header codec (docs/PROTOCOL.md, 'Frames'). valid: decoding `frames` gives "
        "`message`, and encoding `message` gives `frames`. invalid: decoding fails with `error`, "
        "its message containing `match` (case-insensitive); `call_id` is what a receiver reads "
        "from the broken header to address its error reply (0: unreadable).",
        "valid": valid,
        "invalid": [
            {
                "name": name,
                "frames": hexes(frames),
                "error": "ProtocolError",
                "match": match,
                "call_id": call_id,
            }
            for name, frames, match, call_id in invalid
            if wire.peek_call_id(frames) == call_id or sys.exit(f"call id of {name!r}?")
        ],
    }


# -- values.json: every value encoding in msgpack and json ---------------------------------------

BIG = bytes(range(256)) * 128  # 32 KiB: the default out-of-band threshold exactly
SMALL_THRESHOLD = 8  # most out-of-band vectors use this threshold, to keep the files small

SHARED = [  # (name, value): both implementations encode these to the same bytes
    ("null", None),
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("positive fixint", 127),
    ("uint8", 200),
    ("uint16", 60000),
    ("uint32", 4000000000),
    ("uint64 within 2**53", 2**40),
    ("negative fixint", -32),
    ("int8", -100),
    ("int16", -30000),
    ("int32", -2000000000),
    ("float", 1.5),
    ("negative float", -0.25),
    ("empty string", ""),
    ("ascii string", "hello"),
    ("unicode string", "grüße ✓ 𝄞"),
    ("string of 40 bytes", "x" * 40),
    ("empty list", []),
    ("list", [1, "two", None, True]),
    ("nested list", [[1, [2, [3]]], []]),
    ("empty map", {}),
    ("map", {"a": 1, "b": [True, None], "c": {"d": "e"}}),
    ("bytes", b"\x00\x01\xfehi"),
    ("empty bytes", b""),
    ("bytes one below the out-of-band threshold", b"1234567"),
    ("a URI (how ns.lookup answers)", URI("PYRO:greeter@127.0.0.1:5555")),
    ("an IPv6 URI", URI("PYRO:obj@[::1]:9090")),
    ("an ipc URI", URI("PYRO:obj@./u:/tmp/g.sock")),
    ("a proxy (class map)", {"__class__": "zpyro.Proxy", "uri": "PYRO:cb@127.0.0.1:6000"}),
    ("a custom object (class map)", {"__class__": "shapes.Point", "x": 1, "y": 2}),
    ("call body [args, kwargs]", [["Irmen"], {}]),
    ("call body with kwargs", [[1, 2], {"greeting": "hi"}]),
    ("out-of-band buffer at the top", b"12345678"),
    ("out-of-band buffers in a list", [b"12345678", b"small", b"0123456789"]),
    ("out-of-band buffers in a map", {"a": {"b": b"12345678"}, "c": b"tiny"}),
    ("user map shaped like an out-of-band marker (escaped)", {"__zpyro_oob__": 0}),
    ("user map shaped like a bytes marker (escaped)", {"__zpyro_bytes__": "aGk="}),
    (
        "user map with an escaped-looking key (escaped again)",
        [{"___zpyro_oob__": {"__zpyro_x": 1}}],
    ),
    ("two-entry map with a marker key (no escape needed)", {"__zpyro_oob__": 0, "k": 1}),
    ("one underscore is no marker", {"_zpyro_oob__": 0}),
]

DECODE_ONLY = [  # (name, serializer, payload, buffers, value)
    (
        "msgpack: float64 1.0 (JavaScript has no float/int distinction)",
        "msgpack",
        b"\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00",
        [],
        1.0,
    ),
    ("msgpack: float32", "msgpack", b"\xca\x3f\xc0\x00\x00", [], 1.5),
    ("msgpack: int64 that fits", "msgpack", b"\xd3\xff\xff\xff\xff\xff\xff\xff\xfe", [], -2),
    (
        "msgpack: uint64 that fits a JS number",
        "msgpack",
        b"\xcf\x00\x00\x00\x00\x00\x00\x00\x05",
        [],
        5,
    ),
    ("msgpack: str8", "msgpack", b"\xd9\x03abc", [], "abc"),
    ("msgpack: array16", "msgpack", b"\xdc\x00\x02\x01\x02", [], [1, 2]),
    (
        "msgpack: marker with its buffer",
        "msgpack",
        b"\x91\x81\xad__zpyro_oob__\x00",
        [b"frame"],
        [b"frame"],
    ),
    (
        "msgpack: set marker",
        "msgpack",
        b"\x81\xb0__zpyro_oobset__\x92\x81\xad__zpyro_oob__\x00\x02",
        [b"x" * 3],
        {2, b"xxx"},
    ),
    ("msgpack: buffers no marker refers to are ignored", "msgpack", b"\x01", [b"unused"], 1),
    (
        "msgpack: a bytes marker is read in msgpack too",
        "msgpack",
        b"\x81\xaf__zpyro_bytes__\xa4aGk=",
        [],
        b"hi",
    ),
    ("json: bytes marker", "json", b'{"__zpyro_bytes__":"aGk="}', [], b"hi"),
    (
        "json: escaped user map",
        "json",
        b'{"___zpyro_bytes__":"aGk="}',
        [],
        {"__zpyro_bytes__": "aGk="},
    ),
    ("json: marker with its buffer", "json", b'[{"__zpyro_oob__":1}]', [b"a", b"b"], [b"b"]),
    ("json: whitespace", "json", b' [ 1 , {"a" : null} ] ', [], [1, {"a": None}]),
]

BAD_PAYLOADS = [  # (name, serializer, payload, buffers, match)
    ("msgpack: marker and no buffers", "msgpack", b"\x81\xad__zpyro_oob__\x00", [], "out-of-band"),
    (
        "msgpack: marker index past the buffers",
        "msgpack",
        b"\x81\xad__zpyro_oob__\x02",
        [b"a", b"b"],
        "out-of-band",
    ),
    (
        "msgpack: negative marker index",
        "msgpack",
        b"\x81\xad__zpyro_oob__\xff",
        [b"a"],
        "out-of-band",
    ),
    (
        "msgpack: marker index a string",
        "msgpack",
        b"\x81\xad__zpyro_oob__\xa10",
        [b"a"],
        "out-of-band",
    ),
    ("msgpack: unknown marker", "msgpack", b"\x81\xaa__zpyro_x_\x01", [], "unknown marker"),
    (
        "msgpack: bytes marker holding a number",
        "msgpack",
        b"\x81\xaf__zpyro_bytes__\x01",
        [],
        "bytes marker",
    ),
    ("msgpack: truncated", "msgpack", b"\x92\x01", [], "msgpack"),
    ("msgpack: reserved type byte 0xc1", "msgpack", b"\xc1", [], "msgpack"),
    ("msgpack: empty payload", "msgpack", b"", [], "msgpack"),
    ("json: not json", "json", b"{nope", [], "json"),
    ("json: not UTF-8", "json", b'"\xff"', [], "json"),
    ("json: marker and no buffers", "json", b'[{"__zpyro_oob__":0}]', [], "out-of-band"),
    ("json: unknown marker", "json", b'{"__zpyro_future__":1}', [], "unknown marker"),
]


def values_vectors() -> dict[str, Any]:
    valid = []
    for name, value in SHARED:
        for ser in (MSGPACK, JSON):
            payload, buffers = ser.dumps(value, SMALL_THRESHOLD)
            back = ser.loads(payload, buffers)
            proxy_uri = getattr(back, "_pyroUri", None)  # zpyro.Proxy's class map makes a Proxy
            assert back == value or str(proxy_uri) == value.get("uri"), name
            valid.append(
                {
                    "name": f"{ser.name}: {name}",
                    "serializer": ser.name,
                    "payload": bytes(payload).hex(),
                    "buffers": [bytes(b).hex() for b in buffers],
                    "value": tagged(value),
                    "encode": True,
                    "threshold": SMALL_THRESHOLD,
                }
            )
    payload, buffers = MSGPACK.dumps([BIG, BIG[:-1]])
    valid.append(
        {
            "name": "msgpack: the default threshold: 32 KiB go out of band, one byte less inline",
            "serializer": "msgpack",
            "payload": bytes(payload).hex(),
            "buffers": [bytes(b).hex() for b in buffers],
            "value": tagged([BIG, BIG[:-1]]),
            "encode": True,
            "threshold": 32768,
        }
    )
    for name, ser_name, payload, buffers, value in DECODE_ONLY:
        got = SERIALIZERS[ser_name].loads(payload, buffers)
        assert got == value, (name, got)
        valid.append(
            {
                "name": name,
                "serializer": ser_name,
                "payload": payload.hex(),
                "buffers": [b.hex() for b in buffers],
                "value": tagged(value),
                "encode": False,
            }
        )
    return {
        "about": "Values (docs/PROTOCOL.md, 'Values' and 'Markers'). valid: loading `payload` "
        "with `buffers` gives `value`; with `encode`, dumping `value` with out-of-band "
        "threshold `threshold` gives exactly `payload` and `buffers`. invalid: loading fails with "
        "`error`, its message containing `match`.",
        "valid": valid,
        "invalid": [
            {
                "name": name,
                "serializer": ser_name,
                "payload": payload.hex(),
                "buffers": [b.hex() for b in buffers],
                "error": "SerializeError",
                "match": match,
            }
            for name, ser_name, payload, buffers, match in BAD_PAYLOADS
        ],
    }


# -- messages.json: whole messages and what they mean --------------------------------------------


def message(
    name: str,
    kind: int,
    flags: int,
    ser: Any,
    call_id: int,
    obj: str,
    meth: str,
    body: Any,
    meaning: dict[str, Any],
) -> dict[str, Any]:
    payload, buffers = ser.dumps(body) if ser is not None else (b"", [])
    frames = wire.encode(
        kind, flags, ser.serializer_id if ser else 0, call_id, obj, meth, payload, buffers
    )
    return {
        "name": name,
        "frames": hexes(frames),
        "meaning": {
            "kind": wire.KIND_NAMES[kind],
            "flags": flag_names(kind, flags),
            "serializer": ser.name if ser else None,
            "call_id": call_id,
            "object": obj,
            "method": meth,
            **{k: tagged(v) for k, v in meaning.items()},
        },
    }


ERROR_MAP = {
    "type": "builtins.ValueError",
    "message": "bad value",
    "args": ["bad value"],
    "traceback": ["Traceback (most recent call last):\n", "ValueError: bad value\n"],
}
META = {
    "methods": ["echo", "log"],
    "oneway": ["log"],
    "attrs": ["motto"],
    "idempotent": ["echo"],
    "max_message_size": 1073741824,
    "serializers": ["serpent", "msgpack", "json"],
}


def messages_vectors() -> dict[str, Any]:
    M, J = MSGPACK, JSON
    C, R, E = wire.CALL, wire.RESULT, wire.ERROR
    valid = [
        message(
            "call, msgpack",
            C,
            0,
            M,
            1,
            "greeter",
            "get_fortune",
            [["Irmen"], {}],
            {"args": ["Irmen"], "kwargs": {}},
        ),
        message(
            "call, json, kwargs",
            C,
            0,
            J,
            2,
            "calc",
            "greet",
            [["x"], {"greeting": "hi"}],
            {"args": ["x"], "kwargs": {"greeting": "hi"}},
        ),
        message(
            "oneway call",
            C,
            wire.FLAG_ONEWAY,
            M,
            3,
            "logger",
            "log",
            [["line"], {}],
            {"args": ["line"], "kwargs": {}},
        ),
        message(
            "call wanting metadata",
            C,
            wire.FLAG_META,
            M,
            4,
            "calc",
            "echo",
            [[1], {}],
            {"args": [1], "kwargs": {}},
        ),
        message(
            "annotated call (correlation id)",
            C,
            wire.FLAG_ANNOTATED,
            M,
            5,
            "calc",
            "echo",
            [[1], {}, {"correlation_id": "abc"}],
            {"args": [1], "kwargs": {}, "annotations": {"correlation_id": "abc"}},
        ),
        message(
            "get_metadata",
            C,
            0,
            M,
            6,
            "Pyro.Daemon",
            "get_metadata",
            [["calc"], {}],
            {"args": ["calc"], "kwargs": {}},
        ),
        message(
            "property read",
            C,
            0,
            M,
            7,
            "calc",
            "__getattr__",
            [["motto"], {}],
            {"args": ["motto"], "kwargs": {}},
        ),
        message(
            "property write",
            C,
            0,
            M,
            8,
            "calc",
            "__setattr__",
            [["motto", "hey"], {}],
            {"args": ["motto", "hey"], "kwargs": {}},
        ),
        message(
            "call with an out-of-band argument",
            C,
            0,
            M,
            9,
            "store",
            "put",
            [[BIG], {}],
            {"args": [BIG], "kwargs": {}},
        ),
        message(
            "call with a bytes argument under the threshold",
            C,
            0,
            M,
            9,
            "store",
            "put",
            [[b"abc"], {}],
            {"args": [b"abc"], "kwargs": {}},
        ),
        message(
            "batch of three echo calls",
            C,
            wire.FLAG_BATCH,
            M,
            10,
            "calc",
            "",
            [[[3, "echo", 1, [0, 1, 2], []]], {}],
            {
                "batch": {
                    "count": 3,
                    "methods": ["echo", "echo", "echo"],
                    "args": [[0], [1], [2]],
                    "kwargs": [{}, {}, {}],
                }
            },
        ),
        message(
            "batch of mixed calls",
            C,
            wire.FLAG_BATCH,
            J,
            11,
            "calc",
            "",
            [[[2, ["add", "greet"], [2, 1], [1, 2, "x"], [[1, {"greeting": "hi"}]]]], {}],
            {
                "batch": {
                    "count": 2,
                    "methods": ["add", "greet"],
                    "args": [[1, 2], ["x"]],
                    "kwargs": [{}, {"greeting": "hi"}],
                }
            },
        ),
        message(
            "stream_next",
            C,
            0,
            M,
            12,
            "Pyro.Daemon",
            "stream_next",
            [["0f3a"], {}],
            {"args": ["0f3a"], "kwargs": {}},
        ),
        message(
            "stream_next of a brokered daemon's stream",
            C,
            0,
            M,
            13,
            "Pyro.Daemon:44aa",
            "stream_next",
            [["44aa/0f3a"], {}],
            {"args": ["44aa/0f3a"], "kwargs": {}},
        ),
        message(
            "stream_close (oneway)",
            C,
            wire.FLAG_ONEWAY,
            M,
            14,
            "Pyro.Daemon",
            "stream_close",
            [["0f3a"], {}],
            {"args": ["0f3a"], "kwargs": {}},
        ),
        message("result", R, 0, M, 1, "", "", "Hello, Irmen", {"value": "Hello, Irmen"}),
        message("result, json", R, 0, J, 2, "", "", {"a": [1, 2]}, {"value": {"a": [1, 2]}}),
        message(
            "result with metadata",
            R,
            wire.FLAG_META,
            M,
            4,
            "",
            "",
            [1, META],
            {"value": 1, "metadata": META},
        ),
        message(
            "result with annotations",
            R,
            wire.FLAG_ANNOTATED,
            M,
            5,
            "",
            "",
            [1, {"served_by": "x"}],
            {"value": 1, "annotations": {"served_by": "x"}},
        ),
        message(
            "result with metadata and annotations (annotations outermost)",
            R,
            wire.FLAG_META | wire.FLAG_ANNOTATED,
            M,
            5,
            "",
            "",
            [[1, META], {"served_by": "x"}],
            {"value": 1, "metadata": META, "annotations": {"served_by": "x"}},
        ),
        message(
            "connection handshake (same bit as STREAM, on a CALL)",
            C,
            wire.FLAG_HANDSHAKE,
            M,
            17,
            "greeter",
            "",
            [["hello"], {}],
            {"args": ["hello"], "kwargs": {}},
        ),
        message(
            "result: the answer to a handshake",
            R,
            0,
            M,
            17,
            "",
            "",
            {"handshake": "hello", "meta": META},
            {"value": {"handshake": "hello", "meta": META}},
        ),
        message(
            "result: a stream's first chunk",
            R,
            wire.FLAG_STREAM,
            M,
            15,
            "",
            "",
            ["0f3a", [0, 1, 4], False, None],
            {"stream": {"id": "0f3a", "items": [0, 1, 4], "finished": False, "error": None}},
        ),
        message(
            "result: a stream that ended with an error",
            R,
            wire.FLAG_STREAM,
            M,
            16,
            "",
            "",
            ["0f3b", [1], True, ERROR_MAP],
            {"stream": {"id": "0f3b", "items": [1], "finished": True, "error": ERROR_MAP}},
        ),
        message(
            "result: stream_next's chunk",
            R,
            0,
            M,
            12,
            "",
            "",
            [[9, 16], True, None],
            {"value": [[9, 16], True, None]},
        ),
        message(
            "result of a batch that ran whole",
            R,
            wire.FLAG_BATCH,
            M,
            10,
            "",
            "",
            [[0, 1, 2], None],
            {"batch_result": {"values": [0, 1, 2], "error": None}},
        ),
        message(
            "result of a batch that failed in its second call",
            R,
            wire.FLAG_BATCH,
            M,
            11,
            "",
            "",
            [[3], ERROR_MAP],
            {"batch_result": {"values": [3], "error": ERROR_MAP}},
        ),
        message(
            "result with an out-of-band buffer",
            R,
            0,
            M,
            17,
            "",
            "",
            {"blob": BIG, "small": b"ab"},
            {"value": {"blob": BIG, "small": b"ab"}},
        ),
        message(
            "result: a URI",
            R,
            0,
            M,
            18,
            "",
            "",
            URI("PYRO:x@127.0.0.1:9"),
            {"value": URI("PYRO:x@127.0.0.1:9")},
        ),
        message("error", E, 0, M, 1, "", "", ERROR_MAP, {"error": ERROR_MAP}),
        message(
            "error about an unreadable request (call id 0, json)",
            E,
            0,
            J,
            0,
            "",
            "",
            {
                "type": "zpyro.errors.ProtocolError",
                "message": "unsupported protocol version 2 (this is 1)",
                "args": ["unsupported protocol version 2 (this is 1)"],
                "traceback": [],
            },
            {
                "error": {
                    "type": "zpyro.errors.ProtocolError",
                    "message": "unsupported protocol version 2 (this is 1)",
                    "args": ["unsupported protocol version 2 (this is 1)"],
                    "traceback": [],
                }
            },
        ),
        message(
            "refused serializer (json error)",
            E,
            0,
            J,
            19,
            "",
            "",
            {
                "type": "zpyro.errors.SerializeError",
                "message": "serializer serpent is not accepted by this daemon (accepted: json, msgpack)",
                "args": [
                    "serializer serpent is not accepted by this daemon (accepted: json, msgpack)"
                ],
                "traceback": [],
            },
            {
                "error": {
                    "type": "zpyro.errors.SerializeError",
                    "message": "serializer serpent is not accepted by this daemon (accepted: json, msgpack)",
                    "args": [
                        "serializer serpent is not accepted by this daemon (accepted: json, msgpack)"
                    ],
                    "traceback": [],
                }
            },
        ),
        message("ping", wire.PING, 0, None, 20, "", "", None, {}),
        message("pong", wire.PONG, 0, None, 20, "", "", None, {}),
    ]
    bad_calls = [
        ("body not a list", M, 0, 1, {"args": []}, "ProtocolError", "[args, kwargs"),
        ("body of one item", M, 0, 1, [[1]], "ProtocolError", "[args, kwargs"),
        ("args not a list", M, 0, 1, [1, {}], "ProtocolError", "[args, kwargs"),
        ("kwargs not a map", M, 0, 1, [[], []], "ProtocolError", "[args, kwargs"),
        (
            "annotations not a map",
            M,
            wire.FLAG_ANNOTATED,
            1,
            [[], {}, [1]],
            "ProtocolError",
            "annotations",
        ),
        (
            "annotated call without annotations",
            M,
            wire.FLAG_ANNOTATED,
            1,
            [[], {}],
            "ProtocolError",
            "[args, kwargs",
        ),
        ("batch of two arguments", M, wire.FLAG_BATCH, 1, [[1, 2], {}], "ProtocolError", "batch"),
        (
            "batch of four columns",
            M,
            wire.FLAG_BATCH,
            1,
            [[[1, "m", 0, []]], {}],
            "ProtocolError",
            "batch",
        ),
        (
            "batch count negative",
            M,
            wire.FLAG_BATCH,
            1,
            [[[-1, "m", 0, [], []]], {}],
            "ProtocolError",
            "count",
        ),
        (
            "batch count a string",
            M,
            wire.FLAG_BATCH,
            1,
            [[["2", "m", 0, [], []]], {}],
            "ProtocolError",
            "count",
        ),
        (
            "batch count beyond the cap",
            M,
            wire.FLAG_BATCH,
            1,
            [[[1000001, "m", 0, [], []]], {}],
            "ProtocolError",
            "at most",
        ),
        (
            "batch methods of the wrong length",
            M,
            wire.FLAG_BATCH,
            1,
            [[[2, ["a"], 0, [], []]], {}],
            "ProtocolError",
            "methods",
        ),
        (
            "batch arity negative",
            M,
            wire.FLAG_BATCH,
            1,
            [[[1, "m", -1, [], []]], {}],
            "ProtocolError",
            "arity",
        ),
        (
            "batch arguments short",
            M,
            wire.FLAG_BATCH,
            1,
            [[[2, "m", 1, [1], []]], {}],
            "ProtocolError",
            "arguments",
        ),
        (
            "batch keywords index out of range",
            M,
            wire.FLAG_BATCH,
            1,
            [[[1, "m", 0, [], [[1, {}]]]], {}],
            "ProtocolError",
            "keywords",
        ),
        (
            "batch keywords not pairs",
            M,
            wire.FLAG_BATCH,
            1,
            [[[1, "m", 0, [], [[0]]]], {}],
            "ProtocolError",
            "keywords",
        ),
    ]
    invalid_calls = []
    for name, ser, flags, call_id, body, error, match in bad_calls:
        payload, _ = ser.dumps(body)
        invalid_calls.append(
            {
                "name": name,
                "frames": hexes(
                    wire.encode(
                        wire.CALL,
                        flags,
                        ser.serializer_id,
                        call_id,
                        "calc",
                        "" if flags & wire.FLAG_BATCH else "echo",
                        payload,
                    )
                ),
                "error": error,
                "match": match,
            }
        )
    return {
        "about": "Whole messages (docs/PROTOCOL.md, 'Message kinds', 'Flows'). valid: what each "
        "message means: a CALL's args/kwargs/annotations (a batch's calls, one by one), a RESULT's "
        "value with the metadata/annotations/stream/batch its flags wrap around it, an ERROR's "
        "error map. invalid_calls: CALL messages a daemon must refuse; the error it sends back is "
        "of `error` (a zpyro.errors type) with `match` in its message.",
        "valid": valid,
        "invalid_calls": invalid_calls,
    }


def main() -> None:
    for name, vectors in (
        ("frames.json", frames_vectors()),
        ("values.json", values_vectors()),
        ("messages.json", messages_vectors()),
    ):
        (HERE / name).write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
