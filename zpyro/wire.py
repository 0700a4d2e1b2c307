"""Frames <-> messages: the zpyro wire format. Pure code, no sockets.

A message is one ZeroMQ multipart message (a ROUTER adds the peer identity in front; it is not
part of the format). Frames, in order:

====  =========  =====================================================================
 #    frame      contents
====  =========  =====================================================================
 0    signature  4 bytes: ``b"ZPY"`` + protocol version (currently ``0x01``)
 1    header     12 bytes fixed, network byte order, then two UTF-8 strings:
                 ``kind:u8 flags:u8 serializer:u8 reserved:u8 call_id:u32``
                 ``object_len:u16 method_len:u16`` ``object_id`` ``method``
 2    payload    the serialized body (may be empty)
 3..  buffers    out-of-band buffers the payload refers to by index (zero or more)
====  =========  =====================================================================

``docs/PROTOCOL.md`` describes the message kinds, flags and flows. ``decode`` raises only
:class:`~zpyro.errors.ProtocolError`, whatever it is given.

This module is also the one home of the names the protocol reserves (well-known object ids,
the property method names, serializer ids): every other module takes them from here.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

from .errors import MessageTooLargeError, ProtocolError

VERSION = 1
SIGNATURE = b"ZPY" + bytes([VERSION])

_HEADER = struct.Struct("!BBBBIHH")
HEADER_SIZE = _HEADER.size  # 12
_FIXED = struct.Struct("!BBBBI")  # the part of the header that changes from call to call
_pack_fixed = _FIXED.pack
_unpack_fixed = _FIXED.unpack_from
_LENGTHS = struct.Struct("!HH")

# The rest of a header -- the two lengths and the two strings -- repeats from call to call:
# (object id, method) <-> those bytes, both ways, remembered (bounded) instead of encoded,
# validated and decoded again for every message.
_TAILS: dict[tuple[str, str], bytes] = {}
_NAMES: dict[bytes, tuple[str, str]] = {}
_REMEMBERED = 4096

# Message kinds.
CALL = 1  # request: payload = [args, kwargs] (see flags for variants)
RESULT = 2  # reply: payload = the return value
ERROR = 3  # reply: payload = an error dict (see zpyro.errors.exception_to_payload)
PING = 4  # liveness probe; answered by PONG with the same call id
PONG = 5
# Between a brokered daemon and its broker only (docs/BROKER.md):
READY = 6  # daemon -> broker: the objects it serves and its capacity (JSON payload)
DONE = 7  # daemon -> broker: a oneway call has finished (frees its slot)
BYE = 8  # daemon -> broker: closing, take my slots away now
# Flow control of oneway calls (docs/PROTOCOL.md, "Oneway flow control"):
CREDIT = 9  # daemon or broker -> proxy: room for more oneway calls; payload = the count (JSON)
KINDS = frozenset({CALL, RESULT, ERROR, PING, PONG, READY, DONE, BYE, CREDIT})
KIND_NAMES = {
    CALL: "CALL",
    RESULT: "RESULT",
    ERROR: "ERROR",
    PING: "PING",
    PONG: "PONG",
    READY: "READY",
    DONE: "DONE",
    BYE: "BYE",
    CREDIT: "CREDIT",
}

# Flags (bit set).
FLAG_ONEWAY = 0x01  # CALL: the caller wants no reply; ERROR: a notice about a oneway call
FLAG_META = 0x02  # CALL: also send the object's metadata; RESULT: payload = [value, metadata]
FLAG_BATCH = 0x04  # CALL: one arg, [count, methods, arity, args, kwargs]; RESULT: [values, error]
FLAG_ANNOTATED = 0x08  # CALL: payload has a 3rd item, annotations; RESULT: payload = [value, ann.]
FLAG_STREAM = 0x10  # RESULT: the value is a stream: payload = [stream_id, items, finished, error]
# The same bit on a CALL (flags are per kind): the connection handshake, payload [[data], {}],
# empty method, object id = the object the caller connects to; RESULT {"handshake": response,
# "meta": metadata}. With FLAG_ONEWAY (only from a broker): a caller's handshake passed on to
# another daemon of its pool, not answered.
FLAG_HANDSHAKE = 0x10
FLAG_COMPRESSED = 0x20  # CALL, RESULT: the payload frame is zlib-compressed (buffers are not)
FLAG_INFLATES = 0x40  # CALL: the caller takes a compressed RESULT (a daemon compresses only then)
FLAG_CREDIT = 0x80  # CALL (with ONEWAY): the caller counts credit; grant it back once run

# The flags each kind may carry. A receiver refuses any other bit (and a nonzero reserved byte)
# with ProtocolError: every flag changes how the payload is read, so a bit it does not know
# would make it misread the message silently (docs/PROTOCOL.md, "Flags").
ALLOWED_FLAGS = {
    CALL: FLAG_ONEWAY
    | FLAG_META
    | FLAG_BATCH
    | FLAG_ANNOTATED
    | FLAG_HANDSHAKE
    | FLAG_COMPRESSED
    | FLAG_INFLATES
    | FLAG_CREDIT,
    RESULT: FLAG_META | FLAG_BATCH | FLAG_ANNOTATED | FLAG_STREAM | FLAG_COMPRESSED,
    ERROR: FLAG_ONEWAY,  # a notice about a oneway call that could not be run
}
# decode checks kind, flags and reserved byte with one test: per kind byte, the bits of
# (0x10000 | reserved << 8 | flags) that must be 0 (for a kind that does not exist, all of them)
_REFUSED = tuple(
    0xFF00 | (0xFF & ~ALLOWED_FLAGS.get(kind, 0)) if kind in KINDS else 0x1FFFF
    for kind in range(256)
)

MAX_CALL_ID = 0xFFFFFFFF

# The link between the two brokers of a pair (docs/BROKER.md, "Broker pair"): a message is two
# frames, this signature and a UTF-8 JSON object whose "kind" is one of the PAIR_* names.
PAIR_SIGNATURE = b"ZPB" + bytes([VERSION])
PAIR_STATE = "state"  # every heartbeat: the sender's role, state and addresses
PAIR_SYNC = "sync"  # all the sender's stored names and tombstones (when the two meet)
PAIR_CHANGE = "change"  # stored names the active broker just changed
PAIR_ACK = "ack"  # the receiver has stored that sync or change
PAIR_KINDS = frozenset({PAIR_STATE, PAIR_SYNC, PAIR_CHANGE, PAIR_ACK})
# A pair broker's roles and states (also in the "pair" object of its PONG, which clients read to
# find the active broker): "primary"/"backup" are also the states of one that waits for its peer.
PAIR_PRIMARY, PAIR_BACKUP, PAIR_ACTIVE, PAIR_PASSIVE = "primary", "backup", "active", "passive"

# Names the protocol reserves.
DAEMON_OBJECT_ID = "Pyro.Daemon"  # every daemon's own object (metadata, ping, streams, sessions)
NAMESERVER_ID = "Pyro.NameServer"  # the name server's object id (served by the broker)
RELEASE_SESSION = "release_session"  # Pyro.Daemon's method a departing proxy calls (oneway)
GETATTR = "__getattr__"  # method names a proxy uses to read and write exposed properties
SETATTR = "__setattr__"
META_CREDIT = "credit"  # metadata: the oneway calls a proxy may have unconfirmed (flow control)
READY_INSTANCE_MODES = "instance_modes"  # READY: object id -> instance mode of a served class
SESSION_MODE = "session"  # the instance mode whose calls a broker keeps on one daemon
STREAM_NEXT = "stream_next"  # Pyro.Daemon's methods a proxy fetches stream chunks with
STREAM_CLOSE = "stream_close"

# Serializer ids (the header's serializer byte); zpyro.serializers implements them.
SERPENT_ID = 1
JSON_ID = 2  # also what errors and control messages fall back to: every peer reads json
MSGPACK_ID = 3
MARSHAL_ID = 4
PICKLE_ID = 5

# The name server's own metadata: the tags Pyro4 and Pyro5 programs find their name server by
NAMESERVER_TAGS = frozenset({"class:Pyro4.naming.NameServer", "class:Pyro5.nameserver.NameServer"})


class Message:
    """One decoded message. ``payload`` and ``buffers`` are left as they arrived (no copies)."""

    __slots__ = (
        "kind",
        "flags",
        "serializer_id",
        "call_id",
        "object_id",
        "method",
        "payload",
        "buffers",
    )

    def __init__(
        self,
        kind: int,
        flags: int,
        serializer_id: int,
        call_id: int,
        object_id: str,
        method: str,
        payload: Any = b"",
        buffers: Sequence[Any] = (),
    ) -> None:
        self.kind = kind
        self.flags = flags
        self.serializer_id = serializer_id
        self.call_id = call_id
        self.object_id = object_id
        self.method = method
        self.payload = payload
        self.buffers = buffers

    def __repr__(self) -> str:
        kind = KIND_NAMES.get(self.kind, str(self.kind))
        return (
            f"<Message {kind} flags={self.flags:#x} ser={self.serializer_id} id={self.call_id} "
            f"{self.object_id}.{self.method} payload={len(self.payload)}B buffers={len(self.buffers)}>"
        )


def encode_header(
    kind: int, flags: int, serializer_id: int, call_id: int, object_id: str, method: str
) -> bytes:
    tail = _TAILS.get((object_id, method))
    if tail is None:
        tail = header_tail(object_id, method)
    try:
        return _pack_fixed(kind, flags, serializer_id, 0, call_id) + tail
    except struct.error as exc:
        raise ProtocolError(f"header field out of range: {exc}") from None


def header_tail(object_id: str, method: str) -> bytes:
    """The header's bytes after the call id: lengths and names (remembered, bounded)."""
    tail = _TAILS.get((object_id, method))
    if tail is not None:
        return tail
    try:
        obj = object_id.encode()
        meth = method.encode()
    except (UnicodeEncodeError, AttributeError):  # a lone surrogate: no UTF-8 for it
        raise ProtocolError("object id or method name is not valid Unicode text") from None
    if len(obj) > 0xFFFF or len(meth) > 0xFFFF:
        raise ProtocolError("object id or method name longer than 65535 bytes")
    tail = _LENGTHS.pack(len(obj), len(meth)) + obj + meth
    if len(_TAILS) >= _REMEMBERED:
        _TAILS.clear()
    _TAILS[(object_id, method)] = tail
    return tail


def encode(
    kind: int,
    flags: int,
    serializer_id: int,
    call_id: int,
    object_id: str,
    method: str,
    payload: Any = b"",
    buffers: Sequence[Any] = (),
) -> list[Any]:
    """The frames of one message, ready for ``send_multipart``."""
    header = encode_header(kind, flags, serializer_id, call_id, object_id, method)
    if buffers:
        return [SIGNATURE, header, payload, *buffers]
    return [SIGNATURE, header, payload]


def call_frames(
    flags: int, serializer_id: int, call_id: int, object_id: str, method: str, payload: Any
) -> list[Any]:
    """``encode(CALL, flags, serializer_id, call_id, object_id, method, payload)``."""
    tail = _TAILS.get((object_id, method))
    if tail is None:
        tail = header_tail(object_id, method)
    try:
        return [SIGNATURE, _pack_fixed(CALL, flags, serializer_id, 0, call_id) + tail, payload]
    except struct.error as exc:
        raise ProtocolError(f"header field out of range: {exc}") from None


def reply_frames(
    kind: int, flags: int, serializer_id: int, call_id: int, payload: Any
) -> list[Any]:
    """``encode(kind, flags, serializer_id, call_id, "", "", payload)``: a reply's frames."""
    try:
        return [SIGNATURE, _pack_fixed(kind, flags, serializer_id, 0, call_id) + _NO_NAMES, payload]
    except struct.error as exc:
        raise ProtocolError(f"header field out of range: {exc}") from None


_NO_NAMES = b"\0\0\0\0"  # a reply's header tail: no object id, no method


def decode(frames: Sequence[Any]) -> Message:
    """Parse the frames of one message (identity already removed).

    Frames may be ``bytes`` or ``zmq.Frame``; payload and buffer frames are passed through as they are.
    """
    if len(frames) < 3:
        raise ProtocolError(f"message has {len(frames)} frames, at least 3 expected")
    signature = frames[0]
    if signature != SIGNATURE:
        signature = _as_bytes(signature)
        if signature != SIGNATURE:
            if signature[:3] == SIGNATURE[:3] and len(signature) == 4:
                raise ProtocolError(
                    f"unsupported protocol version {signature[3]} (this is {VERSION})"
                )
            raise ProtocolError("not a zpyro message (bad signature frame)")
    header = frames[1]
    if type(header) is not bytes:
        header = _as_bytes(header)
    if len(header) < HEADER_SIZE:
        raise ProtocolError(f"header frame too short ({len(header)} bytes)")
    kind, flags, serializer_id, reserved, call_id = _unpack_fixed(header)
    if (0x10000 | reserved << 8 | flags) & _REFUSED[kind]:
        raise _refused(kind, flags, reserved)
    tail = header[8:]
    names = _NAMES.get(tail)
    if names is None:
        names = _decode_names(tail)
    buffers = frames[3:] if len(frames) > 3 else ()
    return Message(kind, flags, serializer_id, call_id, names[0], names[1], frames[2], buffers)


def _decode_names(tail: bytes) -> tuple[str, str]:
    obj_len, meth_len = _LENGTHS.unpack_from(tail)
    if len(tail) != 4 + obj_len + meth_len:
        raise ProtocolError("header frame length does not match its string lengths")
    try:
        names = tail[4 : 4 + obj_len].decode(), tail[4 + obj_len :].decode()
    except UnicodeDecodeError:
        raise ProtocolError("object id or method is not valid UTF-8") from None
    if len(_NAMES) >= _REMEMBERED:
        _NAMES.clear()
    _NAMES[tail] = names
    return names


def credit_frames(count: int) -> list[Any]:
    """A CREDIT message: the receiver has room for `count` more oneway calls of this caller."""
    return encode(CREDIT, 0, JSON_ID, 0, "", "", str(count).encode())


def _refused(kind: int, flags: int, reserved: int) -> ProtocolError:
    """What is wrong with a header that decode's one test refused."""
    if kind not in KINDS:
        return ProtocolError(f"unknown message kind {kind}")
    if reserved:
        return ProtocolError(f"reserved header byte is {reserved:#04x}, must be 0")
    return ProtocolError(f"flags {flags:#04x} not valid on a {KIND_NAMES[kind]} message")


def peek_call_id(frames: Sequence[Any]) -> int:
    """The call id of a message that failed to decode, or 0 if even that is unreadable.

    Lets a daemon address its error reply to the call that caused it.
    """
    try:
        header = _as_bytes(frames[1])
        return int(_HEADER.unpack_from(header)[4])
    except Exception:
        return 0


def peek_serializer_id(frames: Sequence[Any]) -> int:
    """The serializer id of a message's header without decoding it (JSON_ID if unreadable):
    what an error reply to it should use."""
    header = frames[1] if len(frames) > 1 else b""
    return header[2] if len(header) > 2 else JSON_ID


def message_size(frames: Sequence[Any]) -> int:
    """Total bytes of all frames (what MAX_MESSAGE_SIZE limits)."""
    total = 0
    for f in frames:
        # bytes: len; zmq.Frame, memoryview, array...: the buffer's size in bytes, not items
        total += len(f) if isinstance(f, bytes) else memoryview(f).nbytes
    return total


COMPRESS_MIN = 1024  # payloads smaller than this are never worth compressing


def compress(payload: Any) -> bytes | None:
    """The payload zlib-compressed (FLAG_COMPRESSED), or None when that does not make it smaller."""
    packed = zlib.compress(payload, 6)
    return packed if len(packed) < len(payload) else None


def decompress(payload: Any, limit: int) -> bytes:
    """Inflate a FLAG_COMPRESSED payload, never to more than `limit` bytes (a small compressed
    payload must not be able to claim gigabytes of memory)."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(_as_bytes(payload), limit)
    except zlib.error as exc:
        raise ProtocolError(f"compressed payload is corrupt: {exc}") from None
    if inflater.unconsumed_tail:
        raise MessageTooLargeError(f"compressed payload inflates to more than {limit} bytes")
    if not inflater.eof:
        raise ProtocolError("compressed payload is truncated")
    return data


def _as_bytes(frame: Any) -> bytes:
    if isinstance(frame, bytes):
        return frame
    if hasattr(frame, "bytes"):  # zmq.Frame
        data: bytes = frame.bytes
        return data
    try:
        return bytes(frame)
    except Exception:
        raise ProtocolError(f"frame of unexpected type {type(frame).__name__}") from None
