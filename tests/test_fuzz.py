"""Fuzzing: the pure codecs under hypothesis, then seeded random frames against live processes.

Part 1 adds property tests where the codec suites (test_wire, test_uri, test_serializers,
test_announce) leave gaps: field values out of range, frame types, lying lengths, URI-shaped
noise, out-of-band markers pointing at missing buffers, nesting bombs, and announcements that
are valid JSON with exactly one field of the wrong type.

Part 2 runs a seeded random-frame storm (several raw DEALERs, thousands of messages) against a
daemon subprocess and against a broker subprocess, while a well-behaved caller keeps calling in
another thread (sync and futures) and must get every answer right. Afterwards the process still
serves, is alive, and logged no traceback. Each test prints its seed: rerun with
``ZPYRO_FUZZ_SEED=N`` to replay the same messages.
"""

from __future__ import annotations

import json
import marshal
import os
import pickle
import queue
import random
import string
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq
from conftest import PYTHON, BrokerProcess, Spawned, eventually, raw_dealer, raw_dumps, scaled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zpyro
from zpyro import announce, errors, wire
from zpyro.errors import ProtocolError, SerializeError, ZPyroError
from zpyro.namewatch import NameWatcher
from zpyro.serializers import BY_ID, SERIALIZERS
from zpyro.uri import URI, endpoint_to_location, make_uri

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAFE = ["serpent", "json", "msgpack"]


# =================================================================================================
# Part 1: property tests of the pure codecs
# =================================================================================================

# -- wire -----------------------------------------------------------------------------------------

any_int = st.integers(-(2**40), 2**40) | st.sampled_from([-1, 256, 2**16, 2**32, 2**64])
any_text = st.text(st.characters(codec=None), max_size=20) | st.sampled_from(
    ["\ud800", "a\udfffb", "x" * 65536, "é" * 40000]
)


@FUZZ
@given(any_int, any_int, any_int, any_int, any_text, any_text)
def test_encode_raises_only_protocol_error(
    kind: int, flags: int, ser: int, call_id: int, object_id: str, method: str
) -> None:
    """Whatever the fields, encode gives frames that decode to the same fields, or ProtocolError."""
    try:
        frames = wire.encode(kind, flags, ser, call_id, object_id, method, b"p")
    except ProtocolError:
        return
    try:
        msg = wire.decode(frames)
    except ProtocolError:
        # the fields encode leaves for decode to refuse: the kind, and flags that kind never has
        assert kind not in wire.KINDS or flags & ~wire.ALLOWED_FLAGS.get(kind, 0)
        return
    assert (msg.kind, msg.flags, msg.serializer_id, msg.call_id) == (kind, flags, ser, call_id)
    assert (msg.object_id, msg.method, msg.payload) == (object_id, method, b"p")


def _as(kind: str, frame: bytes) -> Any:
    if kind == "bytearray":
        return bytearray(frame)
    if kind == "memoryview":
        return memoryview(frame)
    if kind == "frame":
        return zmq.Frame(frame)
    return frame


def _outcome(frames: list[Any]) -> tuple[Any, ...]:
    try:
        m = wire.decode(frames)
    except ProtocolError as exc:
        return ("error", str(exc))
    return (m.kind, m.flags, m.serializer_id, m.call_id, m.object_id, m.method, bytes(m.payload))


near_messages = st.builds(
    lambda k, o, m, p: wire.encode(k, 0, 1, 9, o, m, p),
    st.sampled_from(sorted(wire.KINDS)),
    st.text(max_size=8),
    st.text(max_size=8),
    st.binary(max_size=16),
) | st.lists(st.binary(max_size=24), max_size=5)


@FUZZ
@given(near_messages, st.sampled_from(["bytearray", "memoryview", "frame"]), st.data())
def test_decode_is_the_same_for_every_frame_type(
    frames: list[bytes], kind: str, data: st.DataObject
) -> None:
    if frames and len(frames) > 1 and data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(frames[1])))  # sometimes a cut header, too
        frames = [frames[0], frames[1][:at], *frames[2:]]
    assert _outcome([_as(kind, f) for f in frames]) == _outcome(frames)


@FUZZ
@given(
    st.text(max_size=10),
    st.text(max_size=10),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
)
def test_decode_refuses_string_lengths_that_lie(
    obj: str, meth: str, obj_len: int, meth_len: int
) -> None:
    ob, mb = obj.encode(), meth.encode()
    header = struct.pack("!BBBBIHH", wire.CALL, 0, 1, 0, 77, obj_len, meth_len) + ob + mb
    frames = [wire.SIGNATURE, header, b""]
    if (obj_len, meth_len) == (len(ob), len(mb)):
        assert wire.decode(frames).object_id == obj
        return
    try:
        msg = wire.decode(frames)
    except ProtocolError:
        assert wire.peek_call_id(frames) == 77  # still answerable
        return
    # lengths that differ but add up the same split the bytes elsewhere: still valid UTF-8
    assert obj_len + meth_len == len(ob) + len(mb)
    assert (msg.object_id + msg.method).encode() == ob + mb


# -- URIs -----------------------------------------------------------------------------------------

URI_TOKENS = [
    "PYRO:", "PYRONAME:", "PYROMETA:", "pyro:", "PYRO", ":", "@", "@@", "[", "]", "::1", "./u:",
    "./inproc:", "/", ".", "localhost", "127.0.0.1", "0", "1", "65535", "65536", "99999", "-1",
    "obj", "a,b", ",", " ", "\t", "\n", "é", "\x00", "\ud800", "x" * 50,
]  # fmt: skip
uri_noise = st.lists(st.sampled_from(URI_TOKENS), max_size=10).map("".join)


@settings(max_examples=500, deadline=None)
@given(uri_noise | st.text(st.characters(codec=None), max_size=40))
def test_uri_shaped_noise_parses_or_raises_zpyro_error(text: str) -> None:
    try:
        uri = URI(text)
    except ZPyroError:
        return
    again = URI(str(uri))  # what parsed is canonical and parses to itself
    assert again == uri and str(again) == str(uri) and hash(again) == hash(uri)
    assert uri.protocol in ("PYRO", "PYRONAME", "PYROMETA")
    if uri.location is not None:
        assert uri.endpoint is not None
        assert endpoint_to_location(uri.endpoint) == uri.location
    else:
        assert uri.protocol != "PYRO" and uri.endpoint is None


@FUZZ
@given(
    st.one_of(
        st.integers(), st.binary(), st.none(), st.lists(st.text()), st.floats(), st.booleans()
    )
)
def test_uri_from_a_non_string_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        URI(value)


@FUZZ
@given(uri_noise | st.text(max_size=30), uri_noise | st.text(max_size=30))
def test_endpoint_and_make_uri_raise_only_zpyro_error(text: str, other: str) -> None:
    try:
        location = endpoint_to_location(text)
    except ZPyroError:
        pass
    else:
        assert URI(f"PYRO:x@{location}").location == location
    try:
        uri = make_uri(other, text)
    except ZPyroError:
        return
    assert URI(str(uri)) == uri


ids = st.text(string.ascii_letters + string.digits + "._-:,/é", min_size=1, max_size=20)
locations = st.one_of(
    st.builds(lambda h, p: f"{h}:{p}", st.sampled_from(["localhost", "127.0.0.1", "h.x"]),
              st.integers(1, 65535)),
    st.builds(lambda p: f"[::1]:{p}", st.integers(1, 65535)),
    st.builds(lambda p: f"./u:/tmp/{p}", ids),
    st.builds(lambda p: f"./inproc:{p}", ids),
)  # fmt: skip


@FUZZ
@given(st.sampled_from(["PYRO", "PYRONAME", "PYROMETA"]), ids, locations, st.data())
def test_valid_uris_round_trip_whatever_the_case_and_blanks(
    protocol: str, obj: str, location: str, data: st.DataObject
) -> None:
    if protocol == "PYROMETA" and not obj.strip(","):
        obj += "tag"
    cased = "".join(c.lower() if data.draw(st.booleans()) else c for c in protocol)
    blanks = data.draw(st.sampled_from(["", " ", "\t", "\n "]))
    uri = URI(f"{blanks}{cased}:{obj}@{location}{blanks}")
    assert str(uri) == f"{protocol}:{obj}@{location}"
    assert (uri.protocol, uri.object, uri.location) == (protocol, obj, location)
    assert URI(str(uri)) == uri == str(uri)
    assert make_uri(obj, location, protocol) == uri


# -- serializers: the envelope ----------------------------------------------------------------------

MARKER_INDEXES = st.one_of(
    st.integers(-3, 6), st.booleans(), st.floats(allow_nan=False), st.text(max_size=3),
    st.none(), st.lists(st.integers(0, 2), max_size=2),
)  # fmt: skip


def _nest_marker(index: Any, depth: int, wrap: str) -> Any:
    value: Any = {"__zpyro_oob__": index}
    for _ in range(depth):
        value = [value] if wrap == "list" else {"k": value}
    return value


@pytest.mark.parametrize("name", SAFE)
@FUZZ
@given(
    index=MARKER_INDEXES,
    nbufs=st.integers(0, 3),
    depth=st.integers(0, 4),
    wrap=st.sampled_from(["list", "dict"]),
)
def test_out_of_band_markers_pointing_anywhere(
    name: str, index: Any, nbufs: int, depth: int, wrap: str
) -> None:
    """A marker is replaced by its buffer, or refused with SerializeError naming the serializer
    (also with no buffer frames at all: a user's marker-shaped map travels escaped)."""
    ser = SERIALIZERS[name]
    doc = [[_nest_marker(index, depth, wrap)], {}]
    try:
        payload = raw_dumps(name, doc)  # the marker as it is, not escaped
    except (TypeError, ValueError, OverflowError):
        return  # e.g. msgpack and a value it cannot write: nothing to load
    buffers = [f"buffer-{i}".encode() for i in range(nbufs)]
    valid = type(index) is int and 0 <= index < nbufs
    try:
        got = ser.loads(payload, buffers)
    except SerializeError as exc:
        assert str(exc).startswith(name)
        assert not valid, f"valid marker {index!r} refused: {exc}"
        return
    assert valid or (name == "json" and index in range(nbufs)), f"marker {index!r} accepted"
    value = got[0][0]
    for _ in range(depth):
        value = value[0] if wrap == "list" else value["k"]
    assert value == buffers[int(index)] and type(value) is bytes


@pytest.mark.parametrize("name", SAFE)
@FUZZ
@given(
    content=st.one_of(
        st.integers(-9, 9), st.text(max_size=4), st.lists(st.lists(st.integers(0, 9)))
    )
)
def test_out_of_band_set_marker_with_junk(name: str, content: Any) -> None:
    ser = SERIALIZERS[name]
    payload = raw_dumps(name, {"__zpyro_oobset__": content})
    try:
        got = ser.loads(payload, [b"b0"])
    except SerializeError as exc:
        assert str(exc).startswith(name)
        return
    assert isinstance(got, set)


@FUZZ
@given(st.one_of(st.text(max_size=12), st.integers(), st.none(), st.lists(st.integers())))
def test_json_bytes_marker_with_junk(content: Any) -> None:
    payload = json.dumps({"__zpyro_bytes__": content}).encode()
    try:
        got = SERIALIZERS["json"].loads(payload)
    except SerializeError as exc:
        assert str(exc).startswith("json")
        return
    assert type(got) is bytes


BOMBS = {
    "serpent": [b"[" * 100_000, b"(" * 50_000 + b")" * 50_000, b"1" * 100_000, b"{" * 3000],
    "json": [b"[" * 100_000, b"[" * 50_000 + b"]" * 50_000, b"1" * 100_000, b'{"a":' * 5000],
    "msgpack": [b"\x91" * 100_000 + b"\xc0", b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff"],
}


@pytest.mark.parametrize("name, bomb", [(n, b) for n, bs in BOMBS.items() for b in bs])
@pytest.mark.parametrize("as_type", [bytes, bytearray, memoryview])
def test_nesting_and_size_bombs_are_serialize_errors(name: str, bomb: bytes, as_type: type) -> None:
    """Deep nesting, huge digit strings and length headers claiming 4 G items: a prompt
    SerializeError (or a value), never a RecursionError or MemoryError escaping."""
    started = time.monotonic()
    try:
        SERIALIZERS[name].loads(as_type(bomb))
    except SerializeError as exc:
        assert str(exc).startswith(name)
    assert time.monotonic() - started < scaled(5)


@pytest.mark.parametrize("name", SAFE)
@FUZZ
@given(junk=st.binary(max_size=120), as_type=st.sampled_from([bytearray, memoryview]))
def test_loads_of_any_buffer_type_raises_only_serialize_error(
    name: str, junk: bytes, as_type: type
) -> None:
    try:
        SERIALIZERS[name].loads(as_type(junk), [as_type(b"b")])
    except SerializeError as exc:
        assert str(exc).startswith(name)


# -- announcements: valid JSON, one field of the wrong type ---------------------------------------

GOOD_BODIES: dict[str, dict[str, Any]] = {
    "name.registered": {"name": "n", "uri": "PYRO:n@h:1", "metadata": ["t"]},
    "name.removed": {"name": "n"},
    "daemon.joined": {"daemon": "d", "names": ["a"], "capacity": 2},
    "daemon.left": {"daemon": "d", "names": ["a"], "reason": "closed"},
    "broker.alive": {},
}
# for each field, JSON values of types it must not accept
WRONG: dict[str, list[Any]] = {
    "str": [None, 1, 1.5, True, [], ["x"], {}],
    "str_list": [None, "a", 1, {}, [1], ["a", None], [["a"]], True],
    "count": [None, "1", -1, 1.5, True, [], {}, 2.0],
    "time": [None, "1", True, [], {}],
}
FIELD_TYPES = {
    "name": "str", "uri": "str", "reason": "str", "daemon": "str",
    "metadata": "str_list", "names": "str_list",
    "capacity": "count", "epoch": "count", "seq": "count", "time": "time",
}  # fmt: skip


def _wrong_field_cases() -> Iterator[tuple[str, str, Any]]:
    for kind, body in GOOD_BODIES.items():
        for field in [*body, "epoch", "seq", "time"]:
            for bad in WRONG[FIELD_TYPES[field]]:
                yield kind, field, bad


@pytest.mark.parametrize("kind, field, bad", list(_wrong_field_cases()))
def test_announcement_with_one_wrong_typed_field_is_refused(
    kind: str, field: str, bad: Any
) -> None:
    doc = {**GOOD_BODIES[kind], "kind": kind, "epoch": 3, "seq": 4, "time": 1.0}
    assert announce.decode([kind.encode(), json.dumps(doc).encode()]).kind == kind  # the baseline
    doc[field] = bad
    with pytest.raises(ProtocolError, match=field):
        announce.decode([kind.encode(), json.dumps(doc).encode()])
    del doc[field]  # and missing altogether
    with pytest.raises(ProtocolError):
        announce.decode([kind.encode(), json.dumps(doc).encode()])


# =================================================================================================
# Part 2: a seeded storm of random frames against live processes
# =================================================================================================

MESSAGES = 3000  # per target, over all fuzzing DEALERs
DEALERS = 4
BUDGET = 20.0  # seconds of sending per target (scaled)
LIMIT = 100_000  # the target's MAX_MESSAGE_SIZE
BACKSTOP = LIMIT + 65536  # libzmq's ZMQ_MAXMSGSIZE on it: one frame over this drops the link
PING_EVERY = 40  # each DEALER checks a round trip this often, which also paces it

DAEMON_PROGRAM = """
import logging, signal, sys
import zpyro

@zpyro.expose
class Calc:
    def add(self, a, b):
        return a + b
    def echo(self, value):
        return value
    def fail(self):
        raise ValueError("failed on purpose")
    def numbers(self, n):
        return (i for i in range(min(int(n), 500)))
    @zpyro.oneway
    def note(self, value):
        pass

@zpyro.expose
@zpyro.behavior(instance_mode="session")
class Counter:
    def __init__(self):
        self.n = 0
    def incr(self):
        self.n += 1
        return self.n

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
daemon = zpyro.Daemon(host="127.0.0.1", max_message_size=int(sys.argv[1]))
uri = daemon.register(Calc(), "calc")
daemon.register(Counter, "counter")
signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
print("READY", uri, flush=True)
daemon.request_loop()
daemon.close()
print("STOPPED", flush=True)
"""

# What a crash of a request loop (or any thread) leaves in a log.
CRASH_MARKS = (
    "Traceback",
    "request loop failed",
    "error handling a message",
    "Exception in thread",
)


def fuzz_seed(offset: int) -> int:
    base = int(os.environ.get("ZPYRO_FUZZ_SEED", "20261201"))
    print(f"fuzz seed {base} (rerun with ZPYRO_FUZZ_SEED={base})")
    return base + offset


def raw_header(kind: int, flags: int, ser: int, call_id: int, obj: str, meth: str) -> bytes:
    """A header frame as wire.encode_header writes it, but lone surrogates pass (bad UTF-8)."""
    ob, mb = obj.encode("utf-8", "surrogatepass"), meth.encode("utf-8", "surrogatepass")
    return struct.pack("!BBBBIHH", kind, flags, ser, 0, call_id, len(ob), len(mb)) + ob + mb


class Frames:
    """Random messages, from pure noise to well-formed calls with hostile contents.

    `broker` adds what only a broker reads: daemon-shaped messages (a route frame first) of the
    control kinds READY/DONE/BYE/PING with garbage or half-valid JSON payloads, and calls to the
    objects those fake daemons claim. The objects the good caller uses are never claimed.
    """

    def __init__(
        self, rng: random.Random, objects: list[str], methods: list[str], broker: bool
    ) -> None:
        self.rng = rng
        self.objects = objects
        self.methods = methods
        self.broker = broker
        self.call_id = rng.randrange(1, 2**31)

    def next_id(self) -> int:
        self.call_id = (self.call_id + 1) & wire.MAX_CALL_ID
        return self.call_id

    # -- values --------------------------------------------------------------------------------

    def value(self, depth: int = 0) -> Any:
        r = self.rng
        choice = r.randrange(14 if depth < 3 else 9)
        leaves: list[Callable[[], Any]] = [
            lambda: r.randrange(-(2**70), 2**70),
            lambda: r.choice([0.0, -1.5, float("inf"), float("nan"), 1e308]),
            lambda: "".join(chr(r.randrange(1, 0x3000)) for _ in range(r.randrange(12))),
            lambda: None,
            lambda: r.choice([True, False]),
            lambda: r.randbytes(r.randrange(40)),
            lambda: {"__zpyro_oob__": r.randrange(-1, 4)},
            lambda: {"__class__": r.choice(["builtins.int", "os.system", "x.Y"]), "a": 1},
            lambda: r.choice(["\ud800", "x" * 3000, "", "Pyro.Daemon", "calc"]),
        ]
        if choice < len(leaves):
            return leaves[choice]()
        n = r.randrange(5)
        if choice == 9:
            return [self.value(depth + 1) for _ in range(n)]
        if choice == 10:
            return tuple(self.value(depth + 1) for _ in range(n))
        if choice == 11:
            return {str(r.randrange(50)): self.value(depth + 1) for _ in range(n)}
        if choice == 12:
            return {r.randrange(5): self.value(depth + 1) for _ in range(n)}
        return {r.randrange(100) for _ in range(n)}

    def payload(self, ser_id: int) -> bytes:
        """A real encoding of a random body in that serializer, or noise when there is none."""
        r = self.rng
        shape = r.randrange(6)
        if shape == 0:
            body: Any = [[self.value() for _ in range(r.randrange(4))], {}]
        elif shape == 1:
            body = [[self.value()], {str(self.value()): self.value()}, self.value()]
        elif shape == 2:  # a batch: [count, methods, arity, arguments, keywords], small counts
            count = r.randrange(4)
            body = [[[count, r.choice(self.methods), r.randrange(3), [1] * r.randrange(7),
                      r.choice([[], [[0, {}]], [[9, {"a": 1}]], "x"])]], {}]  # fmt: skip
        elif shape == 3:
            body = self.value()
        elif shape == 4:
            body = [self.value(), self.value()]
        else:
            return r.randbytes(r.randrange(60))
        serializer = BY_ID.get(ser_id)
        if serializer is None:
            return r.randbytes(r.randrange(60))
        try:
            if serializer.name == "pickle":
                return pickle.dumps([(1, 2), {}])  # harmless: it must be refused anyway
            if serializer.name == "marshal":
                return marshal.dumps([(1, 2), {}])
            data, _ = serializer.dumps(body)
        except SerializeError:
            return r.randbytes(r.randrange(60))
        if r.randrange(6) == 0 and data:  # and now and then a cut or a flipped byte
            flipped = bytearray(data)
            flipped[r.randrange(len(data))] ^= 1 << r.randrange(8)
            data = bytes(flipped)[: r.randrange(len(data) + 1)]
        return data

    # -- messages ------------------------------------------------------------------------------

    def header(self, kind: int | None = None, flags: int | None = None) -> bytes:
        r = self.rng
        return raw_header(
            r.randrange(256) if kind is None else kind,
            r.randrange(256) if flags is None else flags,
            r.randrange(8),
            self.next_id(),
            r.choice(self.objects),
            r.choice(self.methods),
        )

    def call(self, flags: int | None = None) -> list[bytes]:
        r = self.rng
        ser_id = r.choice([1, 1, 2, 2, 3, 3, 0, 4, 5, 6, 255])
        if flags is None:
            flags = r.choice([0, 0, 0, wire.FLAG_ONEWAY, wire.FLAG_META, wire.FLAG_BATCH,
                              wire.FLAG_ANNOTATED, wire.FLAG_STREAM, r.randrange(256)])  # fmt: skip
        header = raw_header(
            wire.CALL, flags, ser_id, self.next_id(), r.choice(self.objects), r.choice(self.methods)
        )
        frames = [wire.SIGNATURE, header, self.payload(ser_id)]
        if r.randrange(5) == 0:  # out-of-band buffers the markers may or may not point at
            frames += [r.randbytes(r.randrange(80)) for _ in range(r.randrange(1, 4))]
        return frames

    def message(self) -> tuple[list[bytes], bool]:
        """(frames, whether the link may be dropped for it: one frame over the backstop)."""
        r = self.rng
        choice = r.randrange(100)
        if choice < 8:  # pure noise, 1..8 frames
            return [r.randbytes(r.randrange(50)) for _ in range(r.randrange(1, 9))], False
        if choice < 16:  # a good signature, then noise
            rest = [r.randbytes(r.randrange(40)) for _ in range(r.randrange(5))]
            return [wire.SIGNATURE, *rest], False
        if choice < 28:  # a well-formed header with random kind and flags, random payload
            return [wire.SIGNATURE, self.header(), r.randbytes(r.randrange(60))], False
        if choice < 58:  # calls: every serializer id, random objects, methods, flags, bodies
            return self.call(), False
        if choice < 66:  # a call cut short somewhere, or missing frames
            frames = self.call(0)
            which = r.randrange(len(frames))
            frames[which] = frames[which][: r.randrange(len(frames[which]) + 1)]
            return frames[: r.randrange(1, len(frames) + 1)], False
        if choice < 70:  # PING / PONG with junk payloads and flags
            kind = r.choice([wire.PING, wire.PONG])
            return [wire.SIGNATURE, self.header(kind), r.randbytes(r.randrange(20))], False
        if choice < 72:  # over the limit, within libzmq's backstop: answered with an error
            size = r.randrange(LIMIT + 1, BACKSTOP - 1000)
            return [wire.SIGNATURE, self.header(wire.CALL, 0), b"", b"x" * size], False
        if choice < 73:  # one frame far over the backstop: the link is dropped
            return [wire.SIGNATURE, self.header(wire.CALL, 0), b"x" * (3 * BACKSTOP)], True
        if choice < 76:  # many small frames
            return [wire.SIGNATURE, self.header(wire.CALL, 0), b""] + [b"f"] * 300, False
        if self.broker and choice < 84:
            return self.name_server_call(), False
        if self.broker:
            return self.daemon_shaped(), False
        return self.call(), False

    def name_server_call(self) -> list[bytes]:
        """Changes of names with odd but well-typed arguments: each one is either refused or
        announced (the storm's subscriber must end with exactly the name server's names)."""
        r = self.rng
        name = r.choice(["fz.n1", "fz.n2", "fz.é", "\ud800x", "a b", "", "fz.n1\udfff"])
        uri = r.choice(["PYRO:fz@127.0.0.1:1", "PYRO:x@./u:/tmp/\ud800", "PYRO:\udc80@h:1", "no"])
        tags = r.choice([None, ["t"], ["\ud800"], "x", [1], ["a", "b"]])
        method, args = r.choice([
            ("register", [name, uri, False, tags]), ("register", [name, uri]),
            ("set_metadata", [name, tags]), ("remove", [name]), ("lookup", [name]),
        ])  # fmt: skip
        payload, _ = SERIALIZERS["serpent"].dumps([args, {}])  # the one that carries surrogates
        return wire.encode(wire.CALL, 0, 1, self.next_id(), "Pyro.NameServer", method, payload)

    def daemon_shaped(self) -> list[bytes]:
        """What a brokered daemon sends: [route, signature, header, payload...]."""
        r = self.rng
        route = r.choice([b"", b"", r.randbytes(r.randrange(1, 20))])
        kind = r.choice([wire.READY, wire.READY, wire.DONE, wire.BYE, wire.PING, wire.RESULT,
                         wire.ERROR, wire.CALL, r.randrange(256)])  # fmt: skip
        header = raw_header(kind, r.randrange(4), 2, self.next_id(), "", "")
        if r.randrange(8) == 0:
            header = r.randbytes(r.randrange(16))
        payload = self.ready_payload() if kind == wire.READY else self.payload(2)
        frames = [route, wire.SIGNATURE, header, payload]
        return frames[: r.randrange(3, 5)] if r.randrange(6) == 0 else frames

    def ready_payload(self) -> bytes:
        r = self.rng
        meta: Any = r.choice([
            {}, {"methods": ["m"], "idempotent": ["m"]}, {"idempotent": r.choice([5, "m", None])},
            {"idempotent": 7}, {"idempotent": [None]},
            {"methods": 5, "oneway": "x", "attrs": None}, {"max_message_size": "big"},
            {"max_message_size": -1}, {"metadata": [1, 2]},
        ])  # fmt: skip
        objects: Any = {r.choice(FAKE_OBJECTS): meta for _ in range(r.randrange(3))}
        info: dict[str, Any] = {
            "capacity": r.choice([1, 2, 0, -5, 10**30, "3", None, 1.5]),
            "objects": objects if r.randrange(8) else r.choice([[], "x", None, {"a": 1}]),
            "listed": r.choice([[o for o in objects if o.startswith("fz.")], sorted(objects), 5]),
            "tags": r.choice([{}, {"fz.0": ["t"]}, {"fz.1": "tt"}, {"fz.0": 5}, []]),
            "pid": r.choice([0, os.getpid(), -1, 10**30, "p"]),
        }
        for key in list(info):
            if r.randrange(10) == 0:
                del info[key]
        text = json.dumps(info if r.randrange(10) else self.value(), default=repr)
        if r.randrange(5) == 0:  # a lone surrogate, as a JSON escape: valid JSON, bad text
            text = text.replace("fz.", "\\ud800fz.", 1)
        return text.encode()


# object ids the fake daemons claim (never one the good caller uses)
FAKE_OBJECTS = ["fz.0", "fz.1", "fz.2", "", "a b", "é", "\ud800", "x" * 300,
                "Pyro.NameServer", "Pyro.Daemon", "Pyro.Daemon:00"]  # fmt: skip


class GoodCaller:
    """Calls in a thread while the storm goes on; every answer must be right."""

    def __init__(self, check: Callable[[int], None]) -> None:
        self._check = check
        self.calls = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self._first.wait(scaled(15)), f"the good caller got no first answer: {self.failures}"

    def _run(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                i += 1
                self._check_round(i)
        except Exception as exc:
            self.failures.append(f"round {i}: {exc!r}")
            self._first.set()

    def _check_round(self, i: int) -> None:
        self._check(i)
        self.calls += 1
        self._first.set()
        self._stop.wait(0.003)  # leave the CPU to the storm too

    def finish(self) -> None:
        self._stop.set()
        self._thread.join(scaled(20))
        assert not self._thread.is_alive(), "the good caller hangs"
        assert self.failures == []
        assert self.calls > 0


def reply_message(frames: list[bytes], broker: bool) -> wire.Message | None:
    """What a target sent back, if it is a proper reply: RESULT, ERROR, PONG or CREDIT (for a
    oneway call flagged CREDIT); from a broker also [route, signature, ...], what it sends the
    fake daemons (forwarded CALLs, PONGs)."""
    try:
        msg = wire.decode(frames)
        return msg if msg.kind in (wire.RESULT, wire.ERROR, wire.PONG, wire.CREDIT) else None
    except ProtocolError:
        if not broker:
            return None
    try:
        msg = wire.decode(frames[1:])
    except ProtocolError:
        return None
    return msg if msg.kind in (wire.CALL, wire.PONG) else None


def run_storm(
    endpoint: str, seed: int, objects: list[str], methods: list[str], broker: bool
) -> dict[str, int]:
    """DEALERS threads, each with its own seeded generator, MESSAGES in all; every reply is
    checked to be a well-formed zpyro message. Returns counts of what was sent and received."""
    stats = {"sent": 0, "replies": 0, "errors": 0, "dropped_links": 0}
    problems: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + scaled(BUDGET)
    ctx: zmq.Context = zmq.Context.instance()

    def open_dealer() -> zmq.Socket:
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.sndtimeo = int(scaled(10) * 1000)
        sock.connect(endpoint)
        return sock

    def check_reply(frames: list[bytes], counts: dict[str, int]) -> None:
        msg = reply_message(frames, broker)
        if msg is None:
            problems.append(f"not a reply: {[bytes(f)[:24] for f in frames]}")
            return
        counts["replies"] += 1
        if msg.kind == wire.ERROR:
            counts["errors"] += 1
            body = BY_ID[msg.serializer_id].loads(msg.payload)  # every error reply decodes
            assert isinstance(errors.payload_to_exception(body), Exception)

    def round_trip(sock: zmq.Socket, call_id: int, counts: dict[str, int]) -> None:
        sock.send_multipart(wire.encode(wire.PING, 0, 0, call_id, "", ""))
        limit = time.monotonic() + scaled(10)
        while time.monotonic() < limit:
            if not sock.poll(int(scaled(1) * 1000)):
                continue
            frames = sock.recv_multipart()
            if (
                frames[:1] == [wire.SIGNATURE]
                and wire.peek_call_id(frames) == call_id
                and wire.decode(frames).kind == wire.PONG
            ):
                return
            check_reply(frames, counts)
        problems.append(f"no PONG for {call_id:#x} within {scaled(10)} s")

    def storm(index: int) -> None:
        gen = Frames(random.Random(seed * 100 + index), objects, methods, broker)
        counts = dict.fromkeys(stats, 0)
        sock = open_dealer()
        try:
            for n in range(MESSAGES // DEALERS):
                if time.monotonic() > deadline or problems:
                    break
                frames, drops_link = gen.message()
                sock.send_multipart(frames)
                counts["sent"] += 1
                if drops_link:  # the target hung up on us, as it should: a client reconnects
                    counts["dropped_links"] += 1
                    sock.close()
                    sock = open_dealer()
                while sock.poll(0):
                    check_reply(sock.recv_multipart(), counts)
                if n % PING_EVERY == PING_EVERY - 1:
                    round_trip(sock, 0xFF000000 + n, counts)
            round_trip(sock, 0xFFFFFFF0 + index, counts)  # the last word: still answered
        except Exception as exc:
            problems.append(f"dealer {index}: {exc!r}")
        finally:
            sock.close()
            with lock:
                for key, value in counts.items():
                    stats[key] += value

    threads = [threading.Thread(target=storm, args=(i,), daemon=True) for i in range(DEALERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(BUDGET) + scaled(30))
    assert not any(t.is_alive() for t in threads), "a fuzzing DEALER hangs"
    assert problems == []
    print(f"storm: {stats}")
    return stats


def output_after_stop(spawned: Spawned) -> str:
    """Everything the process wrote (stdout and stderr), once it has ended."""
    spawned.stop()
    bound = time.monotonic() + scaled(10)
    while time.monotonic() < bound:
        try:
            if spawned.lines.get(timeout=0.5) is None:
                break
        except queue.Empty:
            continue
    output = "".join(spawned.output)
    log_dir = os.environ.get("ZPYRO_FUZZ_LOG_DIR")  # to read what the target said, when replaying
    if log_dir:
        with open(os.path.join(log_dir, f"fuzz-{spawned.proc.pid}.log"), "w") as f:
            f.write(output)
    return output


def assert_no_crash(output: str) -> None:
    for mark in CRASH_MARKS:
        assert mark not in output, f"{mark!r} in the log:\n{_around(output, mark)}"


def _around(text: str, mark: str) -> str:
    at = text.find(mark)
    return text[max(0, at - 2000) : at + 3000]


# -- a daemon ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_storm_against_a_live_daemon(spawn: Any) -> None:
    seed = fuzz_seed(1)
    proc = spawn([PYTHON, "-c", DAEMON_PROGRAM, str(LIMIT)])
    uri = proc.wait_for("READY").split()[1]
    endpoint = URI(uri).endpoint
    assert endpoint is not None
    counter_uri = uri.replace("calc@", "counter@")

    proxies: dict[str, Any] = {}

    def check(i: int) -> None:
        if not proxies:
            proxies["p"] = zpyro.Proxy(uri)
            proxies["a"] = zpyro.asyncproxy(zpyro.Proxy(uri))
            proxies["c"] = zpyro.Proxy(counter_uri)
            for p in proxies.values():
                p._pyroTimeout = scaled(15)
        p, a, c = proxies["p"], proxies["a"], proxies["c"]
        assert p.add(i, 1000) == i + 1000
        tag = f"call-{i}".encode()
        assert p.echo(tag) == tag
        futures = [a.add(i, k) for k in range(5)]
        assert [f.result(scaled(15)) for f in futures] == [i + k for k in range(5)]
        assert c.incr() == i  # this proxy's session is undisturbed by the storm's
        with pytest.raises(ValueError, match="on purpose"):
            p.fail()

    caller = GoodCaller(check)
    caller.start()
    try:
        calls_before = caller.calls
        stats = run_storm(
            endpoint,
            seed,
            objects=["calc", "counter", "Pyro.Daemon", "nobody", "", "x" * 300, "é"],
            methods=["add", "echo", "fail", "numbers", "note", "incr", "_secret", "__init__",
                     "__getattr__", "__setattr__", "get_metadata", "registered", "ping", "info",
                     "stream_next", "stream_close", "release_session", ""],
            broker=False,
        )  # fmt: skip
        assert caller.calls > calls_before, "the good caller made no progress during the storm"
        print(f"good caller: {caller.calls} rounds")
        caller.finish()
    finally:
        for p in proxies.values():
            p._pyroRelease()
    assert stats["sent"] >= MESSAGES // 3, "the storm was too slow to mean much"
    assert stats["errors"] >= stats["sent"] // 4
    assert stats["dropped_links"] > 0
    assert proc.proc.poll() is None, "the daemon died"
    with zpyro.Proxy(uri) as p:  # still serving, to a brand new client too
        assert p.add(20, 22) == 42
    assert_no_crash(output_after_stop(proc))


# -- a broker ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_storm_against_a_live_broker(start_broker: Any, start_worker: Any) -> None:
    seed = fuzz_seed(2)
    env = {"ZPYRO_MAX_MESSAGE_SIZE": str(LIMIT)}
    broker: BrokerProcess = start_broker(env=env)
    worker = start_worker(broker, "jobs", 2)
    worker_pid = worker.pid
    jobs = f"PYRO:jobs@{broker.location}"

    proxies: dict[str, Any] = {}

    def check(i: int) -> None:
        if not proxies:
            proxies["p"] = zpyro.Proxy(jobs)
            proxies["a"] = zpyro.asyncproxy(zpyro.Proxy(jobs))
            proxies["ns"] = zpyro.Proxy(broker.uri)
            for p in proxies.values():
                p._pyroTimeout = scaled(15)
        p, a, ns = proxies["p"], proxies["a"], proxies["ns"]
        assert p.square(i) == [worker_pid, i * i]
        assert p.work(f"w{i}") == [worker_pid, f"w{i}"]
        futures = [a.square(i + k) for k in range(4)]
        assert [f.result(scaled(15)) for f in futures] == [
            [worker_pid, (i + k) ** 2] for k in range(4)
        ]
        assert ns.lookup("Pyro.NameServer") == URI(broker.uri)
        with pytest.raises(ValueError, match="on purpose"):
            p.fail()

    watcher = NameWatcher("127.0.0.1", broker.port, broker.pub_port).start()
    caller = GoodCaller(check)
    caller.start()
    try:
        calls_before = caller.calls
        stats = run_storm(
            broker.endpoint,
            seed,
            objects=["Pyro.NameServer", "Pyro.Daemon", "jobs", "nobody", "", *FAKE_OBJECTS],
            methods=["register", "lookup", "list", "remove", "count", "ping", "snapshot",
                     "set_metadata", "yplookup", "get_metadata", "registered", "info",
                     "whoami", "noted", "note", "fail", "nothing", "_private", "__init__",
                     "__getattr__", "stream_next", "release_session", "m", ""],
            broker=True,
        )  # fmt: skip
        assert caller.calls > calls_before, "the good caller made no progress during the storm"
        print(f"good caller: {caller.calls} rounds")
        caller.finish()
    finally:
        for p in proxies.values():
            p._pyroRelease()
    assert stats["sent"] >= MESSAGES // 3, "the storm was too slow to mean much"
    assert stats["errors"] >= stats["sent"] // 5
    assert broker.spawned.proc.poll() is None, "the broker died"
    assert worker.spawned.proc.poll() is None, "the worker died"
    # the fake daemons are silent now: the broker declares them dead and fails what they held
    with zpyro.Proxy(jobs) as p:
        assert p.square(12) == [worker_pid, 144]
    with zpyro.Proxy(broker.uri) as ns, zpyro.Proxy(f"PYRO:Pyro.Daemon@{broker.location}") as d:
        assert ns.lookup("jobs") == URI(jobs)
        assert ns.lookup("Pyro.NameServer") == URI(broker.uri)

        def fakes() -> list[str]:
            return [o for o in d.registered() if o.startswith("fz.")]

        eventually(lambda: not fakes(), 10, lambda: f"the fake daemons' objects go: {fakes()}")
        assert ns.lookup("Pyro.NameServer") == URI(broker.uri)
        # every change of names was announced: the subscriber's copy is the name server's
        names = {n: (u, set(t)) for n, (u, t) in ns.list(return_metadata=True).items()}
        try:
            assert watcher.wait_for(lambda seen: seen == names, scaled(10)), (
                f"subscriber: {sorted(watcher.names().items())}\nname server: {sorted(names.items())}"
            )
        finally:
            watcher.close()
    out = output_after_stop(broker.spawned)
    assert broker.spawned.proc.returncode == 0, out[-3000:]
    assert "zpyro-broker stopped" in out
    assert_no_crash(out)


# -- what the storm found, pinned down ------------------------------------------------------------


def test_what_the_broker_storm_found_stays_fixed(broker: BrokerProcess) -> None:
    """Each of these once hurt the broker: a READY whose idempotent list is a number (the loop
    died when that daemon did), one claiming Pyro.NameServer (the name server lost its own name
    when that daemon left), one with a lone surrogate in an object id (an announcement that could
    not be encoded: a traceback), and a name with one (registered, but never announced)."""
    fake = raw_dealer(broker.endpoint)
    try:
        claims: list[dict[str, Any]] = [
            {"fz.a": {"idempotent": 5}},
            {"Pyro.NameServer": {}},
            {"\ud800": {}},
        ]
        for objects in claims:
            info = {"capacity": 1, "objects": objects, "listed": [], "pid": 1}
            ready = json.dumps(info).encode()
            fake.send_multipart([b"", *wire.encode(wire.READY, 0, 2, 0, "", "", ready)])
            fake.send_multipart([b"", *wire.encode(wire.PING, 0, 0, 0, "", "")])
            pong = wire.decode(fake.recv_multipart()[1:])
            assert pong.kind == wire.PONG
            assert json.loads(pong.payload)["known"] is False, f"{objects} was taken"
    finally:
        fake.close()
    with zpyro.Proxy(broker.uri) as ns:
        with pytest.raises(errors.NamingError, match="Unicode"):
            ns.register("fz.\ud800", "PYRO:x@127.0.0.1:1")
        with pytest.raises(errors.NamingError, match="Unicode"):
            ns.register("fz.ok", "PYRO:x@127.0.0.1:1", metadata=["\udcff"])
        assert not any(name.startswith("fz.") for name in ns.list())
        assert ns.lookup("Pyro.NameServer") == URI(broker.uri)
    out = output_after_stop(broker.spawned)
    assert "malformed READY" in out
    assert_no_crash(out)
