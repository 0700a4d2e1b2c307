"""Finding the zmq sockets and contexts a test left open (for conftest's ``no_zmq_leaks``).

What counts as a leak, and what does not, is in that fixture's docstring.
"""

from __future__ import annotations

import gc
import types
import weakref
from typing import Any

import zmq
import zmq.utils.garbage as zmq_garbage

from zpyro import naming, security

# pyzmq keeps no list of the contexts of a process: record each one made from here on. This wraps
# the constructor and changes nothing else (the library's and the tests' sockets stay real).
_contexts: weakref.WeakSet[zmq.Context] = weakref.WeakSet()
_context_init = zmq.Context.__init__


def _recording_init(self: zmq.Context, *args: Any, **kwargs: Any) -> None:
    _context_init(self, *args, **kwargs)
    _contexts.add(self)


zmq.Context.__init__ = _recording_init  # type: ignore[method-assign]

SOCKET_TYPES = {int(t): t.name for t in zmq.SocketType}


def open_sockets() -> list[zmq.Socket]:
    """Every socket of every context of this process that is not closed yet."""
    # each context tracks the sockets it made (weakly: a collected socket drops out)
    return [
        s for ctx in list(_contexts) for s in list(getattr(ctx, "_sockets", ())) if not s.closed
    ]


def process_wide_sockets() -> set[int]:
    """Sockets the library keeps for the whole process on purpose: the ZAP authenticator's (its
    handler and thread pipes, made by the first CURVE server)."""
    auth = security._auth
    owners = [auth, getattr(auth, "thread", None)] if auth is not None else []
    return {
        id(value)
        for owner in owners
        if owner is not None
        for value in vars(owner).values()
        if isinstance(value, zmq.Socket)
    }


def process_wide_contexts() -> set[int]:
    """The context the library shares (``zmq.Context.instance()``) and the one of pyzmq's own
    collector of zero-copy frames (a thread with its two sockets, started by the first
    ``copy=False`` send), both kept for the whole process."""
    kept = [zmq.Context._instance, getattr(zmq_garbage.gc, "_context", None)]
    return {id(ctx) for ctx in kept if ctx is not None}


def release_shared_name_servers(before: dict[str, Any]) -> None:
    """Release the name-server proxies the library opened for this test's PYRONAME/PYROMETA
    lookups (it keeps one per location for the process); the next test starts without them."""
    with naming._shared_lock:
        opened = [p for loc, p in naming._shared.items() if before.get(loc) is not p]
        for loc in [loc for loc, p in naming._shared.items() if before.get(loc) is not p]:
            del naming._shared[loc]
    for proxy in opened:
        proxy._pyroRelease()


def _holders(obj: Any, ignore: set[int], depth: int = 2) -> list[str]:
    """Who refers to `obj` (and, `depth` levels up, to them): whoever forgot to close it."""
    found = []
    refs = gc.get_referrers(obj)
    ignore = ignore | {id(refs)}
    for ref in refs:
        if id(ref) in ignore or isinstance(ref, (weakref.WeakSet, types.FrameType)):
            continue  # the leak check's own lists and frames, the context's weak set
        # an instance's __dict__ stands for the instance
        owners = [o for o in gc.get_referrers(ref) if getattr(o, "__dict__", None) is ref]
        for owner in owners if isinstance(ref, dict) and owners else [ref]:
            name = type(owner).__name__
            if depth > 1 and not isinstance(owner, (zmq.Socket, tuple)):
                above = _holders(owner, ignore | {id(ref), id(owners)}, depth - 1)
                name += f" (held by {', '.join(above) or 'nothing'})"
            found.append(name)
    return sorted(set(found))


def describe(found: list[zmq.Socket | zmq.Context]) -> list[str]:
    """Each leaked socket or context, with the kinds of objects still holding it."""
    lines = []
    for obj in found:
        holders = ", ".join(_holders(obj, {id(found)})) or "nothing: not collected yet"
        if isinstance(obj, zmq.Context):
            lines.append(f"{obj!r}, not terminated, held by {holders}")
        else:
            endpoint = obj.get(zmq.LAST_ENDPOINT).decode() or "no endpoint"
            kind = SOCKET_TYPES.get(obj.type, str(obj.type))
            lines.append(f"a {kind} socket ({endpoint}) held by {holders}")
    return lines


class Snapshot:
    """The open sockets and the contexts before a test, to tell what the test made."""

    def __init__(self) -> None:
        self.sockets = weakref.WeakSet(open_sockets())
        self.contexts = weakref.WeakSet(_contexts)
        self.shared_name_servers = dict(naming._shared)

    def leaked(self) -> list[zmq.Socket | zmq.Context]:
        """The sockets and contexts made since and still open; [] when none."""
        kept_sockets, kept_contexts = process_wide_sockets(), process_wide_contexts()
        found: list[zmq.Socket | zmq.Context] = [
            s
            for s in open_sockets()
            if s not in self.sockets
            and id(s) not in kept_sockets
            and (id(s.context) not in kept_contexts or s.context is zmq.Context._instance)
        ]
        found += [
            c
            for c in list(_contexts)
            if c not in self.contexts and id(c) not in kept_contexts and not c.closed
        ]
        return found
