"""zpyro/credit.py on its own: the sender's room, the receiver's ledger, the refusal log. Pure."""

from __future__ import annotations

import logging
import threading

import pytest

from zpyro.credit import (
    UNLIMITED,
    CreditLedger,
    RefusalLog,
    SenderCredit,
    batch_for,
    window_for,
)


def test_window_is_the_configured_credit_but_at_most_a_quarter_of_the_queue() -> None:
    assert window_for(1000, 10_000) == 1000
    assert window_for(1000, 50) == 12  # zpyro-broker --max-queue 50
    assert window_for(1000, 3) == 1  # never 0: a caller can always send one
    assert window_for(5, 10_000) == 5


def test_grants_come_in_batches_of_a_quarter_window() -> None:
    assert batch_for(1000) == 250
    assert batch_for(12) == 3
    assert batch_for(3) == 1


def test_sender_waits_for_the_handshake_then_spends_its_window() -> None:
    credit = SenderCredit()
    credit.set_window(3)
    assert not credit.take()  # handshake not done: a call now could vanish unseen
    credit.open = True
    assert [credit.take() for _ in range(4)] == [True, True, True, False]
    assert credit.unconfirmed == 3
    credit.grant(2)
    assert credit.unconfirmed == 1
    assert credit.take() and credit.take() and not credit.take()


def test_sender_never_holds_more_than_its_window() -> None:
    credit = SenderCredit()
    credit.set_window(4)
    credit.open = True
    credit.grant(100)  # a confused receiver cannot widen the window
    assert credit.room == 4 and credit.unconfirmed == 0


def test_sender_without_a_window_is_unlimited_once_open() -> None:
    credit = SenderCredit()  # an old daemon: no credit in its metadata
    credit.open = True
    assert all(credit.take() for _ in range(10_000))
    assert credit.unconfirmed == 0
    credit.grant(5)  # ignored: nothing is counted
    assert credit.window is None and credit.room > UNLIMITED // 2


def test_window_changes_keep_what_is_in_use() -> None:
    credit = SenderCredit()
    credit.set_window(10)
    credit.open = True
    for _ in range(6):
        credit.take()
    credit.set_window(4)  # a restarted daemon with a smaller window: 6 in use, none left
    assert credit.room == 0 and credit.unconfirmed == 4
    credit.set_window(None)  # an old daemon now: no flow control at all
    assert credit.take() and credit.unconfirmed == 0


def test_ledger_grants_a_batch_when_owed_one() -> None:
    ledger = CreditLedger(8)  # batch 2
    assert CreditLedger(3).ran(b"x") == 1  # batch 1: each call granted back at once
    assert ledger.ran(b"a") == 0
    assert ledger.ran(b"b") == 0
    assert ledger.ran(b"a") == 2
    assert ledger.owed == {b"b": 1}


def test_ledger_flushes_what_is_owed_at_the_second_pass() -> None:
    ledger = CreditLedger(1000)
    ledger.ran(b"a")
    assert ledger.due() == []  # first pass: noted
    ledger.ran(b"a")
    ledger.ran(b"b")
    assert ledger.due() == [(b"a", 2)]  # second pass: still owed -> granted; b only noted
    assert sorted(ledger.due()) == [(b"b", 1)]
    assert ledger.due() == [] and ledger.owed == {}


def test_ledger_forgets_a_caller_that_went_away() -> None:
    ledger = CreditLedger(1000)
    ledger.ran(b"a")
    ledger.due()
    ledger.forget(b"a")
    assert ledger.due() == [] and ledger.owed == {}


def test_ledger_counts_every_call_from_many_threads() -> None:
    ledger = CreditLedger(100)  # batch 25
    granted = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(1000):
            count = ledger.ran(b"c")
            if count:
                with lock:
                    granted.append(count)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ledger.due()
    rest = sum(count for _, count in ledger.due())
    assert sum(granted) + rest == 4000  # every call's credit comes back, exactly once


def test_refusals_are_warnings_without_a_line_per_refusal(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog(logging.getLogger("test.refusals"), every=1.0)
    with caplog.at_level(logging.WARNING, "test.refusals"):
        for i in range(500):
            refusals.refused(10.0 + i / 1000, "call x.y", "busy")  # 0.5 s of refusals
        refusals.refused(11.2, "call x.y", "busy")
    lines = [r for r in caplog.records if r.name == "test.refusals"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING]
    assert lines[0].getMessage() == "refused call x.y: busy"
    assert "499 more refused" in lines[1].getMessage()
