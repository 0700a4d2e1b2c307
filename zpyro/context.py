"""``zpyro.current_context``: who is calling, inside a remote call.

Backed by a ContextVar rather than a thread-local, so it is right both in worker threads and in
asyncio tasks that serve ``async def`` methods.

A served call's facts are read from what the daemon has at hand anyway (the decoded message,
the caller's identity): Pyro's ``seq``, ``msg_flags``, ``serializer_id``, ``client`` (Pyro's
``conn``) and ``client_sock_addr`` cost nothing until a method asks for them.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from typing import Any

from .errors import ZPyroError


class CallInfo:
    """Facts about the call being served."""

    __slots__ = (
        "client_id",
        "msg",
        "annotations",
        "client_key",
        "_correlation_id",
        "response_annotations",
        "clients",
    )

    def __init__(
        self,
        client_id: bytes,
        msg: Any = None,
        annotations: dict[str, Any] | None = None,
        client_key: bytes | None = None,
        clients: Any = None,
    ) -> None:
        self.client_id = client_id  # the caller's connection identity (opaque bytes)
        self.msg = msg  # the decoded CALL (a zpyro.wire.Message); None outside a served call
        self.annotations = annotations if annotations is not None else {}
        self.client_key = client_key  # the caller's CURVE public key, when CURVE is on
        # shared by a chain of nested calls (A->B->C); set it in a client to start a chain
        self._correlation_id: Any = self.annotations.get("correlation_id")
        self.response_annotations: dict[str, Any] = {}  # a method fills it to send data back
        self.clients = clients  # the daemon's zpyro.clients.Clients (Pyro's conn objects)

    # -- read from the message, only when asked -------------------------------------------------

    @property
    def call_id(self) -> int | None:
        return None if self.msg is None else int(self.msg.call_id)

    seq = call_id  # Pyro's name

    @property
    def object_id(self) -> str | None:
        return None if self.msg is None else str(self.msg.object_id)

    @property
    def method(self) -> str | None:
        return None if self.msg is None else str(self.msg.method)

    @property
    def msg_flags(self) -> int | None:
        """The call's wire flags (zpyro.message.FLAGS_*: oneway, batch, ...)."""
        return None if self.msg is None else int(self.msg.flags)

    @property
    def serializer_id(self) -> int | None:
        return None if self.msg is None else int(self.msg.serializer_id)

    @property
    def client(self) -> Any:
        """Pyro's ``conn``: the caller's connection (zpyro.clients.ClientConnection)."""
        if self.clients is None:
            return None
        return self.clients.connection(self.client_id)

    @property
    def client_sock_addr(self) -> Any:
        """The caller's address: (host, port) over tcp; None when not known (inproc, a caller
        through a broker)."""
        if self.clients is None:
            return None
        return self.clients.address(self.client_id)

    @property
    def correlation_id(self) -> Any:
        """The call chain's id. A served call whose caller sent none gets one (as in Pyro4,
        which makes one per call; here only when it is asked for, by the method or by a
        nested call that passes it on)."""
        cid = self._correlation_id
        if cid is None and self.msg is not None:
            cid = self._correlation_id = str(uuid.uuid4())
        return cid

    @correlation_id.setter
    def correlation_id(self, value: Any) -> None:
        self._correlation_id = value


_current: ContextVar[CallInfo | None] = ContextVar("zpyro_call", default=None)

READABLE = frozenset(
    {
        *CallInfo.__slots__,
        "correlation_id",
        "call_id",
        "seq",
        "object_id",
        "method",
        "msg_flags",
        "serializer_id",
        "client",
        "client_sock_addr",
    }
) - {"msg", "clients", "_correlation_id"}
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
        if info is None or (info.msg is None and name not in WRITABLE):
            # outside a served call only what the client set itself is there
            return {} if name in _EMPTY_DICTS else None
        return getattr(info, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in WRITABLE:
            raise AttributeError(f"current_context.{name} is read-only")
        info = _current.get()
        if info is None or info.msg is None:
            info = _own_client_info(info)
        setattr(info, name, value)

    @property
    def active(self) -> bool:
        """True while serving a remote call."""
        info = _current.get()
        return info is not None and info.msg is not None

    def track_resource(self, resource: Any) -> None:
        """Close `resource` (``resource.close()``) when the calling client goes away, unless
        untracked first. Weakly held, as in Pyro: keep it alive yourself."""
        clients, conn = self._connection("track")
        conn.tracked_resources.add(resource)
        clients.start_tracking()

    def untrack_resource(self, resource: Any) -> None:
        self._connection("untrack")[1].tracked_resources.discard(resource)

    def _connection(self, verb: str) -> tuple[Any, Any]:
        """The daemon's clients and the caller's conn (Pyro's) of the call being served."""
        info = _current.get()
        if info is not None and info.msg is not None:
            conn = info.client
            if conn is not None:
                return info.clients, conn
        raise ZPyroError(f"cannot {verb} a resource outside a call on a client connection")

    def to_global(self) -> dict[str, Any]:
        """This call's context as a dict, to carry into another thread (Pyro's to_global)."""
        info = _current.get()
        return {"info": info}

    def from_global(self, values: dict[str, Any]) -> None:
        """Take on a context captured with to_global() (in a thread the call started)."""
        _current.set(values.get("info"))

    def __repr__(self) -> str:
        info = _current.get()
        if info is None or info.msg is None:
            return "<zpyro.current_context: not in a call>"
        return f"<zpyro.current_context: {info.object_id}.{info.method} call {info.call_id}>"


current_context = CurrentContext()


_EMPTY_DICTS = frozenset({"annotations", "response_annotations"})


def _own_client_info(info: CallInfo | None) -> CallInfo:
    """Outside a served call: a copy of this context's own, so that tasks and threads that
    inherited the context do not change each other's correlation id or annotations."""
    old, info = info, CallInfo(b"")
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
    elif info.msg is not None or (not annotations and not info.response_annotations):
        return
    _own_client_info(info).response_annotations = dict(annotations or {})


def enter(info: CallInfo) -> Token[CallInfo | None]:
    return _current.set(info)


def leave(token: Token[CallInfo | None]) -> None:
    _current.reset(token)
