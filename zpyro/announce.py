"""Broker announcements <-> PUB frames. Pure: no sockets, no clock unless you pass none.

An announcement is two frames (docs/BROKER.md):

* ``topic``: the kind, ASCII (``name.registered``...), so a SUB can filter by prefix (``name.``);
* ``body``: a compact UTF-8 JSON object, keys sorted: ``kind`` (the topic again), ``epoch``
  (int >= 0, chosen at broker start), ``seq`` (int >= 0: the announcement's number in its epoch;
  ``broker.alive`` carries the last one issued), ``time`` (seconds since the epoch of the Unix
  clock, a float), plus the kind's own keys:

=================== ==================================================================
kind                own keys
=================== ==================================================================
``name.registered`` ``name`` (str), ``uri`` (str), ``metadata`` (list of str)
``name.removed``    ``name`` (str)
``daemon.joined``   ``daemon`` (str), ``names`` (list of str), ``capacity`` (int >= 0)
``daemon.left``     ``daemon`` (str), ``names`` (list of str), ``reason`` (str)
``broker.alive``    none
=================== ==================================================================

Golden example: ``encode("name.removed", 7, 3, {"name": "a"}, time=1.5)`` is
``[b"name.removed", b'{"epoch":7,"kind":"name.removed","name":"a","seq":3,"time":1.5}']``.

Keys a decoder does not know are kept in ``body`` (newer brokers may add some). ``decode`` raises
only :class:`~zpyro.errors.ProtocolError`, whatever the frames hold: a subscriber never crashes
on a stray or hostile message. ``encode`` raises ``ValueError`` for a body that would not decode.
"""

from __future__ import annotations

import json
import math
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from zpyro.errors import ProtocolError

__all__ = [
    "KINDS",
    "NAME_REGISTERED",
    "NAME_REMOVED",
    "DAEMON_JOINED",
    "DAEMON_LEFT",
    "BROKER_ALIVE",
    "Announcement",
    "encode",
    "decode",
]

NAME_REGISTERED = "name.registered"
NAME_REMOVED = "name.removed"
DAEMON_JOINED = "daemon.joined"
DAEMON_LEFT = "daemon.left"
BROKER_ALIVE = "broker.alive"

_RESERVED = ("kind", "epoch", "seq", "time")  # keys every body has; the kind's own keys may not


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_time(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too big for a float
        return False


# kind -> its own required keys and what each must be
_Check = Callable[[Any], bool]
_SCHEMA: dict[str, dict[str, tuple[_Check, str]]] = {
    NAME_REGISTERED: {
        "name": (_is_str, "a str"),
        "uri": (_is_str, "a str"),
        "metadata": (_is_str_list, "a list of str"),
    },
    NAME_REMOVED: {"name": (_is_str, "a str")},
    DAEMON_JOINED: {
        "daemon": (_is_str, "a str"),
        "names": (_is_str_list, "a list of str"),
        "capacity": (_is_count, "an int >= 0"),
    },
    DAEMON_LEFT: {
        "daemon": (_is_str, "a str"),
        "names": (_is_str_list, "a list of str"),
        "reason": (_is_str, "a str"),
    },
    BROKER_ALIVE: {},
}
KINDS: frozenset[str] = frozenset(_SCHEMA)


class Announcement(NamedTuple):
    kind: str
    epoch: int
    seq: int
    time: float
    body: dict[str, Any]  # the kind's own keys (and any unknown extra keys)


def _show(value: Any) -> str:
    text = repr(value)  # short: the value came from a peer and may be huge
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(kind: Any, epoch: Any, seq: Any, when: Any, body: Mapping[str, Any]) -> str | None:
    """What is wrong with these announcement fields, or None."""
    if not isinstance(kind, str) or kind not in _SCHEMA:
        return f"unknown kind {_show(kind)}"
    if not _is_count(epoch):
        return f"epoch must be an int >= 0, not {_show(epoch)}"
    if not _is_count(seq):
        return f"seq must be an int >= 0, not {_show(seq)}"
    if not _is_time(when):
        return f"time must be a finite number, not {_show(when)}"
    for key, (check, what) in _SCHEMA[kind].items():
        if key not in body:
            return f"{kind} lacks {key!r}"
        if not check(body[key]):
            return f"{kind}: {key!r} must be {what}, not {_show(body[key])}"
    return None


def encode(
    kind: str, epoch: int, seq: int, body: Mapping[str, Any], *, time: float | None = None
) -> list[bytes]:
    """The two frames of one announcement; `time` defaults to now (`time.time()`)."""
    if not isinstance(body, Mapping):
        raise ValueError(f"announcement body must be a dict, not {type(body).__name__}")
    clash = [key for key in _RESERVED if key in body]
    if clash:
        raise ValueError(f"announcement body may not set {', '.join(clash)}")
    when = _time.time() if time is None else time
    problem = _problem(kind, epoch, seq, when, body)
    if problem:
        raise ValueError(f"bad announcement: {problem}")
    doc = {**body, "kind": kind, "epoch": epoch, "seq": seq, "time": float(when)}
    try:
        text = json.dumps(
            doc, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"announcement body is not plain JSON data: {exc}") from None
    return [kind.encode("ascii"), text.encode("utf-8")]


def _as_bytes(frame: Any, what: str) -> bytes:
    if isinstance(frame, bytes):
        return frame
    try:  # bytearray, memoryview, zmq.Frame: anything with the buffer protocol
        return bytes(memoryview(frame))
    except TypeError:
        raise ProtocolError(f"announcement {what} is not bytes: {type(frame).__name__}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(frames: Sequence[Any]) -> Announcement:
    """Parse the frames of one announcement; anything malformed raises ProtocolError."""
    try:
        count = len(frames)
    except TypeError:
        raise ProtocolError("announcement frames must be a sequence") from None
    if count != 2:
        raise ProtocolError(f"an announcement has 2 frames (topic, body), not {count}")
    topic_bytes = _as_bytes(frames[0], "topic")
    raw = _as_bytes(frames[1], "body")
    try:
        topic = topic_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"announcement topic is not ASCII: {topic_bytes[:40]!r}") from None
    if topic not in KINDS:
        raise ProtocolError(f"unknown announcement kind {_show(topic)}")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError are too
        raise ProtocolError(f"announcement body is not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"announcement body is not a JSON object: {type(doc).__name__}")
    kind, epoch, seq, when = (doc.pop(key, None) for key in _RESERVED)
    if kind != topic:
        raise ProtocolError(f"announcement topic {topic!r} but body kind {_show(kind)}")
    problem = _problem(kind, epoch, seq, when, doc)
    if problem:
        raise ProtocolError(f"bad announcement: {problem}")
    return Announcement(topic, epoch, seq, float(when), doc)
