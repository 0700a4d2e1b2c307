"""What a request asks and how answers look, as Pyro's HTTP gateway has them. No I/O.

Request: ``/pyro/<name>/<method>``; parameters from the query string, a form body or a JSON body
``{"args": [...], "kwargs": {...}}``; headers ``X-Pyro-Options`` (``oneway``),
``X-Pyro-Gateway-Key`` (or ``$key=`` in the query), ``X-Pyro-Correlation-Id``.
Answer: the JSON of the result, or Pyro's JSON of an exception::

    {"__class__": "builtins.ValueError", "__exception__": true, "args": ["..."],
     "attributes": {"_pyroTraceback": ["Traceback ...", ...]}}

Bad input raises :class:`Problem` with the status to answer (400, 403, 413, 415).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import enum
import hmac
import json
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from zpyro import errors
from zpyro.client import Proxy
from zpyro.uri import URI

DEFAULT_EXPOSE = r"http\."  # Pyro's default: only names starting with "http." (never Pyro.*)
DEFAULT_MAX_BODY = 1 << 20  # 1 MiB of request body; more is answered 413
MAX_FIELDS = 1000  # query/form parameters per request
OPTIONS = frozenset({"oneway"})  # what X-Pyro-Options may say
KEY_PARAM = "$key"
_CORRELATION = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TEXT_CHARSETS = frozenset({"", "utf-8", "utf8", "us-ascii", "ascii"})


class Problem(Exception):
    """An answer other than 200: `status` and the exception its JSON body describes."""

    def __init__(self, status: int, error: BaseException) -> None:
        super().__init__(status, error)
        self.status = status
        self.error = error


def bad_request(why: str) -> Problem:
    return Problem(400, ValueError(why))


# -- the request ----------------------------------------------------------------------------------


def check_key(expected: str | None, header: str | None, query_key: str | None) -> None:
    """403 unless the request carries the gateway key (header first, then ``$key=``)."""
    if not expected:
        return
    given = header or query_key or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Problem(403, errors.SecurityError("incorrect gateway key"))


def options(header: str | None) -> frozenset[str]:
    """The X-Pyro-Options words; an unknown one is refused (never ignored)."""
    words = frozenset(w.strip().lower() for w in (header or "").split(",") if w.strip())
    unknown = words - OPTIONS
    if unknown:
        raise bad_request(f"unsupported X-Pyro-Options: {', '.join(sorted(unknown))}")
    return words


def correlation_id(header: str | None) -> str:
    """The request's X-Pyro-Correlation-Id (a UUID or similar token), or a new UUID."""
    if not header:
        return str(uuid.uuid4())
    if not _CORRELATION.fullmatch(header):
        raise bad_request("X-Pyro-Correlation-Id must be 1-128 letters, digits or ._:-")
    return header


def query_parameters(raw: bytes) -> dict[str, Any]:
    """Parameters of a query string or form body: a name given twice gets a list (as Pyro)."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise bad_request("parameters are not valid UTF-8 (after %-decoding)") from None
    except ValueError as exc:  # too many fields
        raise bad_request(f"malformed parameters: {exc}") from None
    params: dict[str, Any] = {}
    for name, value in pairs:
        if name != KEY_PARAM and not name.isidentifier():
            raise bad_request(f"parameter name {name!r} is not a valid argument name")
        if name in params:
            old = params[name]
            params[name] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            params[name] = value
    return params


def media_type(content_type: str | None) -> tuple[str, str]:
    """(type, charset) of a Content-Type header, lower case; charsets other than UTF-8 -> 415."""
    kind, _, rest = (content_type or "").partition(";")
    charset = ""
    for part in rest.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            charset = value.strip().strip('"').lower()
    if charset not in _TEXT_CHARSETS:
        raise Problem(415, ValueError(f"unsupported charset {charset!r}: send UTF-8"))
    return kind.strip().lower(), charset


def check_encoding(content_encoding: str | None) -> None:
    """Bodies are taken as sent: a compressed (or otherwise encoded) one is refused with 415."""
    if content_encoding and content_encoding.strip().lower() != "identity":
        raise Problem(415, ValueError(f"unsupported Content-Encoding {content_encoding!r}"))


def body_arguments(kind: str, body: bytes) -> tuple[list[Any], dict[str, Any]]:
    """(args, kwargs) from a POST body of media type `kind` (empty body: none)."""
    if not body.strip():
        return [], {}
    if kind == "application/x-www-form-urlencoded":
        return [], query_parameters(body)
    if kind == "application/json" or kind.endswith("+json"):
        return json_arguments(body)
    raise Problem(
        415,
        ValueError(
            f"unsupported body type {kind or '(none)'!r}: send application/json "
            '({"args": [...], "kwargs": {...}}) or application/x-www-form-urlencoded'
        ),
    )


def json_arguments(body: bytes) -> tuple[list[Any], dict[str, Any]]:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise bad_request('a JSON body must be an object: {"args": [...], "kwargs": {...}}')
    extra = set(doc) - {"args", "kwargs"}
    if extra:
        raise bad_request(f"unknown keys in the JSON body: {', '.join(sorted(extra))}")
    args, kwargs = doc.get("args", []), doc.get("kwargs", {})
    if not isinstance(args, list):
        raise bad_request('"args" must be a list')
    if not isinstance(kwargs, dict) or not all(
        isinstance(k, str) and k.isidentifier() for k in kwargs
    ):
        raise bad_request('"kwargs" must be an object whose keys are argument names')
    return args, kwargs


def merge_kwargs(query: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    both = set(query) & set(body)
    if both:
        raise bad_request(f"parameters given twice (query and body): {', '.join(sorted(both))}")
    return {**query, **body}


def check_exposed(pattern: re.Pattern[str] | None, name: str) -> None:
    if pattern is not None and not pattern.match(name):
        raise Problem(
            403, errors.SecurityError(f"access to {name!r} is denied (not exposed by the gateway)")
        )


# -- the answer -----------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    """JSON for what json does not know: the forms serpent/Pyro users see."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"data": base64.b64encode(value).decode("ascii"), "encoding": "base64"}
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, URI):
        return str(value)
    if isinstance(value, Proxy):
        return {"__class__": "zpyro.Proxy", "uri": str(value._pyroUri)}
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"a {type(value).__qualname__} has no JSON form")


def _finite(value: Any) -> Any:
    """NaN and the infinities as strings: JSON has no such numbers (browsers refuse them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False
).encode


def to_json(value: Any) -> bytes:
    """The HTTP body for a result (UTF-8 JSON)."""
    try:
        return _encode(value).encode("utf-8")
    except ValueError:  # a NaN or infinity somewhere: the slow path, only then
        return _encode(_finite(value)).encode("utf-8")


def error_json(error: BaseException) -> dict[str, Any]:
    """Pyro's JSON form of an exception, with the remote traceback when there is one."""
    if isinstance(error, errors.RemoteError) and error.remote_type:
        type_name = error.remote_type
        message = str(error)
        args: list[Any] = [message.removeprefix(f"{type_name}: ")]
    else:
        cls = _public_class(type(error))
        type_name = f"{cls.__module__}.{cls.__qualname__}"
        args = [
            a if isinstance(a, (str, int, float, bool, type(None))) else repr(a) for a in error.args
        ]
    lines = errors.get_remote_traceback(error)
    return {
        "__class__": type_name,
        "__exception__": True,
        "args": args,
        "attributes": {"_pyroTraceback": lines} if lines else {},
    }


def _public_class(cls: type) -> type:
    """zpyro's internal error subclasses (a stale connection, a gateway not ready yet) are shown
    as the documented class they belong to, from ``zpyro.errors``."""
    if cls.__module__ == "builtins" or not issubclass(cls, errors.ZPyroError):
        return cls
    for base in cls.__mro__:
        if base.__module__ == errors.__name__:
            return base
    return cls  # pragma: no cover - every ZPyroError has one


def status_of(error: BaseException) -> int:
    """The HTTP status for an error that ended a call."""
    if isinstance(error, Problem):
        return error.status
    if isinstance(error, errors.TimeoutError):
        return 504
    if isinstance(error, errors.MessageTooLargeError):  # (a ProtocolError, as in Pyro)
        return 413
    if isinstance(error, errors.SerializeError):  # (likewise): what was sent or returned
        return 500
    if isinstance(error, errors.CommunicationError):
        return 503  # the name server, the broker, the pool or the daemon cannot be reached
    if isinstance(error, errors.DaemonError) and str(error).startswith(
        ("broker busy", "unknown object")
    ):
        return 503  # the pool is full, or its last daemon just left
    return 500


def meta_json(methods: set[str], attrs: set[str], oneway: set[str]) -> dict[str, Any]:
    """``$meta``: Pyro's two lists, plus which methods are oneway."""
    return {
        "methods": sorted(methods),
        "attributes": sorted(attrs),
        "oneway": sorted(oneway & methods),
    }
