"""Finding the active broker of a pair (docs/BROKER.md, "Broker pair").

The objects a broker pair serves have URIs that list both brokers (``PYRO:obj@h1:p1,h2:p2``),
and so may ``NS_HOST`` / ``locate_ns`` / ``PYRONAME:name@h1:p1,h2:p2``. Before a proxy or a
name watcher talks to one of them it asks all of them at once with a PING, which a broker of a
pair answers with its state and which never counts as a client request (it cannot make a passive
broker take over). Then, by :func:`choose`:

1. the first that says it is *active* (or is no pair broker at all) is used, at once;
2. else, once all have answered or stayed silent for ``CONNECT_TIMEOUT``, one that says it has
   lost its peer (``"peer": false``; the primary first): the call sent to it is the client
   request that makes it take over -- Binary Star's rule, so a passive broker takes over only
   when its peer is gone *and* a client cannot reach an active one;
3. else (passive brokers that still hear an active peer we cannot reach, or a pair just started
   whose brokers still wait for each other): ask again, a moment later, until
   ``CONNECT_TIMEOUT + 2 * HEARTBEAT_TIMEOUT`` has passed, then CommunicationError;
4. nobody answers at all: CommunicationError at once.

The last broker found active is remembered per pair (process-wide) and asked first next time.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from . import errors, wire
from .config import config
from .connection import Connection

__all__ = ["Answer", "PAUSE", "ask", "choose", "find_active", "note_active", "failover_wait"]

_hints: dict[tuple[str, ...], str] = {}  # a pair's addresses (sorted) -> the last active one
_hints_lock = threading.Lock()


class Answer(NamedTuple):
    location: str
    pair: dict[str, Any] | None  # the PONG's "pair" object; None: not a broker of a pair
    error: str = ""  # why it did not answer ("" when it did)


def choose(answers: Sequence[Answer], complete: bool) -> tuple[Answer | None, bool]:
    """(the broker to use or None, whether asking again later may help). `complete`: every
    broker has answered or failed (else the ones missing may still say they are active)."""
    answered = [a for a in answers if not a.error]
    for answer in answered:
        if answer.pair is None or answer.pair.get("state") == wire.PAIR_ACTIVE:
            return answer, False
    if not complete:
        return None, True
    lost = [(a, a.pair) for a in answered if a.pair is not None and not a.pair.get("peer")]
    if lost:  # (sorted is stable: the primary first, then in the order given)
        return sorted(lost, key=lambda ap: ap[1].get("role") != wire.PAIR_PRIMARY)[0][0], False
    return None, bool(answered)


def failover_wait() -> float:
    """How long a client keeps asking a pair whose passive broker still hears its peer."""
    return config.CONNECT_TIMEOUT + 2 * config.HEARTBEAT_TIMEOUT


def note_active(locations: Sequence[str], location: str) -> None:
    """Ask `location` first next time (a broker named it, or it answered as active)."""
    if location in locations:
        with _hints_lock:
            _hints[tuple(sorted(locations))] = location


def _ordered(locations: Sequence[str]) -> list[str]:
    with _hints_lock:
        hint = _hints.get(tuple(sorted(locations)))
    return sorted(locations, key=lambda loc: loc != hint)  # (stable: else in the order given)


PAUSE = 0.05  # seconds between two rounds of asking a pair that has no active broker yet


def find_active(
    locations: Sequence[str], server_key: bytes | None = None
) -> tuple[Answer, Connection]:
    """The broker of `locations` to talk to, and a connection to it (see the module docstring)."""
    deadline = time.monotonic() + failover_wait()
    pause = PAUSE
    while True:
        answers, conns = _ask_all(_ordered(locations), server_key)
        chosen, may_wait = choose(answers, True)
        for location, conn in conns.items():
            if chosen is None or location != chosen.location:
                conn.close("not the active broker of the pair")
        if chosen is not None:
            note_active(locations, chosen.location)
            return chosen, conns[chosen.location]
        if not may_wait or time.monotonic() + pause >= deadline:
            said = "; ".join(f"{a.location}: {a.error or _describe(a.pair)}" for a in answers)
            raise errors.CommunicationError(
                f"no active broker among {', '.join(locations)} ({said})"
            )
        time.sleep(pause)


def ask(locations: Sequence[str], server_key: bytes | None = None) -> list[Answer]:
    """What each broker says of its pair (a PING each, all at once), for tools and tests."""
    answers, conns = _ask_all(list(locations), server_key, early=False)
    for conn in conns.values():
        conn.close("asked only how the pair stands")
    return answers


def _ask_all(
    locations: list[str], server_key: bytes | None, early: bool = True
) -> tuple[list[Answer], dict[str, Connection]]:
    """PING every broker at once; stop early when one says it is active."""
    timeout = config.CONNECT_TIMEOUT
    replies: queue.Queue[tuple[str, Any, BaseException | None]] = queue.Queue()
    conns: dict[str, Connection] = {}
    for location in locations:
        conn = Connection(f"tcp://{location}", timeout, server_key)
        conn.resend_unsent = True  # a call it never sent goes to the broker that took over
        conns[location] = conn
        call_id = conn.next_call_id()

        def done(reply: Any, error: BaseException | None, where: str = location) -> None:
            replies.put((where, reply, error))

        try:
            conn.submit(wire.encode(wire.PING, 0, 0, call_id, "", ""), call_id, timeout, done)
        except errors.ZPyroError as exc:  # refused before the PING went out
            replies.put((location, None, exc))
    found: dict[str, Answer] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(locations):
        try:
            where, reply, error = replies.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        found[where] = _answer(where, reply, error)
        if early and choose([found[where]], False)[0] is not None:
            break  # active: no need to wait for the others
    answers = [
        found.get(loc) or Answer(loc, None, f"no answer within {timeout} s") for loc in locations
    ]
    for answer in answers:
        if answer.error:
            conns.pop(answer.location).close(answer.error)
    return answers, conns


def _answer(location: str, reply: Any, error: BaseException | None) -> Answer:
    if error is not None:
        return Answer(location, None, str(error) or type(error).__name__)
    if reply.kind != wire.PONG:
        return Answer(location, None, f"answered a PING with message kind {reply.kind}")
    if not reply.payload:
        return Answer(location, None)  # a daemon, or a broker on its own
    try:
        pair = json.loads(bytes(reply.payload))["pair"]
        if not isinstance(pair, dict):
            raise TypeError("not an object")
    except (ValueError, KeyError, TypeError) as exc:
        return Answer(location, None, f"unreadable PONG: {exc}")
    return Answer(location, pair)


def _describe(pair: dict[str, Any] | None) -> str:
    if pair is None:
        return "answers"
    active = pair.get("active") or "none known"
    peer = "hears its peer" if pair.get("peer") else "has lost its peer"
    return f"{pair.get('role')} {pair.get('state')}, {peer}, active: {active}"
