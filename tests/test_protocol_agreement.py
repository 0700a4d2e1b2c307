"""Decisions of docs/PROTOCOL.md that need a live daemon: serializer agreement between a proxy and
a daemon that does not take its serializer, marker-shaped user data next to real out-of-band
buffers, and a reply the proxy cannot decode failing its call instead of hanging."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import zmq
from conftest import scaled, serving

import zpyro
from zpyro import errors, wire

pytestmark = pytest.mark.timeout(60)


@zpyro.expose
class Box:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def echo(self, value: Any) -> Any:
        return value

    @zpyro.oneway
    def drop(self, value: Any) -> None:
        self.seen.append(value)

    def dropped(self) -> list[Any]:
        return self.seen


def test_metadata_lists_the_accepted_serializers() -> None:
    with serving(serializers_accepted={"json", "msgpack"}) as s:
        uri = s.register(Box(), "box")
        with zpyro.Proxy(uri) as p:
            p._pyroBind()
            assert p._pyroAccepted == {"msgpack", "json"}


def test_default_proxy_switches_to_what_the_daemon_accepts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serving(serializers_accepted={"json", "msgpack"}) as s:
        uri = s.register(Box(), "box")
        caplog.set_level(logging.INFO, logger="zpyro.client")
        with zpyro.Proxy(uri) as p:
            assert p.echo((1, b"x")) == [1, b"x"]  # msgpack: a tuple arrives as a list
            assert p._pyroSerializer == "msgpack"
        assert "does not accept serpent: this proxy uses msgpack" in caplog.text


def test_a_chosen_serializer_is_never_switched_and_never_silently_refused() -> None:
    box = Box()
    with serving(serializers_accepted={"json"}) as s:
        uri = s.register(box, "box")
        with zpyro.Proxy(uri) as p:
            p._pyroSerializer = "msgpack"
            with pytest.raises(errors.SerializeError, match="does not accept serializer msgpack"):
                p.echo(1)
            with pytest.raises(errors.SerializeError):
                p.drop("lost?")  # oneway: refused before it is sent, not dropped by the daemon
            assert p._pyroSerializer == "msgpack"
        zpyro.config.SERIALIZER = "msgpack"  # a configured choice is a choice too
        with zpyro.Proxy(uri) as p:
            with pytest.raises(errors.SerializeError):
                p.echo(1)
        zpyro.config.SERIALIZER = "serpent"
        with zpyro.Proxy(uri) as p:
            assert p.echo(2) == 2 and p._pyroSerializer == "json"
            p.drop("kept")
            assert p.dropped() == ["kept"]


def test_marker_shaped_user_data_next_to_real_buffers() -> None:
    data = {
        "marker": {"__zpyro_oob__": 0},
        "bytes": {"__zpyro_bytes__": "aGk="},
        "escaped": {"___zpyro_oob__": 1},
        "blob": b"b" * 100_000,
    }
    with serving() as s:
        uri = s.register(Box(), "box")
        for name in ("serpent", "json", "msgpack"):
            with zpyro.Proxy(uri) as p:
                p._pyroSerializer = name
                assert p.echo(data) == data, name


def test_an_undecodable_reply_fails_its_call() -> None:
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    msgpack = zpyro.serializers.get_serializer("msgpack")
    meta = {"methods": ["echo"], "oneway": [], "attrs": [], "max_message_size": 2**20}

    def fake_daemon() -> None:
        for _ in range(2):
            if not router.poll(int(scaled(10) * 1000)):
                return
            ident, *frames = router.recv_multipart()
            msg = wire.decode(frames)
            if msg.flags & wire.FLAG_HANDSHAKE:  # a new connection's handshake: its metadata
                answer = msgpack.dumps({"meta": meta, "handshake": None})[0]
                reply = wire.encode(wire.RESULT, 0, 3, msg.call_id, "", "", answer)
            else:  # a RESULT with a flag no RESULT may carry
                reply = wire.encode(wire.RESULT, wire.FLAG_ONEWAY, 3, msg.call_id, "", "", b"\xc0")
            router.send_multipart([ident, *reply])

    thread = threading.Thread(target=fake_daemon, daemon=True)
    thread.start()
    try:
        with zpyro.Proxy(f"PYRO:x@127.0.0.1:{port}") as p:
            p._pyroSerializer = "msgpack"
            p._pyroTimeout = scaled(10)
            with pytest.raises(errors.ProtocolError, match="undecodable reply.*flags"):
                p.echo(1)
    finally:
        thread.join(scaled(10))
        router.close(linger=0)
