"""Bad input to a real broker from a raw DEALER, while a normal caller keeps calling.

The broker logs each, answers with an error where it can (addressed to the call id it could
read, in json), and never stops serving: every answer the normal caller gets meanwhile is right.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from conftest import BrokerProcess, eventually, raw_dealer, scaled

import zpyro
from zpyro import wire
from zpyro.serializers import BY_ID, get_serializer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

SERPENT = get_serializer("serpent")
JSON_ID = 2


class SteadyCaller:
    """Calls the pool and the name server in a loop (bounded) and checks every answer."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.pool = zpyro.Proxy(f"PYRO:jobs@{broker.location}")
        self.ns = zpyro.locate_ns(broker.host, broker.port)
        for p in (self.pool, self.ns):
            p._pyroTimeout = scaled(10)
        self.pool._pyroBind()
        self.answers = 0
        self.wrong: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for i in range(100_000):  # bounded; normally ended by stop()
            if self._stop.is_set():
                return
            try:
                got = self.pool.square(i)[1]
                if got != i * i:
                    self.wrong.append((i, got))
                count = self.ns.count()
                if count != 2:  # Pyro.NameServer and the pool "jobs"
                    self.wrong.append(("count", count))
                self.answers += 1
            except Exception as exc:  # any failure is a wrong answer
                self.wrong.append(exc)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(scaled(15))
        assert not self._thread.is_alive()
        self.pool._pyroRelease()
        self.ns._pyroRelease()


@pytest.fixture
def steady(broker: BrokerProcess, start_worker: Any) -> Iterator[SteadyCaller]:
    start_worker(broker, capacity=2)
    caller = SteadyCaller(broker)
    yield caller
    caller.stop()
    assert caller.wrong == []
    assert caller.answers > 0


@pytest.fixture
def dealer(broker: BrokerProcess) -> Iterator[zmq.Socket]:
    sock = raw_dealer(broker.endpoint)
    yield sock
    sock.close(linger=0)


def error_reply(sock: zmq.Socket) -> tuple[int, dict[str, Any]]:
    """The next message must be an ERROR: (call id, its error map)."""
    msg = wire.decode(sock.recv_multipart())
    assert msg.kind == wire.ERROR
    return msg.call_id, BY_ID[msg.serializer_id].loads(msg.payload)


def call_frames(
    call_id: int, object_id: str, method: str, serializer_id: int = 1, payload: bytes | None = None
) -> list[bytes]:
    if payload is None:
        payload = SERPENT.dumps([[], {}])[0]
    return wire.encode(wire.CALL, 0, serializer_id, call_id, object_id, method, payload)


def ask_nameserver(sock: zmq.Socket, call_id: int) -> int:
    """A good call on the raw socket: the broker still answers it (with the name count)."""
    sock.send_multipart(call_frames(call_id, "Pyro.NameServer", "count"))
    msg = wire.decode(sock.recv_multipart())
    assert (msg.kind, msg.call_id) == (wire.RESULT, call_id)
    return int(SERPENT.loads(msg.payload))


def wait_logged(broker: BrokerProcess, text: str) -> None:
    """The broker's output shows `text` (its reader thread may lag a little: bounded poll)."""
    eventually(lambda: text in "".join(broker.spawned.output), 5, f"the broker logs {text!r}")


HEADER = wire.encode_header(wire.CALL, 0, 1, 77, "Pyro.NameServer", "count")


# (what, frames, call id of the answer or None for "whatever the header bytes say", message)
UNDECODABLE: list[tuple[str, list[bytes], int | None, str]] = [
    ("empty", [b""], 0, "1 frames, at least 3 expected"),
    ("random", [b"\x00" * 9, os.urandom(40), os.urandom(3)], None, "not a zpyro message"),
    ("wrong version", [b"ZPY\x02", HEADER, b""], 77, "unsupported protocol version 2"),
    ("short header", [wire.SIGNATURE, HEADER[:7], b""], 0, "header frame too short"),
    ("header length", [wire.SIGNATURE, HEADER + b"xx", b""], 77, "does not match"),
    ("unknown kind", [wire.SIGNATURE, b"\x63" + HEADER[1:], b""], 77, "unknown message kind 99"),
    ("no payload", [wire.SIGNATURE, HEADER], 77, "2 frames"),
    ("bad utf-8", [wire.SIGNATURE, HEADER[:-5] + b"\xff\xfe\xfd\xfc\xfb", b""], 77, "UTF-8"),
    (
        "a reply sent to the broker",
        wire.encode(wire.RESULT, 0, 1, 78, "", "", b"None"),
        78,
        "unexpected message kind 2",
    ),
]


def test_undecodable_messages_get_a_protocol_error(
    broker: BrokerProcess, steady: SteadyCaller, dealer: zmq.Socket
) -> None:
    for what, frames, call_id, message in UNDECODABLE * 2:  # twice: nothing accumulates
        dealer.send_multipart(frames)
        got_id, error = error_reply(dealer)
        assert call_id is None or got_id == call_id, what
        assert error["type"] == "zpyro.errors.ProtocolError", what
        assert message in error["message"], what
    assert ask_nameserver(dealer, 5) == 2


def test_an_unknown_serializer_is_refused_and_the_payload_never_loaded(
    broker: BrokerProcess, steady: SteadyCaller, dealer: zmq.Socket
) -> None:
    # to the broker's own object: the broker answers itself
    dealer.send_multipart(call_frames(11, "Pyro.NameServer", "count", 99, b"\x00garbage"))
    call_id, error = error_reply(dealer)
    assert call_id == 11 and error["type"] == "zpyro.errors.SerializeError"
    # to a pooled object: forwarded untouched; the daemon refuses it the same way
    dealer.send_multipart(call_frames(12, "jobs", "square", 99, b"\x00garbage"))
    call_id, error = error_reply(dealer)
    assert call_id == 12 and error["type"] == "zpyro.errors.SerializeError"
    # a known serializer but a payload that is not one: also forwarded, the daemon answers
    dealer.send_multipart(call_frames(13, "jobs", "square", 1, b"\x00 not serpent ("))
    call_id, error = error_reply(dealer)
    assert call_id == 13 and error["type"] == "zpyro.errors.SerializeError"
    assert ask_nameserver(dealer, 14) == 2


def control(kind: int, payload: bytes = b"", route: bytes = b"") -> list[bytes]:
    """A message as a brokered daemon sends it: route frame first (empty for control)."""
    return [route, *wire.encode(kind, 0, JSON_ID if payload else 0, 0, "", "", payload)]


MALFORMED_READY = [
    b"not json at all",
    b"[1, 2, 3]",
    b"",
    json.dumps({"capacity": 2}).encode(),  # no objects
    json.dumps({"capacity": 2, "objects": "jobs"}).encode(),
    json.dumps({"capacity": 2, "objects": {"jobs": "no metadata"}}).encode(),
    json.dumps({"capacity": "lots", "objects": {"jobs": {}}}).encode(),
    json.dumps({"objects": {"bad name": {}}, "listed": ["bad name"]}).encode(),
    json.dumps({"objects": {"": {}}, "listed": [""]}).encode(),
    json.dumps({"objects": {"x": {}}, "listed": [["x"]]}).encode(),
    json.dumps({"objects": {"x": {}}, "tags": {"x": 5}}).encode(),
]


def test_a_malformed_ready_is_ignored(
    broker: BrokerProcess, steady: SteadyCaller, dealer: zmq.Socket
) -> None:
    ns = zpyro.locate_ns(broker.host, broker.port)
    broker_daemon = zpyro.Proxy(f"PYRO:Pyro.Daemon@{broker.location}")
    for payload in MALFORMED_READY:
        dealer.send_multipart(control(wire.READY, payload))
        # the broker did not take us as a daemon: a PING says "unknown daemon"
        dealer.send_multipart(control(wire.PING))
        frames = dealer.recv_multipart()
        assert frames[0] == b""
        pong = wire.decode(frames[1:])
        assert pong.kind == wire.PONG
        said = json.loads(pong.payload)
        assert (said["epoch"], said["known"]) == (broker.epoch, False), payload
        assert sorted(ns.list()) == ["Pyro.NameServer", "jobs"]
        assert broker_daemon.registered() == ["Pyro.Daemon", "Pyro.NameServer", "jobs"]
    assert "Traceback" not in "".join(broker.spawned.output)


def test_messages_that_only_look_like_a_daemons_are_dropped(
    broker: BrokerProcess, steady: SteadyCaller, dealer: zmq.Socket
) -> None:
    result = wire.encode(wire.RESULT, 0, 1, 1, "", "", b"'forged'")
    for frames in (
        [b"some-caller", *result],  # a reply for a caller, from a daemon nobody attached
        control(wire.DONE, route=b"some-caller"),
        control(wire.BYE),  # goodbye from a daemon that never came
        control(wire.PONG),  # only the broker sends these
        control(wire.CALL),
        [b"", wire.SIGNATURE, b"\x06"],  # a READY whose header is cut short
        [b"", wire.SIGNATURE, b"", b""],
    ):
        dealer.send_multipart(frames)
    assert ask_nameserver(dealer, 21) == 2  # the only answer the raw socket ever gets
    assert dealer.poll(int(scaled(0.3) * 1000)) == 0


def test_the_broker_logs_what_it_refuses(broker: BrokerProcess, dealer: zmq.Socket) -> None:
    dealer.send_multipart([b"junk"])
    error_reply(dealer)
    dealer.send_multipart([b"ZPY\x07", HEADER, b""])
    error_reply(dealer)
    dealer.send_multipart(control(wire.READY, b"{"))
    assert ask_nameserver(dealer, 31) == 1
    wait_logged(broker, "undecodable message")
    wait_logged(broker, "unsupported protocol version 7")
    wait_logged(broker, "malformed READY")


def test_a_call_over_the_brokers_message_size_gets_an_error(
    start_broker: Any, start_worker: Any
) -> None:
    broker = start_broker(env={"ZPYRO_MAX_MESSAGE_SIZE": "100000"})
    start_worker(broker)
    dealer = raw_dealer(broker.endpoint)
    try:
        big = SERPENT.dumps([[b"x" * 150_000], {}])
        frames = wire.encode(wire.CALL, 0, 1, 41, "jobs", "work", big[0], big[1])
        dealer.send_multipart(frames)
        call_id, error = error_reply(dealer)
        assert call_id == 41 and error["type"] == "zpyro.errors.MessageTooLargeError"
        assert ask_nameserver(dealer, 42) == 2
    finally:
        dealer.close(linger=0)
    # a proxy learns the limit and refuses locally; smaller calls go through
    p = zpyro.Proxy(f"PYRO:jobs@{broker.location}")
    with pytest.raises(zpyro.errors.MessageTooLargeError):
        p.work(b"x" * 150_000)
    assert p.work(b"y" * 1000)[1] == b"y" * 1000
