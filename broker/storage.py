"""Where the names registered by hand are kept: ``memory`` or ``sqlite:PATH``.

One small interface (:class:`Storage`): ``load()`` at start, then ``put`` / ``delete`` for every
change (write-through), ``close()`` at the end. Leases never come here.

SQLite: WAL journal and ``synchronous=FULL``, one transaction per change, so a broker killed at
any moment loses nothing it had committed. The file carries a schema version; a file from an
unknown version, a corrupt file or one that is not SQLite at all is refused with a
:class:`StorageError` naming the path. The connection is opened with ``check_same_thread=False``
(the broker may be created in one thread and run in another) but is used by one thread at a time.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from zpyro.errors import ZPyroError

__all__ = [
    "StorageError",
    "Storage",
    "MemoryStorage",
    "SqliteStorage",
    "open_storage",
    "default_storage_spec",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 1

Names = dict[str, tuple[str, frozenset[str]]]


class StorageError(ZPyroError):
    """The name storage cannot be opened, read or written."""


class Storage(Protocol):
    spec: str

    def load(self) -> Names: ...

    def put(self, name: str, uri: str, metadata: Iterable[str]) -> None: ...

    def delete(self, names: Iterable[str]) -> None: ...

    def close(self) -> None: ...


class MemoryStorage:
    """Keeps nothing beyond the process; for tests and throw-away brokers."""

    spec = "memory"

    def __init__(self) -> None:
        self._names: Names = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("storage memory is closed")

    def load(self) -> Names:
        self._check_open()
        return dict(self._names)

    def put(self, name: str, uri: str, metadata: Iterable[str]) -> None:
        self._check_open()
        self._names[name] = (uri, frozenset(metadata))

    def delete(self, names: Iterable[str]) -> None:
        self._check_open()
        for name in names:
            self._names.pop(name, None)

    def close(self) -> None:
        self._closed = True


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS zpyro_schema (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS names ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " uri TEXT NOT NULL,"
    " metadata TEXT NOT NULL)",  # JSON list of tags, sorted
)


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

    def put(self, name: str, uri: str, metadata: Iterable[str]) -> None:
        tags = json.dumps(sorted(metadata))
        self._write(
            "INSERT OR REPLACE INTO names (name, uri, metadata) VALUES (?, ?, ?)",
            [(name, uri, tags)],
        )

    def delete(self, names: Iterable[str]) -> None:
        self._write("DELETE FROM names WHERE name = ?", [(name,) for name in names])

    def _write(self, statement: str, rows: list[tuple[str, ...]]) -> None:
        db = self._db()
        try:
            with db:  # one transaction: committed entirely, or rolled back
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
