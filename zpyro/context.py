"""``zpyro.current_context``: who is calling, inside a remote call.

Backed by a ContextVar rather than a thread-local, so it is right both in worker threads and in
asyncio tasks that serve ``async def`` methods.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from typing import Any


class CallInfo:
    """Facts about the call being served."""

    __slots__ = (
        "client",
        "call_id",
        "object_id",
        "method",
        "annotations",
        "client_key",
        "_correlation_id",
        "response_annotations",
    )

    def __init__(
        self,
        client: bytes,
        call_id: int,
        object_id: str,
        method: str,
        annotations: dict[str, Any] | None = None,
        client_key: bytes | None = None,
    ) -> None:
        self.client = client  # the caller's connection identity (opaque bytes)
        self.call_id = call_id
        self.object_id = object_id
        self.method = method
        self.annotations = annotations if annotations is not None else {}
        self.client_key = client_key  # the caller's CURVE public key, when CURVE is on
        # shared by a chain of nested calls (A->B->C); set it in a client to start a chain
        self._correlation_id: Any = self.annotations.get("correlation_id")
        self.response_annotations: dict[str, Any] = {}  # a method fills it to send data back

    @property
    def correlation_id(self) -> Any:
        """The call chain's id. A served call whose caller sent none gets one (as in Pyro4,
        which makes one per call; here only when it is asked for, by the method or by a
        nested call that passes it on)."""
        cid = self._correlation_id
        if cid is None and self.object_id:
            cid = self._correlation_id = str(uuid.uuid4())
        return cid

    @correlation_id.setter
    def correlation_id(self, value: Any) -> None:
        self._correlation_id = value


_current: ContextVar[CallInfo | None] = ContextVar("zpyro_call", default=None)

READABLE = frozenset({*CallInfo.__slots__, "correlation_id"} - {"_correlation_id"})


WRITABLE = frozenset({"correlation_id", "response_annotations", "annotations"})


class CurrentContext:
    """The current call's facts; attributes are None outside a remote call.

    ``correlation_id``, ``annotations`` and ``response_annotations`` may also be set: in a client
    (outside any call) a correlation id set here travels with every call made from this thread
    or task, and with every nested call made while serving them.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name not in READABLE:
            raise AttributeError(name)
        info = _current.get()
        if info is None or (not info.object_id and name not in WRITABLE):
            # outside a served call only what the client set itself is there
            return {} if name in _EMPTY_DICTS else None
        return getattr(info, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in WRITABLE:
            raise AttributeError(f"current_context.{name} is read-only")
        info = _current.get()
        if info is None or not info.object_id:
            info = _own_client_info(info)
        setattr(info, name, value)

    @property
    def active(self) -> bool:
        """True while serving a remote call."""
        info = _current.get()
        return info is not None and bool(info.object_id)

    def __repr__(self) -> str:
        info = _current.get()
        if info is None or not info.object_id:
            return "<zpyro.current_context: not in a call>"
        return f"<zpyro.current_context: {info.object_id}.{info.method} call {info.call_id}>"


current_context = CurrentContext()


_EMPTY_DICTS = frozenset({"annotations", "response_annotations"})


def _own_client_info(info: CallInfo | None) -> CallInfo:
    """Outside a served call: a copy of this context's own, so that tasks and threads that
    inherited the context do not change each other's correlation id or annotations."""
    old, info = info, CallInfo(b"", 0, "", "")
    if old is not None:
        info.correlation_id = old.correlation_id
        info.annotations = dict(old.annotations)
        info.response_annotations = old.response_annotations
    _current.set(info)
    return info


def note_response_annotations(annotations: dict[str, Any] | None) -> None:
    """A client's call came back: `current_context.response_annotations` is what it carried
    ({} when nothing), as in Pyro. Not while serving a call: there they are the method's own."""
    info = _current.get()
    if info is None:
        if not annotations:
            return  # the common case: nothing to note, nothing to clear
    elif info.object_id or (not annotations and not info.response_annotations):
        return
    _own_client_info(info).response_annotations = dict(annotations or {})


def enter(info: CallInfo) -> Token[CallInfo | None]:
    return _current.set(info)


def leave(token: Token[CallInfo | None]) -> None:
    _current.reset(token)
