"""Name storage: memory and sqlite behind one interface; durable, and clear when it cannot be."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON

from zpyro.broker.storage import (
    SCHEMA_VERSION,
    MemoryStorage,
    SqliteStorage,
    StorageError,
    default_storage_spec,
    open_storage,
)

pytestmark = pytest.mark.timeout(30)

U1 = "PYRO:one@127.0.0.1:5001"
U2 = "PYRO:two@127.0.0.1:5002"


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: Any, tmp_path: Path) -> Iterator[Any]:
    s = MemoryStorage() if request.param == "memory" else SqliteStorage(tmp_path / "names.db")
    yield s
    s.close()


def test_round_trip(storage: Any) -> None:
    assert storage.load() == {}
    storage.put("a", U1, ["x", "y"])
    storage.put("b", U2, frozenset())
    storage.put("c", U2, {"z"})
    storage.put("a", U2, ("w",))  # replaces
    storage.delete(["c", "never-there"])
    assert storage.load() == {"a": (U2, frozenset({"w"})), "b": (U2, frozenset())}
    storage.delete([])
    assert set(storage.load()) == {"a", "b"}


def test_change_after_close_fails_clearly(storage: Any) -> None:
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.put("a", U1, [])
    with pytest.raises(StorageError, match="closed"):
        storage.delete(["a"])
    with pytest.raises(StorageError, match="closed"):
        storage.load()
    storage.close()  # twice is fine


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "names.db"
    s = SqliteStorage(path)
    s.put("a", U1, ["t2", "t1"])
    s.put("gone", U1, [])
    s.delete(["gone"])
    s.close()
    again = SqliteStorage(str(path))
    try:
        assert again.load() == {"a": (U1, frozenset({"t1", "t2"}))}
        assert again.spec == f"sqlite:{path}"
    finally:
        again.close()


def test_sqlite_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "names.db"
    SqliteStorage(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT version FROM zpyro_schema").fetchall() == [(SCHEMA_VERSION,)]
    db.close()


def test_sqlite_committed_changes_survive_a_killed_process(tmp_path: Path, spawn: Any) -> None:
    path = tmp_path / "names.db"
    script = (
        "import sys\n"
        "from zpyro.broker.storage import SqliteStorage\n"
        f"s = SqliteStorage({str(path)!r})\n"
        f"s.put('kept', {U1!r}, ['a'])\n"
        f"s.put('dropped', {U2!r}, [])\n"
        "s.delete(['dropped'])\n"
        f"s.put('last', {U2!r}, ['b', 'c'])\n"
        "print('READY', flush=True)\n"
        "sys.stdin.readline()\n"  # wait, never closing the storage: it is killed first
    )
    proc = spawn([PYTHON, "-c", script])
    proc.wait_for("READY")
    proc.kill()  # SIGKILL by pid: no close(), no checkpoint
    assert proc.proc.returncode == -9
    s = SqliteStorage(path)
    try:
        assert s.load() == {"kept": (U1, frozenset({"a"})), "last": (U2, frozenset({"b", "c"}))}
    finally:
        s.close()


def test_sqlite_usable_from_another_thread(tmp_path: Path) -> None:
    s = SqliteStorage(tmp_path / "names.db")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            s.put("t", U1, [])
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert not errors and s.load() == {"t": (U1, frozenset())}
    s.close()


def test_not_an_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StorageError, match=f"cannot use sqlite:{path}.*not a database"):
        SqliteStorage(path)
    assert path.read_bytes().startswith(b"this is not a database")  # left as it was


def test_corrupt_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "names.db"
    s = SqliteStorage(path)
    for i in range(200):
        s.put(f"name{i}", U1, ["tag"] * 1)
    s.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 4096
    data[100:4096] = b"\xa5" * (4096 - 100)  # trash the rest of the first page (the schema)
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=f"sqlite:{path}"):
        SqliteStorage(path)


def test_unknown_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "names.db"
    SqliteStorage(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE zpyro_schema SET version = 99")
    db.close()
    with pytest.raises(StorageError, match=f"sqlite:{path}: schema version 99"):
        SqliteStorage(path)


def test_bad_metadata_row(tmp_path: Path) -> None:
    path = tmp_path / "names.db"
    SqliteStorage(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO names VALUES ('x', ?, '{broken')", (U1,))
    db.close()
    with pytest.raises(StorageError, match="bad metadata for 'x'"):
        SqliteStorage(path)


def test_unopenable_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "names.db"
    with pytest.raises(StorageError, match=f"sqlite:{missing}"):
        SqliteStorage(missing)


def test_open_storage(tmp_path: Path) -> None:
    mem = open_storage("memory")
    assert isinstance(mem, MemoryStorage) and mem.spec == "memory"
    path = tmp_path / "n.db"
    sq = open_storage(f"sqlite:{path}")
    assert isinstance(sq, SqliteStorage) and sq.path == str(path)
    sq.close()
    assert path.exists()


@pytest.mark.parametrize("spec", ["", "sqlite:", "sqlite", "redis:host", "Memory", "file:/x.db"])
def test_open_storage_refuses(spec: str) -> None:
    with pytest.raises(StorageError, match="sqlite:"):
        open_storage(spec)


def test_default_storage_spec_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    spec = default_storage_spec(9090)
    assert spec == f"sqlite:{state}/zpyro/names-9090.db"
    assert (state / "zpyro").is_dir()
    s = open_storage(spec)  # usable as it is
    s.put("a", U1, [])
    s.close()


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_default_storage_spec_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str | None
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", xdg)
    assert default_storage_spec(9100) == f"sqlite:{tmp_path}/.local/state/zpyro/names-9100.db"
    assert (tmp_path / ".local" / "state" / "zpyro").is_dir()
