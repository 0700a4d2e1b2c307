"""Bad input never stops a daemon nor disturbs other callers; it is logged and answered.

Issue wording: "a raw DEALER sending an empty message, random frames, a corrupt header, a wrong
version, an oversize message, or 200 seeded random messages never stops the daemon and never
disturbs another caller's calls; each is logged, and gets an error reply where the sender can be
answered".

Every test runs against a daemon in this process (so ``caplog`` sees its log lines) while a normal
proxy keeps calling it from a thread; that caller must get every answer right.
"""

from __future__ import annotations

import logging
import random
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from conftest import ServedDaemon, raw_dealer, scaled, serving

import zpyro
from zpyro import errors, wire
from zpyro.serializers import BY_ID, get_serializer

pytestmark = pytest.mark.timeout(60)

MAX_SIZE = 100_000
SERPENT = get_serializer("serpent")
JSON = get_serializer("json")
PICKLE_ID = get_serializer("pickle").serializer_id


@zpyro.expose
class Calc:
    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def echo(self, value: Any) -> Any:
        return value


class Guarded:
    """The daemon under attack, and a well-behaved caller checking every answer meanwhile."""

    def __init__(self, served: ServedDaemon, caplog: pytest.LogCaptureFixture) -> None:
        self.served = served
        self.caplog = caplog
        self.uri = served.register(Calc(), "calc")
        self.endpoint = served.daemon.endpoint
        self.calls = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._call, daemon=True)
        self._thread.start()
        assert self._first.wait(scaled(5)), "the well-behaved caller got no first answer"

    def _call(self) -> None:
        i = 0
        try:
            with zpyro.Proxy(self.uri) as p:
                while not self._stop.is_set():
                    i += 1
                    if p.add(i, 1000) != i + 1000:
                        self.failures.append(f"call {i}: wrong sum")
                    tag = f"call-{i}".encode()
                    if p.echo(tag) != tag:
                        self.failures.append(f"call {i}: wrong echo")
                    self.calls += 1
                    self._first.set()
                    self._stop.wait(0.002)  # pace, so the attack gets the CPU too
        except Exception as exc:
            self.failures.append(f"call {i}: {exc!r}")

    def dealer(self) -> zmq.Socket:
        return raw_dealer(self.endpoint)

    def finish(self) -> None:
        calls_before = self.calls
        assert self.served.thread.is_alive(), "the daemon's request loop stopped"
        # the well-behaved caller is still being answered after the attack
        with zpyro.Proxy(self.uri) as p:
            assert p.add(1, 2) == 3
        self._stop.set()
        self._thread.join(scaled(10))
        assert not self._thread.is_alive(), "the well-behaved caller hangs"
        assert self.failures == []
        assert self.calls >= calls_before > 0

    def zpyro_warnings(self) -> list[logging.LogRecord]:
        return [
            r
            for r in self.caplog.records
            if r.name.startswith("zpyro") and r.levelno >= logging.WARNING
        ]

    def logged(self, *fragments: str) -> bool:
        return any(all(f in r.getMessage() for f in fragments) for r in self.zpyro_warnings())


@pytest.fixture
def guarded(caplog: pytest.LogCaptureFixture) -> Iterator[Guarded]:
    caplog.set_level(logging.INFO)
    with serving(max_message_size=MAX_SIZE) as served:
        g = Guarded(served, caplog)
        yield g
        g.finish()


def recv_reply(sock: zmq.Socket) -> wire.Message:
    frames = sock.recv_multipart()  # bounded by raw_dealer's receive timeout
    return wire.decode(frames)


def reply_exception(reply: wire.Message) -> BaseException:
    assert reply.kind == wire.ERROR, reply
    body = BY_ID[reply.serializer_id].loads(reply.payload)
    exc = errors.payload_to_exception(body)
    assert isinstance(exc, Exception)
    return exc


def call_frames(
    method: str = "add",
    args: Any = (1, 2),
    kwargs: dict[str, Any] | None = None,
    call_id: int = 1,
    object_id: str = "calc",
    serializer: Any = SERPENT,
    flags: int = 0,
) -> list[Any]:
    payload, buffers = serializer.dumps([tuple(args), kwargs or {}])
    return wire.encode(
        wire.CALL, flags, serializer.serializer_id, call_id, object_id, method, payload, buffers
    )


def header(kind: int, call_id: int, obj: bytes, meth: bytes, obj_len: int, meth_len: int) -> bytes:
    return struct.pack(
        "!BBBBIHH", kind, 0, SERPENT.serializer_id, 0, call_id, obj_len, meth_len
    ) + (obj + meth)


# -- the sanity baseline: a correct raw call --------------------------------------------------


def test_raw_dealer_speaks_the_protocol(guarded: Guarded) -> None:
    sock = guarded.dealer()
    try:
        sock.send_multipart(call_frames(call_id=5))
        reply = recv_reply(sock)
        assert (reply.kind, reply.call_id) == (wire.RESULT, 5)
        assert SERPENT.loads(reply.payload) == 3
        sock.send_multipart(wire.encode(wire.PING, 0, 0, 6, "", ""))
        reply = recv_reply(sock)
        assert (reply.kind, reply.call_id) == (wire.PONG, 6)
    finally:
        sock.close()


# -- malformed messages ------------------------------------------------------------------------


def test_empty_message(guarded: Guarded) -> None:
    sock = guarded.dealer()
    try:
        sock.send(b"")
        reply = recv_reply(sock)
        assert reply.call_id == 0
        exc = reply_exception(reply)
        assert isinstance(exc, errors.ProtocolError)
        assert "frames" in str(exc)
        assert guarded.logged("bad message")
    finally:
        sock.close()


@pytest.mark.parametrize(
    "frames",
    [
        [b"hello"],
        [b"hello", b"world"],
        [b"not zpyro", b"\x00" * 12, b"payload"],
        [b"\xff" * 4, b"\x01" * 20, b"", b"more", b"frames"],
        [b"", b"", b""],
    ],
    ids=["one", "two", "bad-signature", "five", "empty-frames"],
)
def test_random_frames(guarded: Guarded, frames: list[bytes]) -> None:
    sock = guarded.dealer()
    try:
        sock.send_multipart(frames)
        exc = reply_exception(recv_reply(sock))
        assert isinstance(exc, errors.ProtocolError)
        assert guarded.logged("bad message")
    finally:
        sock.close()


@pytest.mark.parametrize(
    "bad_header, fragment",
    [
        (header(wire.CALL, 77, b"calc", b"add", 4, 9), "length"),  # lengths do not match
        (header(wire.CALL, 77, b"calc", b"add", 40, 3), "length"),
        (header(wire.CALL, 77, b"", b"", 0, 0)[:8], "too short"),
        (header(99, 77, b"calc", b"add", 4, 3), "kind"),
        (header(wire.CALL, 77, b"\xff\xfe", b"add", 2, 3), "UTF-8"),
    ],
    ids=["lengths-short", "lengths-long", "truncated", "unknown-kind", "bad-utf8"],
)
def test_corrupt_header(guarded: Guarded, bad_header: bytes, fragment: str) -> None:
    sock = guarded.dealer()
    try:
        sock.send_multipart([wire.SIGNATURE, bad_header, SERPENT.dumps([(1, 2), {}])[0]])
        reply = recv_reply(sock)
        exc = reply_exception(reply)
        assert isinstance(exc, errors.ProtocolError)
        assert fragment in str(exc)
        if len(bad_header) >= wire.HEADER_SIZE:
            assert reply.call_id == 77  # the error is addressed to the call that caused it
        assert guarded.logged("bad message")
    finally:
        sock.close()


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version(guarded: Guarded, version: int) -> None:
    frames = call_frames(call_id=31)
    frames[0] = b"ZPY" + bytes([version])
    sock = guarded.dealer()
    try:
        sock.send_multipart(frames)
        reply = recv_reply(sock)
        exc = reply_exception(reply)
        assert isinstance(exc, errors.ProtocolError)
        assert f"version {version}" in str(exc)
        assert reply.call_id == 31
        assert guarded.logged("bad message", "version")
    finally:
        sock.close()


def test_unexpected_kind(guarded: Guarded) -> None:
    sock = guarded.dealer()
    try:
        sock.send_multipart(wire.encode(wire.RESULT, 0, SERPENT.serializer_id, 8, "", "", b"1"))
        reply = recv_reply(sock)
        assert reply.call_id == 8
        assert isinstance(reply_exception(reply), errors.ProtocolError)
        assert guarded.logged("unexpected message kind")
    finally:
        sock.close()


# -- well-formed frames, bad contents ---------------------------------------------------------


def test_refused_and_unknown_serializer(guarded: Guarded) -> None:
    sock = guarded.dealer()
    try:
        frames = call_frames(call_id=12)
        frames[1] = wire.encode_header(wire.CALL, 0, PICKLE_ID, 12, "calc", "add")
        sock.send_multipart(frames)
        reply = recv_reply(sock)
        exc = reply_exception(reply)
        assert reply.call_id == 12
        assert isinstance(exc, errors.SerializeError) and "pickle" in str(exc)
        frames[1] = wire.encode_header(wire.CALL, 0, 200, 13, "calc", "add")
        sock.send_multipart(frames)
        reply = recv_reply(sock)
        assert reply.call_id == 13
        assert isinstance(reply_exception(reply), errors.SerializeError)
        assert guarded.logged("refused call", "pickle")
    finally:
        sock.close()


@pytest.mark.parametrize(
    "serializer, payload",
    [
        (SERPENT, b"this is not python"),
        (SERPENT, b"[" * 5000),
        (SERPENT, b"__import__('os').system('echo pwned')"),
        (JSON, b"\xff\xfe not utf-8"),
        (JSON, b"[1, 2, 3]"),  # valid json, but not [args, kwargs]
        (JSON, b'[[1, 2], {"1": 2}, 3]'),
        (get_serializer("msgpack"), b"\xc1\xc1\xc1"),
    ],
    ids=[
        "serpent-junk",
        "serpent-deep",
        "serpent-code",
        "json-bytes",
        "json-shape",
        "json-3",
        "msgpack",
    ],
)
def test_bad_payload(guarded: Guarded, serializer: Any, payload: bytes) -> None:
    sock = guarded.dealer()
    try:
        header_ = wire.encode_header(wire.CALL, 0, serializer.serializer_id, 21, "calc", "add")
        sock.send_multipart([wire.SIGNATURE, header_, payload])
        reply = recv_reply(sock)
        assert reply.call_id == 21
        exc = reply_exception(reply)
        assert isinstance(exc, (errors.SerializeError, errors.ProtocolError)), repr(exc)
        assert guarded.logged("bad call")
    finally:
        sock.close()


def test_bad_out_of_band_reference(guarded: Guarded) -> None:
    sock = guarded.dealer()
    try:
        payload = b"[({'__zpyro_oob__': 7},), {}]"
        header_ = wire.encode_header(wire.CALL, 0, SERPENT.serializer_id, 22, "calc", "echo")
        sock.send_multipart([wire.SIGNATURE, header_, payload, b"only one buffer"])
        reply = recv_reply(sock)
        assert reply.call_id == 22
        assert isinstance(reply_exception(reply), errors.SerializeError)
    finally:
        sock.close()


def test_unknown_object_and_method(guarded: Guarded) -> None:
    sock = guarded.dealer()
    try:
        sock.send_multipart(call_frames(object_id="nobody", call_id=41))
        reply = recv_reply(sock)
        assert reply.call_id == 41
        exc = reply_exception(reply)
        assert isinstance(exc, errors.DaemonError) and "nobody" in str(exc)
        for call_id, method in ((42, "nothing"), (43, "__init__"), (44, "_private")):
            sock.send_multipart(call_frames(method=method, call_id=call_id))
            reply = recv_reply(sock)
            assert reply.call_id == call_id
            assert isinstance(reply_exception(reply), AttributeError)
        sock.send_multipart(call_frames(method="__getattr__", args=("__dict__",), call_id=45))
        assert isinstance(reply_exception(recv_reply(sock)), AttributeError)
        assert guarded.logged("bad call", "nobody")
    finally:
        sock.close()


# -- oversize ---------------------------------------------------------------------------------


def test_oversize_message_gets_error_reply(guarded: Guarded) -> None:
    sock = guarded.dealer()
    try:
        # one frame over the limit (but under libzmq's own cap, which drops the connection)
        sock.send_multipart(
            call_frames(method="echo", args=(b"x" * (MAX_SIZE + 1000),), call_id=51)
        )
        reply = recv_reply(sock)
        assert reply.call_id == 51
        exc = reply_exception(reply)
        assert isinstance(exc, errors.MessageTooLargeError)
        assert str(MAX_SIZE) in str(exc)
        # many frames, each small, together far over the limit
        frames = call_frames(method="echo", args=("x",), call_id=52) + [b"y" * 50_000] * 8
        sock.send_multipart(frames)
        reply = recv_reply(sock)
        assert reply.call_id == 52
        assert isinstance(reply_exception(reply), errors.MessageTooLargeError)
        assert guarded.logged("refused message", "MAX_MESSAGE_SIZE")
        # the same sender is still served normally
        sock.send_multipart(call_frames(call_id=53))
        reply = recv_reply(sock)
        assert (reply.kind, reply.call_id) == (wire.RESULT, 53)
    finally:
        sock.close()


def test_huge_frame_drops_only_that_sender(guarded: Guarded) -> None:
    sock = guarded.dealer()
    sock.rcvtimeo = int(scaled(0.5) * 1000)
    try:
        sock.send_multipart(call_frames(method="echo", args=(b"x" * (4 * MAX_SIZE),), call_id=61))
        # libzmq refuses a frame this big by dropping the connection: nothing to answer
        with pytest.raises(zmq.Again):
            sock.recv_multipart()
    finally:
        sock.close()
    fresh = guarded.dealer()
    try:
        fresh.send_multipart(call_frames(call_id=62))
        reply = recv_reply(fresh)
        assert (reply.kind, reply.call_id) == (wire.RESULT, 62)
    finally:
        fresh.close()


def test_proxy_sending_oversize_anyway_sees_connection_closed(guarded: Guarded) -> None:
    """API §3: a peer that sends one anyway gets an error or a dropped connection that its
    pending calls see as ConnectionClosedError -- never a silent hang."""
    with zpyro.Proxy(guarded.uri) as p:
        assert p.add(1, 1) == 2
        p._pyroMaxMessageSize = 10 * MAX_SIZE  # pretend it never learned the daemon's limit
        # a hang fails as a TimeoutError here rather than by pytest-timeout
        p._pyroTimeout = scaled(10)
        with pytest.raises((errors.MessageTooLargeError, errors.ConnectionClosedError)):
            p.echo(b"x" * (MAX_SIZE + 1000))  # answered with an error reply
        with pytest.raises((errors.MessageTooLargeError, errors.ConnectionClosedError)):
            p.echo(b"x" * (4 * MAX_SIZE))  # connection dropped by libzmq
        assert p.add(2, 2) == 4  # and the proxy works again afterwards


# -- a seeded storm ---------------------------------------------------------------------------

OBJECTS = ["calc", "Pyro.Daemon", "nobody", "", "x" * 300]
METHODS = [
    "add",
    "echo",
    "nothing",
    "_private",
    "__init__",
    "__getattr__",
    "__setattr__",
    "get_metadata",
    "registered",
    "ping",
    "",
]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return rng.randrange(-(2**40), 2**40)
    if choice == 1:
        return rng.random()
    if choice == 2:
        return "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(10)))
    if choice == 3:
        return None
    if choice == 4:
        return rng.randbytes(rng.randrange(20))
    if choice == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 6:
        return {str(rng.randrange(100)): _random_value(rng, depth + 1) for _ in range(3)}
    return (_random_value(rng, depth + 1), _random_value(rng, depth + 1))


def random_message(rng: random.Random, call_id: int) -> list[bytes]:
    choice = rng.randrange(7)
    if choice == 0:  # pure noise
        return [rng.randbytes(rng.randrange(40)) for _ in range(rng.randrange(1, 6))]
    if choice == 1:  # right signature, noise after it
        return [wire.SIGNATURE] + [
            rng.randbytes(rng.randrange(40)) for _ in range(rng.randrange(4))
        ]
    if choice == 2:  # well-formed header with random fields, random payload
        hdr = wire.encode_header(
            rng.randrange(256),
            rng.randrange(256),
            rng.randrange(8),
            call_id,
            rng.choice(OBJECTS),
            rng.choice(METHODS),
        )
        return [wire.SIGNATURE, hdr, rng.randbytes(rng.randrange(60))]
    if choice == 3:  # a real call with random arguments and flags
        serializer = BY_ID[rng.choice([1, 2, 3])]
        args = [_random_value(rng) for _ in range(rng.randrange(4))]
        return [
            bytes(f)
            for f in call_frames(
                method=rng.choice(METHODS),
                args=args,
                call_id=call_id,
                object_id=rng.choice(OBJECTS),
                serializer=serializer,
                flags=rng.randrange(4),
            )
        ]
    if choice == 4:  # a real call, one byte flipped
        frames = [bytes(f) for f in call_frames(args=(rng.randrange(100), 1), call_id=call_id)]
        which = rng.randrange(len(frames))
        if frames[which]:
            data = bytearray(frames[which])
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
            frames[which] = bytes(data)
        return frames
    if choice == 5:  # a real call, truncated somewhere
        frames = [bytes(f) for f in call_frames(call_id=call_id)]
        which = rng.randrange(len(frames))
        frames[which] = frames[which][: rng.randrange(len(frames[which]) + 1)]
        return frames
    # a real call with random extra frames (out-of-band buffers nobody refers to)
    frames = [bytes(f) for f in call_frames(call_id=call_id)]
    return frames + [rng.randbytes(rng.randrange(100)) for _ in range(rng.randrange(1, 4))]


def test_200_seeded_random_messages(guarded: Guarded) -> None:
    rng = random.Random(20240601)
    sock = guarded.dealer()
    replies: list[wire.Message] = []
    sentinel = 0xFFFFFF00
    try:
        for i in range(200):
            sock.send_multipart(random_message(rng, 1000 + i))
        sock.send_multipart(wire.encode(wire.PING, 0, 0, sentinel, "", ""))
        while True:
            reply = recv_reply(sock)  # every reply decodes: the daemon never sends garbage
            if reply.kind == wire.PONG and reply.call_id == sentinel:
                break
            replies.append(reply)
    finally:
        sock.close()
    kinds = [r.kind for r in replies]
    assert set(kinds) <= {wire.RESULT, wire.ERROR, wire.PONG}
    errors_seen = [reply_exception(r) for r in replies if r.kind == wire.ERROR]
    assert len(errors_seen) >= 100, f"only {len(errors_seen)} error replies for 200 bad messages"
    for exc in errors_seen:
        assert get_remote_type(exc) is not None
    # each error reply came with a log line
    assert len(guarded.zpyro_warnings()) >= len(errors_seen)


def get_remote_type(exc: BaseException) -> str | None:
    """The rebuilt exception's type name (RemoteError keeps the remote one)."""
    if isinstance(exc, errors.RemoteError):
        return exc.remote_type or None
    return type(exc).__name__
