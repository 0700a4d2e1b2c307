"""The announcement codec, byte for byte, and fuzzed: decode raises only ProtocolError."""

from __future__ import annotations

import json
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zpyro import announce
from zpyro.errors import ProtocolError

pytestmark = pytest.mark.timeout(60)

BODIES: dict[str, dict[str, Any]] = {
    "name.registered": {"name": "example.greeting", "uri": "PYRO:g@h:9090", "metadata": ["eu"]},
    "name.removed": {"name": "example.greeting"},
    "daemon.joined": {"daemon": "44ab", "names": ["a", "b"], "capacity": 8},
    "daemon.left": {"daemon": "44ab", "names": ["a"], "reason": "no heartbeat"},
    "broker.alive": {},
}


def test_kinds() -> None:
    assert frozenset(BODIES) == announce.KINDS


def test_encode_golden_bytes() -> None:
    frames = announce.encode("name.removed", 7, 3, {"name": "a"}, time=1.5)
    assert frames == [
        b"name.removed",
        b'{"epoch":7,"kind":"name.removed","name":"a","seq":3,"time":1.5}',
    ]


def test_encode_golden_bytes_unicode_and_alive() -> None:
    frames = announce.encode(
        "name.registered", 1, 2, {"name": "é", "uri": "PYRO:x@h:1", "metadata": []}, time=0
    )
    assert frames[0] == b"name.registered"
    assert (
        frames[1]
        == (
            '{"epoch":1,"kind":"name.registered","metadata":[],"name":"é","seq":2,'
            '"time":0.0,"uri":"PYRO:x@h:1"}'
        ).encode()
    )
    assert announce.encode("broker.alive", 9, 0, {}, time=2) == [
        b"broker.alive",
        b'{"epoch":9,"kind":"broker.alive","seq":0,"time":2.0}',
    ]


def test_decode_golden_bytes() -> None:
    a = announce.decode(
        [b"daemon.left", b'{"kind":"daemon.left","epoch":5,"seq":10,"time":3,'
         b'"daemon":"d1","names":["x"],"reason":"closed"}']
    )  # fmt: skip
    assert a == announce.Announcement(
        "daemon.left", 5, 10, 3.0, {"daemon": "d1", "names": ["x"], "reason": "closed"}
    )
    assert isinstance(a.time, float)


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_round_trip(kind: str) -> None:
    frames = announce.encode(kind, 123456, 42, BODIES[kind], time=1700000000.25)
    a = announce.decode(frames)
    assert (a.kind, a.epoch, a.seq, a.time, a.body) == (
        kind,
        123456,
        42,
        1700000000.25,
        BODIES[kind],
    )


def test_encode_uses_the_clock_by_default() -> None:
    import time

    before = time.time()
    a = announce.decode(announce.encode("broker.alive", 1, 1, {}))
    assert before <= a.time <= time.time()


def test_decode_accepts_buffers_and_zmq_frames() -> None:
    topic, body = announce.encode("name.removed", 1, 1, {"name": "n"}, time=1)
    assert announce.decode([bytearray(topic), memoryview(body)]).body == {"name": "n"}
    assert announce.decode([zmq.Frame(topic), zmq.Frame(body)]).kind == "name.removed"


def test_decode_keeps_unknown_keys() -> None:
    body = b'{"kind":"name.removed","epoch":1,"seq":1,"time":1,"name":"n","extra":[1]}'
    assert announce.decode([b"name.removed", body]).body == {"name": "n", "extra": [1]}


def _body(**changes: Any) -> bytes:
    doc: dict[str, Any] = {"kind": "name.removed", "epoch": 1, "seq": 1, "time": 1.0, "name": "n"}
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    "frames, why",
    [
        ([b"name.removed"], "2 frames"),
        ([b"name.removed", _body(), b""], "2 frames"),
        ([], "2 frames"),
        ([b"name.bogus", _body(kind="name.bogus")], "unknown"),
        ([b"name.removed", _body(kind="name.registered")], "body kind"),
        ([b"name.removed", _body(kind=...)], "body kind"),
        ([b"\xff", _body()], "ASCII"),
        ([b"name.removed", b"{not json"], "JSON"),
        ([b"name.removed", b"\xff\xfe"], "UTF-8"),
        ([b"name.removed", b"[1, 2]"], "JSON object"),
        ([b"name.removed", _body(seq=-1)], "seq"),
        ([b"name.removed", _body(seq=1.5)], "seq"),
        ([b"name.removed", _body(seq=True)], "seq"),
        ([b"name.removed", _body(seq=...)], "seq"),
        ([b"name.removed", _body(epoch="e")], "epoch"),
        ([b"name.removed", _body(time="now")], "time"),
        ([b"name.removed", _body(name=...)], "lacks 'name'"),
        ([b"name.removed", _body(name=5)], "'name' must be a str"),
        ([b"name.removed", b'{"kind":"name.removed","epoch":1,"seq":1,"time":NaN,"name":"n"}'],
         "JSON"),
        ([b"name.removed", "text, not bytes"], "not bytes"),
        ([None, _body()], "not bytes"),
        (42, "sequence"),
    ],
)  # fmt: skip
def test_decode_refuses(frames: Any, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        announce.decode(frames)


@pytest.mark.parametrize(
    "kind, body",
    [
        ("daemon.joined", {"daemon": "d", "names": ["a"], "capacity": -1}),
        ("daemon.joined", {"daemon": "d", "names": "a", "capacity": 1}),
        ("name.registered", {"name": "n", "uri": "u", "metadata": [1]}),
        ("daemon.left", {"daemon": "d", "names": []}),
    ],
)
def test_decode_refuses_bad_kind_keys(kind: str, body: dict[str, Any]) -> None:
    doc = {"kind": kind, "epoch": 1, "seq": 1, "time": 1, **body}
    with pytest.raises(ProtocolError, match=kind):
        announce.decode([kind.encode(), json.dumps(doc).encode()])


@pytest.mark.parametrize(
    "args, why",
    [
        (("name.bogus", 1, 1, {}), "unknown kind"),
        (("name.removed", 1, 1, {}), "lacks 'name'"),
        (("name.removed", -1, 1, {"name": "n"}), "epoch"),
        (("name.removed", 1, -1, {"name": "n"}), "seq"),
        (("name.removed", 1, 1, {"name": "n", "seq": 2}), "may not set seq"),
        (("name.removed", 1, 1, {"name": "n", "x": object()}), "plain JSON"),
        (("name.removed", 1, 1, ["name"]), "must be a dict"),
    ],
)
def test_encode_refuses(args: tuple[Any, ...], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        announce.encode(*args, time=1)
    with pytest.raises(ValueError, match="time"):
        announce.encode("broker.alive", 1, 1, {}, time=float("inf"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
kind_text = st.sampled_from(sorted(BODIES)) | st.text(max_size=16)
near_valid = st.fixed_dictionaries(
    {"kind": kind_text, "epoch": json_values, "seq": json_values, "time": json_values},
    optional={
        "name": json_values, "uri": json_values, "metadata": json_values, "daemon": json_values,
        "names": json_values, "capacity": json_values, "reason": json_values,
    },
)  # fmt: skip


def _check_decodes_or_refuses(frames: Any) -> None:
    try:
        a = announce.decode(frames)
    except ProtocolError:
        return
    # what decodes is well formed, and encodes back to an equal announcement
    assert a.kind in announce.KINDS and a.seq >= 0 and a.epoch >= 0
    again = announce.decode(announce.encode(a.kind, a.epoch, a.seq, a.body, time=a.time))
    assert again == a


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.binary(max_size=80), max_size=4))
def test_fuzz_arbitrary_frames(frames: list[bytes]) -> None:
    _check_decodes_or_refuses(frames)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=kind_text, doc=near_valid | json_values)
def test_fuzz_near_valid_json(topic: str, doc: Any) -> None:
    try:
        body = json.dumps(doc).encode()
    except ValueError:
        return
    _check_decodes_or_refuses([topic.encode("utf-8", "surrogatepass"), body])
