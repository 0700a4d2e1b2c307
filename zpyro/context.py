"""``zpyro.current_context``: who is calling, inside a remote call.

Backed by a ContextVar rather than a thread-local, so it is right both in worker threads and in
asyncio tasks that serve ``async def`` methods.
"""

from __future__ import annotations

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
        "correlation_id",
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
        self.correlation_id: str | None = self.annotations.get("correlation_id")
        self.response_annotations: dict[str, Any] = {}  # a method fills it to send data back


_current: ContextVar[CallInfo | None] = ContextVar("zpyro_call", default=None)


WRITABLE = frozenset({"correlation_id", "response_annotations", "annotations"})


class CurrentContext:
    """The current call's facts; attributes are None outside a remote call.

    ``correlation_id``, ``annotations`` and ``response_annotations`` may also be set: in a client
    (outside any call) a correlation id set here travels with every call made from this thread
    or task, and with every nested call made while serving them.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name not in CallInfo.__slots__:
            raise AttributeError(name)
        info = _current.get()
        if info is None or (not info.object_id and name not in WRITABLE):
            return None  # outside a served call only what the client set itself is there
        return getattr(info, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in WRITABLE:
            raise AttributeError(f"current_context.{name} is read-only")
        info = _current.get()
        if info is None or not info.object_id:
            # outside a served call: a copy of this context's own, so that tasks and threads
            # that inherited the context do not change each other's correlation id
            old, info = info, CallInfo(b"", 0, "", "")
            if old is not None:
                info.correlation_id = old.correlation_id
                info.annotations = dict(old.annotations)
            _current.set(info)
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


def enter(info: CallInfo) -> Token[CallInfo | None]:
    return _current.set(info)


def leave(token: Token[CallInfo | None]) -> None:
    _current.reset(token)
