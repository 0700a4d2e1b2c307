"""broker/binarystar.py on its own: the pair's state machine, with a fake clock and no sockets.

The last test drives two machines and clients that pick a broker the way proxies do
(``zpyro.failover.choose``) through random cuts and heals of the link between the brokers, and
checks the promise: while clients reach both brokers, the pair never has two active brokers.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zpyro.broker.binarystar import ACTIVE, BACKUP, PASSIVE, PRIMARY, BinaryStar
from zpyro.failover import Answer, choose

T = 1.0  # the peer timeout


def started_pair() -> tuple[BinaryStar, BinaryStar]:
    """Primary and backup after their first heartbeats: active and passive."""
    p, b = BinaryStar(PRIMARY, T, 0.0), BinaryStar(BACKUP, T, 0.0)
    assert b.on_peer(p.state, 0.1) is None  # the backup waits for the primary to decide
    assert p.on_peer(b.state, 0.1) == ACTIVE
    assert b.on_peer(p.state, 0.2) == PASSIVE
    return p, b


def test_both_start_waiting_then_the_primary_is_active() -> None:
    p, b = started_pair()
    assert (p.state, b.state) == (ACTIVE, PASSIVE)
    assert p.active and not b.active


def test_a_passive_broker_refuses_clients_while_it_hears_the_active_one() -> None:
    p, b = started_pair()
    for now in (0.3, 0.6, 0.9, 1.1):
        assert b.on_client(now) is False
        b.on_peer(ACTIVE, now)  # heartbeats keep coming
    assert b.state == PASSIVE
    assert p.on_client(5.0) is True  # the active one serves, whatever the time


def test_losing_the_peer_alone_never_makes_a_broker_active() -> None:
    p, b = started_pair()
    assert b.tick(0.5) is False
    assert b.tick(1.3) is True  # lost: said once
    assert b.tick(50.0) is False
    assert b.state == PASSIVE and b.peer_lost and not b.peer_alive(50.0)


def test_the_passive_takes_over_on_a_client_request_once_the_peer_is_lost() -> None:
    p, b = started_pair()
    assert b.on_client(1.1) is False  # last heard at 0.2: alive until 1.2
    assert b.on_client(1.2) is True
    assert b.state == ACTIVE


def test_a_primary_restarted_comes_back_passive() -> None:
    p, b = started_pair()
    b.on_client(5.0)  # the primary died; a client made the backup active
    assert b.state == ACTIVE
    p2 = BinaryStar(PRIMARY, T, 10.0)  # restarted
    assert b.on_peer(p2.state, 10.1) is None  # the active stays active
    assert p2.on_peer(ACTIVE, 10.1) == PASSIVE
    assert p2.on_client(30.0) is False or p2.state == ACTIVE  # (peer expired by then)


def test_a_primary_restarted_before_the_backup_noticed_also_comes_back_passive() -> None:
    p, b = started_pair()
    p2 = BinaryStar(PRIMARY, T, 0.5)  # killed and restarted within the timeout
    assert p2.on_peer(PASSIVE, 0.6) is None  # waits: the passive backup takes over
    assert b.on_peer(PRIMARY, 0.6) == ACTIVE  # (zguide: "primary is restarting")
    assert p2.on_peer(ACTIVE, 0.7) == PASSIVE


def test_two_actives_after_a_healed_partition_the_backup_steps_down() -> None:
    p, b = started_pair()
    b.on_client(3.0)  # the link was cut and a client reached only the backup
    assert (p.state, b.state) == (ACTIVE, ACTIVE)
    assert p.on_peer(ACTIVE, 4.0) is None
    assert b.on_peer(ACTIVE, 4.0) == PASSIVE


def test_two_passives_the_primary_becomes_active() -> None:
    p, b = started_pair()
    p.state = PASSIVE  # (cannot happen by these rules; the rule still resolves it)
    assert b.on_peer(PASSIVE, 1.0) is None
    assert p.on_peer(PASSIVE, 1.0) == ACTIVE


@pytest.mark.parametrize("role", [PRIMARY, BACKUP])
def test_a_broker_alone_serves_only_after_waiting_a_timeout_for_its_peer(role: str) -> None:
    star = BinaryStar(role, T, 0.0)
    assert star.on_client(0.5) is False and star.state == role
    assert star.on_client(1.0) is True and star.state == ACTIVE


def test_a_peer_with_the_same_role_changes_nothing() -> None:
    star = BinaryStar(PRIMARY, T, 0.0)
    assert star.on_peer(PRIMARY, 0.1) is None and star.state == PRIMARY
    backup = BinaryStar(BACKUP, T, 0.0)
    assert backup.on_peer(BACKUP, 0.1) is None and backup.state == BACKUP


def test_a_waiting_backup_that_hears_a_passive_primary_waits() -> None:
    b = BinaryStar(BACKUP, T, 0.0)  # restarted while the primary was passive
    assert b.on_peer(PASSIVE, 0.1) is None  # the primary takes over on hearing BACKUP
    p = BinaryStar(PRIMARY, T, 0.0)
    p.state = PASSIVE
    assert p.on_peer(BACKUP, 0.1) == ACTIVE
    assert b.on_peer(ACTIVE, 0.2) == PASSIVE


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="role"):
        BinaryStar("leader", T, 0.0)
    with pytest.raises(ValueError, match="timeout"):
        BinaryStar(PRIMARY, 0.0, 0.0)
    with pytest.raises(ValueError, match="peer state"):
        BinaryStar(PRIMARY, T, 0.0).on_peer("confused", 0.1)


# -- the promise, under random cuts ---------------------------------------------------------------


def pong(star: BinaryStar, now: float) -> dict[str, Any]:
    return {"role": star.role, "state": star.state, "peer": star.peer_alive(now)}


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.sampled_from(["time", "cut", "heal", "client"]), st.floats(0.01, 2.0)),
        max_size=60,
    )
)
def test_while_clients_reach_both_there_is_never_more_than_one_active(
    events: list[tuple[str, float]],
) -> None:
    p, b = started_pair()
    now, linked, last_beat = 0.2, True, 0.2
    for kind, dt in events:
        if kind == "time":
            end = now + dt
            while now < end:  # heartbeats every 0.1 s while the link is up
                now = min(end, now + 0.1)
                if linked and now - last_beat >= 0.1:
                    p.on_peer(b.state, now)
                    b.on_peer(p.state, now)
                    last_beat = now
                p.tick(now)
                b.tick(now)
        elif kind == "cut":
            linked = False
        elif kind == "heal":
            linked = True
        else:  # a client asks both (they both answer), then calls the one chosen
            answers = [
                Answer("p", pong(p, now)),
                Answer("b", pong(b, now)),
            ]
            chosen, _ = choose(answers, True)
            if chosen is not None:
                (p if chosen.location == "p" else b).on_client(now)
        assert not (p.active and b.active), (kind, now, p.state, b.state)


def test_right_after_a_takeover_calls_for_unserved_objects_wait_a_bounded_while() -> None:
    from zpyro.broker.paired import Takeover

    takeover = Takeover(limit=2)
    assert not takeover.hold(b"c", [b"m0"], True, 0.0)  # never took over: answered at once
    takeover.start(until=5.0)
    assert not takeover.hold(b"c", [b"m1"], False, 1.0)  # served: nothing to wait for
    assert takeover.hold(b"c", [b"m2"], True, 1.0)
    assert takeover.hold(b"c", [b"m3"], True, 2.0)
    assert not takeover.hold(b"c", [b"m4"], True, 2.0)  # full (a pool queue's bound)
    assert takeover.release() == [(b"c", [b"m2"]), (b"c", [b"m3"])]  # a daemon came
    assert takeover.hold(b"c", [b"m5"], True, 4.0)
    assert takeover.expired(4.9) == []
    assert takeover.expired(5.0) == [(b"c", [b"m5"])]  # the end of the window: usual answers
    assert not takeover.hold(b"c", [b"m6"], True, 5.1)
