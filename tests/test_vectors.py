"""The shared test vectors (tests/vectors/*.json) against the Python codec.

The JavaScript client runs the same files (clients/js/test/vectors.test.js), so the two
implementations cannot drift apart. The files are the authority; tests/vectors/generate.py
wrote them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zpyro import errors, wire
from zpyro.batch import read_calls
from zpyro.client import Proxy
from zpyro.dispatch import Dispatcher
from zpyro.exposure import expose
from zpyro.objects import ObjectRegistry
from zpyro.serializers import SERIALIZERS, get_serializer
from zpyro.uri import URI

pytestmark = pytest.mark.timeout(30)

VECTORS = Path(__file__).resolve().parent / "vectors"
FRAMES = json.loads((VECTORS / "frames.json").read_text())
VALUES = json.loads((VECTORS / "values.json").read_text())
MESSAGES = json.loads((VECTORS / "messages.json").read_text())
FLAGS = {
    "ONEWAY": wire.FLAG_ONEWAY,
    "META": wire.FLAG_META,
    "BATCH": wire.FLAG_BATCH,
    "ANNOTATED": wire.FLAG_ANNOTATED,
    "STREAM": wire.FLAG_STREAM,
    "HANDSHAKE": wire.FLAG_HANDSHAKE,
    "CREDIT": wire.FLAG_CREDIT,
}
KINDS = {name: kind for kind, name in wire.KIND_NAMES.items()}


def flag_names(kind: int, flags: int) -> list[str]:
    """The names of a message's flags: per kind (bit 0x10 is HANDSHAKE on a CALL, STREAM on
    the others)."""
    other = "STREAM" if kind == wire.CALL else "HANDSHAKE"
    return [name for name, bit in FLAGS.items() if flags & bit and name != other]


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def unhex(frames: list[str]) -> list[bytes]:
    return [bytes.fromhex(f) for f in frames]


def native(value: Any) -> Any:
    """The files' JSON notation as a Python value."""
    if isinstance(value, list):
        return [native(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "$bytes":
                return bytes.fromhex(inner)
            if key == "$uri":
                return URI(inner)
            if key == "$set":
                return {native(v) for v in inner}
        return {k: native(v) for k, v in value.items()}
    return value


def tagged(value: Any) -> Any:
    """A decoded Python value in the files' notation (sets compared as sets)."""
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, URI):
        return {"$uri": str(value)}
    if isinstance(value, Proxy):
        return {"__class__": "zpyro.Proxy", "uri": str(value._pyroUri)}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((tagged(v) for v in value), key=json.dumps)}
    if isinstance(value, (list, tuple)):
        return [tagged(v) for v in value]
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    return value


def flags_of(names: list[str]) -> int:
    total = 0
    for name in names:
        total |= FLAGS[name]
    return total


# -- frames ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", FRAMES["valid"], ids=ids(FRAMES["valid"]))
def test_frames_decode_and_encode(vector: dict[str, Any]) -> None:
    frames = unhex(vector["frames"])
    want = vector["message"]
    msg = wire.decode(frames)
    assert wire.KIND_NAMES[msg.kind] == want["kind"]
    assert msg.flags == flags_of(want["flags"])
    assert (msg.serializer_id, msg.call_id) == (want["serializer"], want["call_id"])
    assert (msg.object_id, msg.method) == (want["object"], want["method"])
    assert msg.payload == bytes.fromhex(want["payload"])
    assert [bytes(b) for b in msg.buffers] == unhex(want["buffers"])
    again = wire.encode(
        KINDS[want["kind"]],
        flags_of(want["flags"]),
        want["serializer"],
        want["call_id"],
        want["object"],
        want["method"],
        bytes.fromhex(want["payload"]),
        unhex(want["buffers"]),
    )
    assert [bytes(f) for f in again] == frames


@pytest.mark.parametrize("vector", FRAMES["invalid"], ids=ids(FRAMES["invalid"]))
def test_frames_invalid(vector: dict[str, Any]) -> None:
    frames = unhex(vector["frames"])
    with pytest.raises(errors.ProtocolError) as info:
        wire.decode(frames)
    assert vector["match"].lower() in str(info.value).lower()
    assert wire.peek_call_id(frames) == vector["call_id"]


# -- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VALUES["valid"], ids=ids(VALUES["valid"]))
def test_values(vector: dict[str, Any]) -> None:
    ser = SERIALIZERS[vector["serializer"]]
    payload = bytes.fromhex(vector["payload"])
    buffers = unhex(vector["buffers"])
    assert tagged(ser.loads(payload, buffers)) == vector["value"]
    if vector["encode"]:
        out, bufs = ser.dumps(native(vector["value"]), vector["threshold"])
        assert bytes(out) == payload
        assert [bytes(b) for b in bufs] == buffers


@pytest.mark.parametrize("vector", VALUES["invalid"], ids=ids(VALUES["invalid"]))
def test_values_invalid(vector: dict[str, Any]) -> None:
    ser = SERIALIZERS[vector["serializer"]]
    with pytest.raises(errors.SerializeError) as info:
        ser.loads(bytes.fromhex(vector["payload"]), unhex(vector["buffers"]))
    assert vector["match"].lower() in str(info.value).lower()


# -- messages -------------------------------------------------------------------------------------


def meaning_of(frames: list[bytes]) -> dict[str, Any]:
    """What a message means, read with zpyro's own pieces (daemon side for CALL, proxy side
    for RESULT/ERROR)."""
    msg = wire.decode(frames)
    ser = get_serializer(msg.serializer_id) if msg.payload else None
    out: dict[str, Any] = {
        "kind": wire.KIND_NAMES[msg.kind],
        "flags": flag_names(msg.kind, msg.flags),
        "serializer": ser.name if ser else None,
        "call_id": msg.call_id,
        "object": msg.object_id,
        "method": msg.method,
    }
    if msg.kind == wire.CALL:
        assert ser is not None
        args, kwargs, annotations = Dispatcher.unpack_call(ser, msg)
        if msg.flags & wire.FLAG_BATCH:
            count, methods, arity, arguments, keywords = read_calls(args[0])
            names = [methods] * count if isinstance(methods, str) else list(methods)
            widths = [arity] * count if isinstance(arity, int) else list(arity)
            split, start = [], 0
            for width in widths:
                split.append(list(arguments[start : start + width]))
                start += width
            kws = [keywords.get(i, {}) for i in range(count)]
            out["batch"] = {"count": count, "methods": names, "args": split, "kwargs": kws}
        else:
            out["args"], out["kwargs"] = list(args), kwargs
            if msg.flags & wire.FLAG_ANNOTATED:
                out["annotations"] = annotations
    elif msg.kind == wire.RESULT:
        assert ser is not None
        value = ser.loads(msg.payload, msg.buffers)
        if msg.flags & wire.FLAG_ANNOTATED:
            value, out["annotations"] = value
        if msg.flags & wire.FLAG_META:
            value, out["metadata"] = value
        if msg.flags & wire.FLAG_STREAM:
            stream_id, items, finished, error = value
            out["stream"] = {"id": stream_id, "items": items, "finished": finished, "error": error}
        elif msg.flags & wire.FLAG_BATCH:
            out["batch_result"] = {"values": value[0], "error": value[1]}
        else:
            out["value"] = value
    elif msg.kind == wire.ERROR:
        assert ser is not None
        out["error"] = ser.loads(msg.payload)
        errors.payload_to_exception(out["error"])  # a well-formed error map
    return tagged(out)


@pytest.mark.parametrize("vector", MESSAGES["valid"], ids=ids(MESSAGES["valid"]))
def test_messages(vector: dict[str, Any]) -> None:
    assert meaning_of(unhex(vector["frames"])) == vector["meaning"]


@expose
class Calc:
    def echo(self, value: Any) -> Any:
        return value


@pytest.mark.parametrize("vector", MESSAGES["invalid_calls"], ids=ids(MESSAGES["invalid_calls"]))
def test_invalid_calls_get_the_error(vector: dict[str, Any]) -> None:
    registry = ObjectRegistry()
    registry.add(Calc(), "calc")
    disp = Dispatcher(registry, {"serpent", "json", "msgpack"}, True, 2**30, 32768)
    msg = wire.decode(unhex(vector["frames"]))
    reply = disp.handle(b"peer", msg)
    assert isinstance(reply, list)
    answer = wire.decode(reply)
    assert answer.kind == wire.ERROR and answer.call_id == msg.call_id
    body = get_serializer(answer.serializer_id).loads(answer.payload)
    assert body["type"] == f"zpyro.errors.{vector['error']}"
    assert vector["match"].lower() in body["message"].lower()
