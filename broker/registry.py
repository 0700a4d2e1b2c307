"""The name server's registry: name -> (uri, metadata tags, lease). Pure, no I/O, no locks.

Two layers:

* *stored* names, registered by hand (``ns.register``), which the caller also persists;
* *leases*, the names brokered daemons serve: memory only. A lease shadows a stored entry of the
  same name while it lives; dropping it makes the stored entry visible again.

Lookups and listings see the union, leases on top. Everything that comes in is validated here
and refused with a :class:`~zpyro.errors.NamingError` saying why. Not thread-safe: the owner
(``NameServer``) serialises access.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from zpyro.errors import NamingError, ZPyroError
from zpyro.uri import URI

__all__ = ["Entry", "Registry", "check_name", "check_uri", "check_metadata"]


class Entry(NamedTuple):
    uri: str  # canonical PYRO: URI text
    metadata: frozenset[str]
    lease: bool


def check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise NamingError(f"a name must be a str, not {type(name).__name__}")
    if not name:
        raise NamingError("a name must not be empty")
    if any(c.isspace() for c in name):
        raise NamingError(f"a name must not contain whitespace: {name!r}")
    return _unicode(name, "a name")


def _unicode(text: str, what: str) -> str:
    """Names, URIs and tags go out as UTF-8 (announcements, storage): a lone surrogate cannot,
    and a change that cannot be announced must not happen."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NamingError(f"{what} is not valid Unicode text: {text!r}") from None
    return text


def check_uri(uri: Any) -> str:
    """The canonical text of a PYRO: URI given as str or URI."""
    if not isinstance(uri, (str, URI)):
        raise NamingError(f"a uri must be a str or zpyro.URI, not {type(uri).__name__}")
    try:
        parsed = URI(uri)
    except ZPyroError as exc:
        raise NamingError(str(exc)) from None
    if parsed.protocol != "PYRO":
        raise NamingError(f"only PYRO: uris can be registered, not {str(parsed)!r}")
    return _unicode(str(parsed), "a uri")


def check_metadata(metadata: Any) -> frozenset[str]:
    """Tags from None or an iterable of str; a lone str is refused (it would become its letters)."""
    if metadata is None:
        return frozenset()
    if isinstance(metadata, (str, bytes)):
        raise NamingError(
            f"metadata must be an iterable of str tags (a set, a list...), not a single "
            f"{type(metadata).__name__} {metadata!r}"
        )
    try:
        tags = list(metadata)
    except TypeError:
        raise NamingError(
            f"metadata must be an iterable of str tags, not {type(metadata).__name__}"
        ) from None
    bad = [tag for tag in tags if not isinstance(tag, str)]
    if bad:
        raise NamingError(f"metadata tags must be str, not {type(bad[0]).__name__} {bad[0]!r}")
    return frozenset(_unicode(tag, "a metadata tag") for tag in tags)


def _compile(regex: Any) -> re.Pattern[str]:
    if not isinstance(regex, str):
        raise NamingError(f"regex must be a str, not {type(regex).__name__}")
    try:
        return re.compile(regex)
    except (re.error, RecursionError, OverflowError) as exc:
        raise NamingError(f"invalid regex {regex!r}: {exc}") from None


class Registry:
    """Names -> entries; see the module docstring for the stored/lease layers."""

    def __init__(self, stored: Mapping[str, tuple[str, Iterable[str]]] | None = None) -> None:
        self._stored: dict[str, tuple[str, frozenset[str]]] = {}
        self._leases: dict[str, tuple[str, frozenset[str]]] = {}
        for name, (uri, metadata) in (stored or {}).items():
            self._stored[check_name(name)] = (check_uri(uri), check_metadata(metadata))

    # -- changes --------------------------------------------------------------------------------

    def register(
        self, name: str, uri: str | URI, metadata: Any = None, safe: bool = False
    ) -> Entry:
        """Store a name; `safe` refuses a name that is already visible. Returns the stored entry."""
        name, uri, tags = check_name(name), check_uri(uri), check_metadata(metadata)
        if safe and self.get(name) is not None:
            raise NamingError(f"name already registered: {name}")
        self._stored[name] = (uri, tags)
        return Entry(uri, tags, False)

    def lease(self, name: str, uri: str | URI, metadata: Any = None) -> Entry:
        """Add or replace the memory-only lease of a name."""
        name, uri, tags = check_name(name), check_uri(uri), check_metadata(metadata)
        self._leases[name] = (uri, tags)
        return Entry(uri, tags, True)

    def drop_lease(self, name: str) -> bool:
        """Forget a lease; True if there was one. A stored entry of that name shows again."""
        return self._leases.pop(name, None) is not None

    def set_metadata(self, name: str, metadata: Any) -> Entry:
        """Replace the tags of the visible entry (the lease when there is one)."""
        tags = check_metadata(metadata)
        entry = self.lookup(name)
        layer = self._leases if entry.lease else self._stored
        layer[name] = (entry.uri, tags)
        return Entry(entry.uri, tags, entry.lease)

    def remove(
        self, name: str | None = None, prefix: str | None = None, regex: str | None = None
    ) -> list[str]:
        """Remove the matching names (stored entry and lease both); see `matching`."""
        names = self.matching(name, prefix, regex)
        self.discard(names)
        return names

    def unstore(self, name: str) -> bool:
        """Forget the stored entry of a name (a lease of that name stays); True if there was one."""
        return self._stored.pop(name, None) is not None

    def discard(self, names: Iterable[str]) -> None:
        """Remove these names from both layers; unknown names are ignored."""
        for n in names:
            self._stored.pop(n, None)
            self._leases.pop(n, None)

    # -- queries --------------------------------------------------------------------------------

    def get(self, name: str) -> Entry | None:
        if name in self._leases:
            return Entry(*self._leases[name], True)
        if name in self._stored:
            return Entry(*self._stored[name], False)
        return None

    def lookup(self, name: str) -> Entry:
        entry = self.get(check_name(name))
        if entry is None:
            raise NamingError(f"unknown name: {name}")
        return entry

    def stored(self, name: str) -> tuple[str, frozenset[str]] | None:
        """The stored entry of a name, even when a lease shadows it."""
        return self._stored.get(name)

    def count(self) -> int:
        return len(self._stored.keys() | self._leases.keys())

    def names(self) -> list[str]:
        return sorted(self._stored.keys() | self._leases.keys())

    def list(
        self,
        prefix: str | None = None,
        regex: str | None = None,
        metadata_all: Any = None,
        metadata_any: Any = None,
    ) -> dict[str, Entry]:
        """Visible entries passing every filter given (AND), sorted by name.

        `regex` must match at the start of the name (``re.match``, as Pyro does); `metadata_all`
        keeps entries carrying all those tags, `metadata_any` those carrying at least one. An
        empty or None filter does not filter (Pyro habit).
        """
        if prefix is not None and not isinstance(prefix, str):
            raise NamingError(f"prefix must be a str, not {type(prefix).__name__}")
        pattern = _compile(regex) if regex else None
        need_all = check_metadata(metadata_all)
        need_any = check_metadata(metadata_any)
        result: dict[str, Entry] = {}
        for name in self.names():
            if prefix and not name.startswith(prefix):
                continue
            if pattern is not None and not pattern.match(name):
                continue
            entry = self.get(name)
            assert entry is not None
            if need_all and not need_all <= entry.metadata:
                continue
            if need_any and not need_any & entry.metadata:
                continue
            result[name] = entry
        return result

    def matching(
        self, name: str | None = None, prefix: str | None = None, regex: str | None = None
    ) -> builtins.list[str]:  # `list` is a method here
        """Names passing every criterion given (AND); none given matches nothing."""
        if name is None and not prefix and not regex:
            return []
        candidates = self.list(prefix=prefix, regex=regex)
        if name is not None:
            return [check_name(name)] if name in candidates else []
        return list(candidates)
