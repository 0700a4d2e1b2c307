"""Where the names registered by hand are kept: ``memory`` or ``sqlite:PATH``.

One small interface (:class:`Storage`): ``load()`` at start, then ``put`` / ``delete`` for every
change (write-through), ``close()`` at the end. Leases never come here.

For a broker pair (docs/BROKER.md) every stored name also carries a stamp, and a removed name
may leave a tombstone (``broker/replica.py``): ``records()`` reads both, ``tombstone`` removes a
name leaving one, ``apply`` writes what a merge with the peer decided (one transaction) and
``purge`` forgets tombstones the peer has confirmed. A single broker never makes tombstones.

SQLite: WAL journal and ``synchronous=FULL``, one transaction per change, so a broker killed at
any moment loses nothing it had committed. Table ``names`` holds the live names (what a lookup
shows), table ``stamps`` their stamps and the tombstones. The file carries a schema version
(version 1 files, from before stamps, are upgraded in place); a file from an
unknown version, a corrupt file or one that is not SQLite at all is refused with a
:class:`StorageError` naming the path. The connection is opened with ``check_same_thread=False``
(the broker may be created in one thread and run in another) but is used by one thread at a time.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from zpyro.errors import ZPyroError

from .replica import Record

__all__ = [
    "StorageError",
    "Storage",
    "MemoryStorage",
    "SqliteStorage",
    "open_storage",
    "default_storage_spec",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 2  # 2: table stamps (a version 1 file gets it when opened)

Names = dict[str, tuple[str, frozenset[str]]]


class StorageError(ZPyroError):
    """The name storage cannot be opened, read or written."""


class Storage(Protocol):
    spec: str

    def load(self) -> Names: ...

    def put(self, name: str, uri: str, metadata: Iterable[str]) -> None: ...

    def delete(self, names: Iterable[str]) -> None: ...

    def records(self) -> dict[str, Record]: ...

    def tombstone(self, names: Iterable[str], stamp: int) -> None: ...

    def apply(self, put: Mapping[str, Record], delete: Iterable[str] = ()) -> None: ...

    def purge(self, tombstones: Mapping[str, int]) -> None: ...

    def close(self) -> None: ...


class MemoryStorage:
    """Keeps nothing beyond the process; for tests and throw-away brokers."""

    spec = "memory"

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("storage memory is closed")

    def load(self) -> Names:
        self._check_open()
        live = self._records.items()
        return {n: (r.uri, frozenset(r.metadata)) for n, r in live if not r.deleted}

    def records(self) -> dict[str, Record]:
        self._check_open()
        return dict(self._records)

    def put(self, name: str, uri: str, metadata: Iterable[str], stamp: int = 0) -> None:
        self._check_open()
        self._records[name] = Record.live(uri, metadata, stamp)

    def delete(self, names: Iterable[str]) -> None:
        self._check_open()
        for name in names:
            self._records.pop(name, None)

    def tombstone(self, names: Iterable[str], stamp: int) -> None:
        self._check_open()
        for name in names:
            self._records[name] = Record.tombstone(stamp)

    def apply(self, put: Mapping[str, Record], delete: Iterable[str] = ()) -> None:
        self._check_open()
        self._records.update(put)
        for name in delete:
            self._records.pop(name, None)

    def purge(self, tombstones: Mapping[str, int]) -> None:
        self._check_open()
        for name, stamp in tombstones.items():
            if self._records.get(name) == Record.tombstone(stamp):
                del self._records[name]

    def close(self) -> None:
        self._closed = True


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS zpyro_schema (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS names ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " uri TEXT NOT NULL,"
    " metadata TEXT NOT NULL)",  # JSON list of tags, sorted
    # a live name's stamp (none: 0, as in a version 1 file), or a tombstone (deleted = 1)
    "CREATE TABLE IF NOT EXISTS stamps ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " stamp INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL)",
)
_PUT_NAME = "INSERT OR REPLACE INTO names (name, uri, metadata) VALUES (?, ?, ?)"
_PUT_STAMP = "INSERT OR REPLACE INTO stamps (name, stamp, deleted) VALUES (?, ?, ?)"
_DELETE_NAME = "DELETE FROM names WHERE name = ?"
_DELETE_STAMP = "DELETE FROM stamps WHERE name = ?"
_UPGRADABLE = (1,)  # schema versions this one reads after adding what they lack (_SCHEMA)


class SqliteStorage:
    """Names in an SQLite file; created (with its schema) when missing."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.spec = f"sqlite:{self.path}"
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            with self._conn:
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                rows = self._conn.execute("SELECT version FROM zpyro_schema").fetchall()
                if not rows:
                    self._conn.execute("INSERT INTO zpyro_schema VALUES (?)", (SCHEMA_VERSION,))
                elif len(rows) == 1 and rows[0][0] in _UPGRADABLE:
                    self._conn.execute("UPDATE zpyro_schema SET version = ?", (SCHEMA_VERSION,))
                elif rows != [(SCHEMA_VERSION,)]:
                    raise StorageError(
                        f"{self.spec}: schema version {rows[0][0]!r}, this zpyro knows "
                        f"version {SCHEMA_VERSION} (made by another zpyro version?)"
                    )
            self.load()  # read everything once: a damaged table shows now, not at the first put
        except sqlite3.Error as exc:
            self.close()
            raise StorageError(f"cannot use {self.spec} as name storage: {exc}") from None
        except BaseException:
            self.close()
            raise

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"storage {self.spec} is closed")
        return self._conn

    def load(self) -> Names:
        try:
            rows = self._db().execute("SELECT name, uri, metadata FROM names").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read {self.spec}: {exc}") from None
        names: Names = {}
        for name, uri, metadata in rows:
            try:
                tags = json.loads(metadata)
                if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                    raise ValueError("not a list of str")
            except ValueError as exc:
                raise StorageError(f"{self.spec}: bad metadata for {name!r}: {exc}") from None
            names[name] = (uri, frozenset(tags))
        return names

    def records(self) -> dict[str, Record]:
        try:
            stamps = self._db().execute("SELECT name, stamp, deleted FROM stamps").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read {self.spec}: {exc}") from None
        found = {name: (int(stamp), bool(deleted)) for name, stamp, deleted in stamps}
        result = {
            name: Record.live(uri, tags, found.get(name, (0, False))[0])
            for name, (uri, tags) in self.load().items()
        }
        for name, (stamp, deleted) in found.items():
            if deleted and name not in result:
                result[name] = Record.tombstone(stamp)
        return result

    def put(self, name: str, uri: str, metadata: Iterable[str], stamp: int = 0) -> None:
        self.apply({name: Record.live(uri, metadata, stamp)})

    def delete(self, names: Iterable[str]) -> None:
        self.apply({}, names)

    def tombstone(self, names: Iterable[str], stamp: int) -> None:
        self.apply({name: Record.tombstone(stamp) for name in names})

    def apply(self, put: Mapping[str, Record], delete: Iterable[str] = ()) -> None:
        """Write these records (tombstones included) and remove those names, in one transaction."""
        gone = [(name,) for name in delete]
        live = [(n, r.uri, json.dumps(sorted(r.metadata))) for n, r in put.items() if not r.deleted]
        dead = [(n,) for n, r in put.items() if r.deleted]
        stamps = [(n, r.stamp, int(r.deleted)) for n, r in put.items()]
        self._write(
            [
                (_DELETE_NAME, gone + dead),
                (_DELETE_STAMP, gone),
                (_PUT_NAME, live),
                (_PUT_STAMP, stamps),
            ]
        )

    def purge(self, tombstones: Mapping[str, int]) -> None:
        rows = [(name, stamp) for name, stamp in tombstones.items()]
        self._write([("DELETE FROM stamps WHERE name = ? AND stamp = ? AND deleted = 1", rows)])

    def _write(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        db = self._db()
        try:
            with db:  # one transaction: committed entirely, or rolled back
                for statement, rows in statements:
                    if rows:
                        db.executemany(statement, rows)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write {self.spec}: {exc}") from None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def open_storage(spec: str) -> MemoryStorage | SqliteStorage:
    """The storage named by `spec`: ``memory`` or ``sqlite:PATH`` (``~`` is expanded)."""
    if spec == "memory":
        return MemoryStorage()
    kind, sep, path = spec.partition(":")
    if kind == "sqlite" and sep:
        if not path:
            raise StorageError("storage 'sqlite:' needs a path: sqlite:PATH")
        return SqliteStorage(os.path.expanduser(path))
    raise StorageError(f"unknown storage {spec!r}: expected 'memory' or 'sqlite:PATH'")


def default_storage_spec(port: int) -> str:
    """``sqlite:<state dir>/zpyro/names-<port>.db``, one file per broker port; makes the dir.

    The state dir is ``$XDG_STATE_HOME`` when set (and absolute, as the XDG spec requires),
    else ``~/.local/state``.
    """
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    directory = base / "zpyro"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the storage directory {directory}: {exc}") from None
    return f"sqlite:{directory / f'names-{port}.db'}"
