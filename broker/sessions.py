"""Session affinity through pools: which daemon holds each caller's session. Pure.

A class registered in ``session`` mode gives each connected proxy its own instance. Through a
pool that only holds if all of a proxy's calls reach the same daemon: the first call of a caller
(a proxy connection, known by its route at the broker) to a session-mode object picks a daemon
the usual way, and every later call of that caller to that object goes there, for the life of
the connection (until its ``release_session``). When that daemon goes away, or stops serving the
object, the session is *lost*: the caller's next calls to it fail with a ConnectionClosedError
that says so, never silently reaching a fresh instance elsewhere, until the proxy lets its
connection go (a new proxy, or the same one after ``_pyroRelease()``, starts a new session).
"""

from __future__ import annotations

from collections.abc import Iterable

from zpyro import errors


class Sessions:
    def __init__(self) -> None:
        # caller -> object id -> the ident of the daemon holding its session, or (a str) why
        # that session was lost
        self._held: dict[bytes, dict[str, bytes | str]] = {}

    def holder(self, client: bytes, object_id: str) -> bytes | None:
        """The daemon holding `client`'s session of `object_id`; None if it has none yet.
        Raises ConnectionClosedError when that session was lost."""
        entry = self._held.get(client, {}).get(object_id)
        if isinstance(entry, str):
            raise errors.ConnectionClosedError(entry)
        return entry

    def hold(self, client: bytes, object_id: str, daemon: bytes) -> None:
        self._held.setdefault(client, {})[object_id] = daemon

    def lose(self, daemon: bytes, why: str, object_ids: Iterable[str] | None = None) -> int:
        """`daemon` no longer holds its sessions (of `object_ids` only, when given): each is
        marked lost, saying `why` (e.g. "went away (no heartbeat)"). Returns how many."""
        only = None if object_ids is None else set(object_ids)
        lost = 0
        for held in self._held.values():
            for object_id, holder in held.items():
                if holder == daemon and (only is None or object_id in only):
                    held[object_id] = (
                        f"the session of this proxy with {object_id!r} is lost: daemon "
                        f"{daemon.hex()}, which held it, {why}; release the proxy (or make a "
                        "new one) to start a new session"
                    )
                    lost += 1
        return lost

    def release(self, client: bytes) -> None:
        """The caller's connection ended (release_session): its sessions end with it."""
        self._held.pop(client, None)

    def __len__(self) -> int:
        """Callers with sessions (or lost ones) on record."""
        return len(self._held)
