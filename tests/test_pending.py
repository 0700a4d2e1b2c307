"""zpyro/pending.py and zpyro/linkstate.py on their own: no sockets, a fake clock (plain numbers).

The connection feeds them received frames, monitor events and the time; here the tests do.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import zmq

from zpyro import errors, wire
from zpyro.linkstate import LinkState, StaleConnection
from zpyro.pending import CallTable, Pending

pytestmark = pytest.mark.timeout(30)


def reply(call_id: int, kind: int = wire.RESULT) -> list[bytes]:
    return wire.encode(kind, 0, wire.JSON_ID, call_id, "", "", b"null")


class Outcomes:
    """A future's callback: records (reply call id or None, error) per call."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[int | None, BaseException | None]] = {}

    def callback(self, call_id: int) -> Any:
        def done(msg: Any, error: BaseException | None) -> None:
            self.seen[call_id] = (None if msg is None else msg.call_id, error)

        return done


def table(max_pending: int = 100) -> CallTable:
    return CallTable(max_pending, threading.Lock(), "tcp://test:1")


def future(table: CallTable, outcomes: Outcomes, call_id: int, deadline: float | None) -> Pending:
    pend = Pending(waiting=False, callback=outcomes.callback(call_id), deadline=deadline)
    table.add_future(call_id, pend)
    return pend


def test_a_reply_finishes_its_call_and_nothing_else() -> None:
    calls = table()
    waiter = Pending(waiting=True)
    calls.pending[1] = waiter
    other = Pending(waiting=True)
    calls.pending[2] = other
    calls.deliver(reply(1))
    assert waiter.done and waiter.event is not None and waiter.event.is_set()
    assert waiter.reply is not None and waiter.reply.call_id == 1 and waiter.error is None
    assert not other.done and list(calls.pending) == [2]


def test_a_late_reply_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    calls = table()
    with caplog.at_level(logging.DEBUG, logger="zpyro.connection"):
        calls.deliver(reply(41))  # nobody waits for call 41 (any more)
    assert not calls.pending
    assert "late reply for call 41 dropped" in caplog.text


def test_an_unreadable_reply_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    calls = table()
    calls.pending[1] = pend = Pending(waiting=True)
    with caplog.at_level(logging.WARNING, logger="zpyro.connection"):
        calls.deliver([b"junk", b"", b""])  # not even a call id to read
    assert not pend.done and "undecodable reply from tcp://test:1" in caplog.text


def bad_reply(call_id: int) -> list[bytes]:
    """A reply whose header is readable but that does not decode: a flag no RESULT carries."""
    return wire.encode(wire.RESULT, wire.FLAG_ONEWAY, wire.JSON_ID, call_id, "", "", b"null")


def test_an_undecodable_reply_fails_its_call_and_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = table()
    calls.pending[1] = waiter = Pending(waiting=True)
    calls.pending[2] = other = Pending(waiting=True)
    with caplog.at_level(logging.WARNING, logger="zpyro.connection"):
        calls.deliver(bad_reply(1))
    assert waiter.done and waiter.event is not None and waiter.event.is_set()
    assert waiter.reply is None and isinstance(waiter.error, errors.ProtocolError)
    assert "undecodable reply" in str(waiter.error) and "flags" in str(waiter.error)
    assert not other.done and list(calls.pending) == [2]
    assert "undecodable reply from tcp://test:1" in caplog.text


def test_an_undecodable_reply_fails_its_future_before_the_deadline() -> None:
    calls, outcomes = table(), Outcomes()
    future(calls, outcomes, 5, deadline=10.0)
    calls.deliver(bad_reply(5))
    first = outcomes.seen[5]
    assert list(outcomes.seen) == [5] and first[0] is None
    assert isinstance(first[1], errors.ProtocolError)
    assert not calls.pending and not calls.futures and not calls.deadlines
    calls.expire(now=20.0)  # its deadline passes: no second outcome (no TimeoutError)
    calls.deliver(bad_reply(5))  # nor from a second bad reply: nobody waits for it any more
    assert outcomes.seen == {5: first}


def test_futures_expire_by_the_clock_given_earliest_first() -> None:
    calls, outcomes = table(), Outcomes()
    future(calls, outcomes, 1, deadline=10.0)
    future(calls, outcomes, 2, deadline=5.0)
    future(calls, outcomes, 3, deadline=None)  # no timeout: never expires
    calls.expire(now=4.9)
    assert outcomes.seen == {}
    calls.expire(now=5.5)
    assert list(outcomes.seen) == [2]
    assert isinstance(outcomes.seen[2][1], errors.TimeoutError)
    calls.expire(now=100.0)
    assert sorted(outcomes.seen) == [1, 2] and list(calls.pending) == [3]
    assert calls.futures == {3} and not calls.deadlines


def test_an_answered_future_does_not_expire_and_its_heap_entry_goes() -> None:
    calls, outcomes = table(), Outcomes()
    future(calls, outcomes, 1, deadline=5.0)
    calls.deliver(reply(1))
    assert outcomes.seen == {1: (1, None)}
    assert not calls.futures and not calls.deadlines  # no future left: the heap is cleared
    calls.expire(now=10.0)
    assert outcomes.seen == {1: (1, None)}


def test_a_reused_call_id_of_a_blocked_caller_is_not_expired() -> None:
    calls, outcomes = table(), Outcomes()
    future(calls, outcomes, 7, deadline=1.0)
    future(calls, outcomes, 8, deadline=50.0)  # keeps the heap from being cleared
    calls.deliver(reply(7))
    calls.pending[7] = waiter = Pending(waiting=True)  # the id comes round again
    calls.expire(now=2.0)
    assert not waiter.done and 7 in calls.pending


def test_the_deadline_heap_stays_bounded_by_what_is_outstanding() -> None:
    calls, outcomes = table(max_pending=100_000), Outcomes()
    future(calls, outcomes, 0, deadline=1e9)  # one future stays out the whole time
    for n in range(1, 5001):
        future(calls, outcomes, n, deadline=1e6 + n)
        calls.deliver(reply(n))
    assert len(calls.deadlines) < 1000  # answered entries were compacted away
    assert calls.futures == {0}


def test_a_lost_connection_fails_every_call_at_once() -> None:
    calls, outcomes = table(), Outcomes()
    calls.pending[1] = waiter = Pending(waiting=True)
    future(calls, outcomes, 2, deadline=5.0)
    lost = errors.ConnectionClosedError("gone")
    calls.fail_all(lost)
    assert waiter.error is lost and outcomes.seen == {2: (None, lost)}
    assert not calls.pending and not calls.futures and not calls.deadlines


def test_calls_never_sent_fail_as_stale_so_the_proxy_sends_them_again() -> None:
    calls, outcomes = table(), Outcomes()
    calls.pending[1] = sent = Pending(waiting=True)
    calls.pending[3] = queued = Pending(waiting=True)  # still in the connection's outbox
    future(calls, outcomes, 2, deadline=5.0)
    future(calls, outcomes, 4, deadline=5.0)  # queued too
    lost, stale = errors.ConnectionClosedError("gone"), StaleConnection("gone")
    calls.fail_all(lost, {3, 4}, stale)
    assert sent.error is lost and queued.error is stale
    assert outcomes.seen == {2: (None, lost), 4: (None, stale)}


def test_pending_calls_are_bounded() -> None:
    calls, outcomes = table(max_pending=2), Outcomes()
    future(calls, outcomes, 1, None)
    future(calls, outcomes, 2, None)
    with pytest.raises(errors.CommunicationError, match="MAX_PENDING_CALLS = 2"):
        calls.check_room()
    calls.deliver(reply(1))
    calls.check_room()


def test_a_failing_callback_does_not_stop_delivery(caplog: pytest.LogCaptureFixture) -> None:
    calls = table()

    def broken(msg: Any, error: Any) -> None:
        raise RuntimeError("callback bug")

    calls.add_future(1, Pending(waiting=False, callback=broken))
    with caplog.at_level(logging.ERROR, logger="zpyro.connection"):
        calls.deliver(reply(1))
    assert not calls.pending and "result callback failed" in caplog.text


# -- what the socket monitor's events mean ------------------------------------------------------


def state(curve: bool = False) -> LinkState:
    return LinkState("tcp://test:1", connect_timeout=5.0, curve=curve, now=100.0)


def test_a_connection_not_made_in_time_fails_the_waiting_calls() -> None:
    link = state()
    assert link.overdue(104.0, waiting=True) is None
    assert link.overdue(106.0, waiting=False) is None  # nobody waits: nothing to fail
    late = link.overdue(106.0, waiting=True)
    assert isinstance(late, errors.CommunicationError) and "within 5.0 s" in str(late)


def test_once_connected_there_is_no_connect_deadline() -> None:
    link = state()
    assert link.on_event(zmq.EVENT_CONNECTED, 0, waiting=True) is None
    assert link.overdue(1000.0, waiting=True) is None
    link.sending(1000.0)
    assert link.connect_deadline is None


def test_the_connect_deadline_counts_from_the_first_send_after_it_was_lifted() -> None:
    link = state()
    link.connect_deadline = None
    link.sending(200.0)
    assert link.connect_deadline == 205.0
    link.sending(300.0)  # a later call does not push it out
    assert link.connect_deadline == 205.0


def test_a_lost_connection_after_the_handshake_is_connection_closed() -> None:
    link = state()
    link.on_event(zmq.EVENT_CONNECTED, 0, waiting=True)
    link.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0, waiting=True)
    lost = link.on_event(zmq.EVENT_DISCONNECTED, 0, waiting=True)
    assert type(lost) is errors.ConnectionClosedError and "lost" in str(lost)


def test_a_connection_dropped_during_the_handshake_was_refused() -> None:
    link = state()
    link.on_event(zmq.EVENT_CONNECTED, 0, waiting=True)
    cut = link.on_event(zmq.EVENT_DISCONNECTED, 0, waiting=True)
    assert type(cut) is errors.CommunicationError and "handshake" in str(cut)
    assert isinstance(state(curve=True)._handshake_error(None), errors.SecurityError)


def test_a_refused_connection_is_stale_when_nobody_waits() -> None:
    refused = state().on_event(zmq.EVENT_CLOSED, 0, waiting=True)
    assert type(refused) is errors.CommunicationError and "refused" in str(refused)
    assert type(state().on_event(zmq.EVENT_CLOSED, 0, waiting=False)) is StaleConnection


def test_a_failed_handshake_is_kept_for_the_next_call() -> None:
    link = state()
    mismatch = zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
    assert link.on_event(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, mismatch, waiting=False) is None
    failure = link.overdue(100.0, waiting=True)
    assert isinstance(failure, errors.SecurityError) and "mechanism" in str(failure)
    denied = link.on_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 0, waiting=False)
    assert isinstance(denied, errors.SecurityError) and "credentials" in str(denied)
