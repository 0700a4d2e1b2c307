"""How a broker pair keeps the names registered by hand equal on both brokers, without sockets:
stamped records (broker/replica.py), their storage (broker/storage.py) and the name server's
merge (broker/nameserver.py), with injected clocks."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zpyro.broker.nameserver import NameServer
from zpyro.broker.registry import Registry
from zpyro.broker.replica import Record, StampClock, from_wire, merge, to_wire, wins
from zpyro.broker.storage import MemoryStorage, SqliteStorage

pytestmark = pytest.mark.timeout(30)

U1, U2 = "PYRO:one@127.0.0.1:5001", "PYRO:two@127.0.0.1:5002"


class Announcements:
    epoch = 1
    seq = 0

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, kind: str, body: dict[str, Any]) -> int:
        self.seq += 1
        self.sent.append((kind, body))
        return self.seq


def nameserver(storage: Any = None) -> NameServer:
    return NameServer(
        Registry(), storage or MemoryStorage(), Announcements(), "PYRO:Pyro.NameServer@h:1"
    )


# -- records and stamps ----------------------------------------------------------------------------


def test_a_later_stamp_wins_and_ties_break_the_same_way_everywhere() -> None:
    old, new = Record.live(U1, ["a"], 10), Record.live(U2, [], 11)
    assert wins(new, old) and not wins(old, new) and wins(old, None)
    assert wins(Record.tombstone(12), new) and not wins(new, Record.tombstone(12))
    same_a, same_b = Record.live(U1, [], 20), Record.live(U2, [], 20)
    assert wins(same_b, same_a) != wins(same_a, same_b)  # exactly one of them


def test_the_stamp_clock_moves_on_even_when_the_wall_clock_does_not() -> None:
    wall = [100.0]
    clock = StampClock(lambda: wall[0])
    first = clock.stamp()
    assert first == 100_000_000 and clock.stamp() == first + 1
    clock.observe(500_000_000)  # the peer's clock is ahead: ours follows
    assert clock.stamp() == 500_000_001
    wall[0] = 1000.0
    assert clock.stamp() == 1_000_000_000


records_st = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.one_of(
        st.builds(
            Record.live,
            st.sampled_from([U1, U2]),
            st.sets(st.sampled_from("xy")),
            st.integers(0, 5),
        ),
        st.builds(Record.tombstone, st.integers(0, 5)),
    ),
)


@given(records_st, records_st)
def test_merging_both_ways_ends_with_the_same_records(mine: Any, theirs: Any) -> None:
    here = {**mine, **merge(mine, theirs)}
    there = {**theirs, **merge(theirs, mine)}
    assert here == there
    assert merge(here, theirs) == {} and merge(there, mine) == {}  # nothing more to take


def test_records_travel_as_rows_and_bad_rows_are_refused() -> None:
    records = {"a": Record.live(U1, ["t2", "t1"], 5), "gone": Record.tombstone(6)}
    assert from_wire(to_wire(records)) == records
    for bad in (
        "not a list",
        [["a", U1, [], -1, False]],
        [["a", U1, [], 1, "no"]],
        [["", U1, [], 1, False]],
        [["a", "not a uri", [], 1, False]],
        [["a", U1, "tag", 1, False]],
        [["a", U1]],
    ):
        with pytest.raises(ValueError):
            from_wire(bad)


# -- storage ------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: Any, tmp_path: Path) -> Any:
    s = MemoryStorage() if request.param == "memory" else SqliteStorage(tmp_path / "names.db")
    yield s
    s.close()


def test_storage_keeps_stamps_and_tombstones(storage: Any) -> None:
    storage.put("a", U1, ["x"], 7)
    storage.put("b", U2, [], 8)
    storage.tombstone(["b"], 9)
    assert storage.load() == {"a": (U1, frozenset({"x"}))}
    assert storage.records() == {"a": Record.live(U1, ["x"], 7), "b": Record.tombstone(9)}
    storage.apply({"c": Record.live(U2, ["y"], 10), "a": Record.tombstone(11)}, ["b"])
    assert storage.records() == {"c": Record.live(U2, ["y"], 10), "a": Record.tombstone(11)}
    storage.purge({"a": 10})  # another removal of it: kept
    assert "a" in storage.records()
    storage.purge({"a": 11, "c": 10})  # c is no tombstone: kept
    assert storage.records() == {"c": Record.live(U2, ["y"], 10)}
    storage.put("c", U1, [])  # a single broker's put: stamp 0
    assert storage.records() == {"c": Record.live(U1, [], 0)}


def test_a_version_1_file_is_upgraded_and_its_names_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # what zpyro wrote before stamps
        db.execute("CREATE TABLE zpyro_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO zpyro_schema VALUES (1)")
        db.execute(
            "CREATE TABLE names (name TEXT PRIMARY KEY NOT NULL, uri TEXT NOT NULL, metadata TEXT NOT NULL)"
        )
        db.execute("INSERT INTO names VALUES ('kept', ?, '[\"t\"]')", (U1,))
    db.close()
    s = SqliteStorage(path)
    try:
        assert s.records() == {"kept": Record.live(U1, ["t"], 0)}
        s.tombstone(["kept"], 3)
        assert s.load() == {}
    finally:
        s.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM zpyro_schema").fetchall() == [(2,)]
    db.close()


# -- the name server's side --------------------------------------------------------------------------


def test_each_stored_change_is_stamped_and_handed_on() -> None:
    ns = nameserver()
    changes: list[dict[str, Record]] = []
    ns.on_change = changes.append
    ns.keep_tombstones = True
    ns.register("a", U1, metadata={"x"})
    ns.set_metadata("a", {"y"})
    ns.add_lease("pooled", U2)  # leases are the broker's own business: not handed on
    assert ns.remove("a") == 1
    kinds = [(name, r.deleted, r.metadata) for c in changes for name, r in c.items()]
    assert kinds == [("a", False, ("x",)), ("a", False, ("y",)), ("a", True, ())]
    stamps = [r.stamp for c in changes for r in c.values()]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert ns.records() == {"a": Record.tombstone(stamps[-1])}  # kept for the peer
    ns.purge({"a": stamps[-1]})
    assert ns.records() == {}


def test_merge_takes_what_wins_announces_it_and_never_keeps_a_peers_tombstone() -> None:
    ns = nameserver()
    ns.register("mine", U1)
    ns.register("older", U1)
    ns.add_lease("older", U2)  # a lease shadows the stored entry: its removal changes no lookup
    announced: Any = ns._announcer
    announced.sent.clear()
    newer = ns.records()["older"].stamp + 10
    won = ns.merge(
        {
            "older": Record.tombstone(newer),
            "theirs": Record.live(U2, ["t"], 5),
            "mine": Record.live(U2, [], 1),  # older than ours: loses
        }
    )
    assert set(won) == {"older", "theirs"}
    assert ns.records() == {"mine": ns.records()["mine"], "theirs": Record.live(U2, ["t"], 5)}
    assert str(ns.lookup("older")) == U2  # the lease is untouched
    assert [k for k, _ in announced.sent] == ["name.registered"]  # only "theirs" became visible
    assert ns.merge({"theirs": Record.live(U2, ["t"], 5)}) == {}  # nothing new


def test_the_clock_follows_the_peers_stamps() -> None:
    ns = nameserver()
    ns.merge({"far": Record.live(U1, [], 10**18)})
    changes: list[dict[str, Record]] = []
    ns.on_change = changes.append
    ns.register("next", U2)
    assert changes[0]["next"].stamp > 10**18  # wins over everything the peer had
