"""The zpyro exception tree, and remote errors as data.

::

    ZPyroError(Exception)                (alias: PyroError)
     ├── CommunicationError
     │    ├── ConnectionClosedError
     │    ├── TimeoutError          (also subclasses builtins.TimeoutError)
     │    ├── ProtocolError
     │    │    ├── SerializeError
     │    │    └── MessageTooLargeError
     │    ├── NotActiveError        (.active: "host:port" of the broker that is, or "")
     │    └── HandshakeError        (the daemon refused the connection's handshake)
     ├── NamingError
     ├── DaemonError
     ├── SecurityError
     └── RemoteError               (.remote_type: str, the remote exception's "module.QualName")

As in Pyro, ``SerializeError`` and ``MessageTooLargeError`` are protocol errors, so a ported
program's ``except CommunicationError`` catches them.

A remote exception travels as a plain dict (type name, message, simple args, traceback lines).
The receiver rebuilds a builtin exception, a zpyro error or an allow-listed class
(`register_exception`); anything else becomes `RemoteError`. It never imports a class the peer
names, so a peer cannot make us construct arbitrary objects.
"""

from __future__ import annotations

import builtins
import linecache
import sys
import traceback
from types import TracebackType
from typing import Any, TypeVar

__all__ = [
    "ZPyroError",
    "PyroError",
    "CommunicationError",
    "ConnectionClosedError",
    "TimeoutError",
    "ProtocolError",
    "NotActiveError",
    "HandshakeError",
    "NamingError",
    "DaemonError",
    "SecurityError",
    "SerializeError",
    "MessageTooLargeError",
    "RemoteError",
    "exception_to_payload",
    "payload_to_exception",
    "register_exception",
    "get_remote_traceback",
    "format_remote_traceback",
    "format_traceback",
    "get_pyro_traceback",
    "excepthook",
]


class ZPyroError(Exception):
    """Base of every zpyro error."""


PyroError = ZPyroError  # Pyro4/Pyro5 name, so ported code keeps its except clauses


class CommunicationError(ZPyroError):
    """Talking to the peer failed."""


class ConnectionClosedError(CommunicationError):
    """The connection went away while calls were in flight."""


class TimeoutError(CommunicationError, builtins.TimeoutError):
    """No reply in time; also a builtin TimeoutError so generic handlers catch it."""


class ProtocolError(CommunicationError):
    """The peer sent something that does not follow the protocol."""


class NotActiveError(CommunicationError):
    """A broker of a pair that is not the active one refused the call, which did not run.

    `active` is the location (``host:port``) of the active broker when the refusing one knows it,
    else ``""``. Proxies of a pair's URI (``PYRO:obj@h1:p1,h2:p2``) follow it by themselves.
    """

    def __init__(self, message: str = "", active: str = "") -> None:
        super().__init__(message, active)  # both in args: they travel, and are rebuilt, as data
        self.active = active

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class HandshakeError(CommunicationError):
    """The daemon refused this connection: its validateHandshake raised, or the connection made
    no handshake with a daemon that validates them."""


class NamingError(ZPyroError):
    """A name-server lookup or registration failed."""


class DaemonError(ZPyroError):
    """The daemon refused a request (unknown object, method, ...)."""


class SecurityError(ZPyroError):
    """Not allowed: unexposed member, refused serializer, failed authentication."""


class SerializeError(ProtocolError):
    """A value could not be serialized or deserialized."""


class MessageTooLargeError(ProtocolError):
    """A message exceeds the configured MAX_MESSAGE_SIZE."""


class RemoteError(ZPyroError):
    """A remote exception whose type we do not rebuild; `remote_type` names it."""

    def __init__(self, *args: object, remote_type: str = "") -> None:
        super().__init__(*args)
        self.remote_type = remote_type


# Classes a payload may name: our own tree (fixed) plus what the user allow-lists.
_OWN_CLASSES: dict[str, type[BaseException]] = {
    f"{__name__}.{cls.__qualname__}": cls
    for cls in (
        ZPyroError,
        CommunicationError,
        ConnectionClosedError,
        TimeoutError,
        ProtocolError,
        NotActiveError,
        HandshakeError,
        NamingError,
        DaemonError,
        SecurityError,
        SerializeError,
        MessageTooLargeError,
        RemoteError,
    )
}
_registered: dict[str, type[BaseException]] = {}

_SIMPLE_TYPES = (str, int, float, bool, type(None))
_TB_ATTR = "_pyroTraceback"
_HOP_MARKER = " +--- Remote traceback of the previous hop:\n"

_E = TypeVar("_E", bound=type[BaseException])


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not turn error reporting into another error
        return f"<unprintable {type(value).__qualname__}>"


def register_exception(cls: _E) -> _E:
    """Allow-list an exception class so peers' errors of that type are rebuilt as it."""
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise TypeError(f"not an exception class: {cls!r}")
    _registered[_type_name(cls)] = cls
    return cls


def get_remote_traceback(exc: BaseException) -> list[str]:
    """The remote traceback lines carried by `exc`; empty when it did not come from a peer."""
    lines = getattr(exc, _TB_ATTR, None)
    if isinstance(lines, list) and all(isinstance(line, str) for line in lines):
        return list(lines)
    return []


def _remote_block(exc: BaseException | None) -> list[str]:
    lines = get_remote_traceback(exc) if exc is not None else []
    if not lines:
        return []
    body = "".join(lines).rstrip("\n").split("\n")
    return [
        " +--- This exception occured remotely (zpyro) - Remote traceback:\n",
        *(f" | {line}\n" for line in body),
        " +--- End of remote traceback\n",
    ]


def format_remote_traceback(exc: BaseException) -> str:
    """The remote traceback as a printable block (Pyro4 layout); empty string when none."""
    return "".join(_remote_block(exc))


DETAILED = False  # config.DETAILED_TRACEBACK (the package keeps it in step with the config)
_MAX_REPR = 300  # characters of one local value in a detailed traceback


def format_traceback(
    ex_type: type[BaseException] | None = None,
    ex_value: BaseException | None = None,
    ex_tb: TracebackType | None = None,
    detailed: bool = False,
) -> list[str]:
    """Traceback lines of an exception (default: the one being handled); `detailed` adds the
    local variables of every frame (they may hold secrets: only for debugging)."""
    if ex_type is None and ex_value is None and ex_tb is None:
        ex_type, ex_value, ex_tb = sys.exc_info()
    if ex_value is None:
        return []
    ex_type = ex_type or type(ex_value)
    if not detailed:
        return traceback.format_exception(ex_type, ex_value, ex_tb)
    lines = ["Traceback with local values (most recent call last):\n"]
    for frame, lineno in traceback.walk_tb(ex_tb):
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
        source = linecache.getline(code.co_filename, lineno, frame.f_globals).strip()
        if source:
            lines.append(f"    {source}\n")
        lines.extend(
            f"      {name} = {_short_repr(value)}\n"
            for name, value in sorted(frame.f_locals.items())
        )
    lines.extend(traceback.format_exception_only(ex_type, ex_value))
    return lines


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break error reporting
        return f"<unrepresentable {type(value).__qualname__}>"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _traceback_lines(
    ex_type: type[BaseException] | None,
    ex_value: BaseException | None,
    ex_tb: TracebackType | None,
) -> list[str]:
    """Local traceback lines followed by the remote block, if any."""
    if ex_value is None:
        return []
    local = traceback.format_exception(ex_type or type(ex_value), ex_value, ex_tb)
    return local + _remote_block(ex_value)


def get_pyro_traceback(
    ex_type: type[BaseException] | BaseException | None = None,
    ex_value: BaseException | None = None,
    ex_tb: TracebackType | None = None,
) -> list[str]:
    """Local traceback lines plus the remote traceback of a zpyro error, for the exception
    being handled or the one given (Pyro's ``(type, value, tb)``, or just the exception).
    Pyro5's name; Pyro4's is ``util.getPyroTraceback``."""
    if isinstance(ex_type, BaseException):  # get_pyro_traceback(exc)
        ex_value, ex_tb = ex_type, ex_type.__traceback__
        ex_type = type(ex_value)
    elif ex_type is None and ex_value is None and ex_tb is None:
        ex_type, ex_value, ex_tb = sys.exc_info()
    return _traceback_lines(ex_type, ex_value, ex_tb)


def excepthook(
    ex_type: type[BaseException],
    ex_value: BaseException,
    ex_tb: TracebackType | None,
) -> None:
    """A sys.excepthook that also prints the remote traceback of zpyro errors."""
    sys.stderr.write("".join(_traceback_lines(ex_type, ex_value, ex_tb)))
    sys.stderr.flush()


def exception_to_payload(exc: BaseException, tb_lines: list[str] | None = None) -> dict[str, Any]:
    """Describe `exc` as plain data any serializer can carry."""
    raw = list(getattr(exc, "args", ()))
    if isinstance(exc, OSError) and len(raw) == 2 and exc.filename is not None:
        raw.append(exc.filename)  # OSError keeps the filename outside .args; the message needs it
    args = [a if type(a) in _SIMPLE_TYPES else repr(a) for a in raw]
    if tb_lines is None:
        tb_lines = format_traceback(type(exc), exc, exc.__traceback__, DETAILED)
    lines = [_safe_str(line) for line in tb_lines]
    previous = get_remote_traceback(exc)
    if previous:  # chained remote calls: keep every hop
        lines += [_HOP_MARKER, *previous]
    payload: dict[str, Any] = {
        "type": _type_name(type(exc)),
        "message": _safe_str(exc),
        "args": args,
        "traceback": lines,
    }
    if isinstance(exc, RemoteError):
        payload["remote_type"] = _safe_str(exc.remote_type)
    return payload


def _builtin_class(type_name: str) -> type[BaseException] | None:
    module, _, name = type_name.rpartition(".")
    if module != "builtins" or not name.isidentifier():
        return None
    cls = getattr(builtins, name, None)
    # Only Exception subclasses: a peer must not be able to raise SystemExit or
    # KeyboardInterrupt in us, which would slip past `except Exception` handlers.
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls
    return None


def _construct(cls: type[BaseException], args: list[Any], message: str) -> BaseException | None:
    for attempt in (args, [message]):
        try:
            return cls(*attempt)
        except Exception:
            continue
    return None


def _check_payload(payload: Any) -> tuple[str, str, list[Any], list[str]]:
    if not isinstance(payload, dict):
        raise ProtocolError(f"remote error payload is not a dict: {type(payload).__name__}")
    missing = [key for key in ("type", "message", "args", "traceback") if key not in payload]
    if missing:
        raise ProtocolError(f"remote error payload lacks {', '.join(missing)}")
    type_name, message, args, tb = (
        payload["type"],
        payload["message"],
        payload["args"],
        payload["traceback"],
    )
    if not isinstance(type_name, str) or not type_name:
        raise ProtocolError("remote error payload: 'type' must be a non-empty str")
    if not isinstance(message, str):
        raise ProtocolError("remote error payload: 'message' must be a str")
    if not isinstance(args, (list, tuple)):
        raise ProtocolError("remote error payload: 'args' must be a list")
    if not isinstance(tb, (list, tuple)) or not all(isinstance(line, str) for line in tb):
        raise ProtocolError("remote error payload: 'traceback' must be a list of str")
    return type_name, message, list(args), list(tb)


def payload_to_exception(payload: Any) -> BaseException:
    """Rebuild an exception from `exception_to_payload` data; bad data gives ProtocolError."""
    type_name, message, args, tb = _check_payload(payload)
    cls = _OWN_CLASSES.get(type_name) or _registered.get(type_name) or _builtin_class(type_name)
    exc = _construct(cls, args, message) if cls is not None else None
    if exc is None:
        exc = RemoteError(f"{type_name}: {message}", remote_type=type_name)
    elif isinstance(exc, RemoteError):
        remote_type = payload.get("remote_type")
        exc.remote_type = remote_type if isinstance(remote_type, str) else ""
    try:
        setattr(exc, _TB_ATTR, tb)
    except Exception:  # a registered class with __slots__ cannot carry it; keep the error itself
        pass
    return exc
