"""One request in, one reply out: find the object, check exposure, invoke, capture errors.

No sockets here: the daemon's I/O code hands a decoded :class:`~zpyro.wire.Message` to
:meth:`Dispatcher.handle` and sends whatever frames come back.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from . import context, errors, wire
from .exposure import is_callback, is_private, members_of
from .objects import ObjectRegistry
from .serializers import BY_ID, get_serializer

log = logging.getLogger("zpyro.dispatch")

DAEMON_OBJECT_ID = "Pyro.Daemon"
JSON_ID = get_serializer("json").serializer_id

# Method names a proxy uses to read and write exposed properties.
GETATTR = "__getattr__"
SETATTR = "__setattr__"


class Dispatcher:
    """Serves calls on the objects of one registry, under one daemon's settings."""

    def __init__(
        self,
        registry: ObjectRegistry,
        accepted: frozenset[str] | set[str],
        require_expose: bool,
        max_message_size: int,
        oob_threshold: int,
        run_coroutine: Callable[[Any], Any] | None = None,
    ) -> None:
        self.registry = registry
        self.accepted_ids = frozenset(get_serializer(name).serializer_id for name in accepted)
        self.require_expose = require_expose
        self.max_message_size = max_message_size
        self.oob_threshold = oob_threshold
        # How a coroutine returned by an `async def` method is run to completion.
        self.run_coroutine = run_coroutine or asyncio.run

    # -- metadata -------------------------------------------------------------------------------

    def metadata(self, object_id: str) -> dict[str, Any]:
        """What a proxy learns about an object when it connects."""
        cls = self.registry.target_class(object_id)
        if cls is None:
            raise errors.DaemonError(f"unknown object {object_id!r}")
        meta: dict[str, Any] = members_of(cls, self.require_expose).as_metadata()
        meta["max_message_size"] = self.max_message_size
        return meta

    def is_coroutine(self, object_id: str, method: str) -> bool:
        cls = self.registry.target_class(object_id)
        return cls is not None and method in members_of(cls, self.require_expose).coroutines

    # -- serving --------------------------------------------------------------------------------

    def handle(self, client: bytes, msg: wire.Message) -> list[Any] | None:
        """Serve one CALL message; the reply frames, or None when no reply is due (oneway)."""
        oneway = bool(msg.flags & wire.FLAG_ONEWAY)
        want_meta = bool(msg.flags & wire.FLAG_META)
        ser_id = msg.serializer_id
        if ser_id not in self.accepted_ids:
            return self._refused_serializer(msg)
        serializer = BY_ID[ser_id]
        try:
            args, kwargs = self._unpack_call(serializer, msg)
            obj = self.registry.resolve(msg.object_id, client)
            target = self._find(obj, msg.method, args)
        except Exception as exc:
            log.warning("bad call %s.%s from %s: %s", msg.object_id, msg.method, client.hex(), exc)
            return None if oneway and not want_meta else self.error_reply(msg.call_id, exc, ser_id)
        token = context.enter(context.CallInfo(client, msg.call_id, msg.object_id, msg.method))
        try:
            result = target(*args, **kwargs)
            if inspect.iscoroutine(result):
                result = self.run_coroutine(result)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # also SystemExit, CancelledError: the caller gets an answer
            self._log_call_error(msg, target, exc)
            if oneway and not want_meta:
                return None
            return self.error_reply(msg.call_id, exc, ser_id)
        finally:
            context.leave(token)
        if oneway:
            result = None
            if not want_meta:
                return None
        return self.result_reply(msg, result, want_meta)

    def result_reply(self, msg: wire.Message, result: Any, want_meta: bool = False) -> list[Any]:
        serializer = BY_ID[msg.serializer_id]
        flags = 0
        if want_meta:
            result = [result, self.metadata(msg.object_id)]
            flags = wire.FLAG_META
        try:
            payload, buffers = serializer.dumps(result, self.oob_threshold)
        except Exception as exc:
            log.warning("cannot serialize the result of %s.%s: %s", msg.object_id, msg.method, exc)
            return self.error_reply(msg.call_id, exc, msg.serializer_id)
        return wire.encode(
            wire.RESULT, flags, msg.serializer_id, msg.call_id, "", "", payload, buffers
        )

    def error_reply(
        self, call_id: int, exc: BaseException, serializer_id: int = JSON_ID
    ) -> list[Any]:
        """An ERROR message carrying `exc` as data, in the caller's serializer when accepted."""
        if serializer_id not in self.accepted_ids:
            serializer_id = JSON_ID
        body = errors.exception_to_payload(exc)
        try:
            payload, _ = BY_ID[serializer_id].dumps(body)
        except Exception:
            serializer_id = JSON_ID
            payload, _ = BY_ID[JSON_ID].dumps(body)
        return wire.encode(wire.ERROR, 0, serializer_id, call_id, "", "", payload)

    # -- helpers --------------------------------------------------------------------------------

    def _refused_serializer(self, msg: wire.Message) -> list[Any] | None:
        known = BY_ID.get(msg.serializer_id)
        name = known.name if known else f"id {msg.serializer_id}"
        exc = errors.SerializeError(
            f"serializer {name} is not accepted by this daemon "
            f"(accepted: {', '.join(sorted(BY_ID[i].name for i in self.accepted_ids))})"
        )
        log.warning("refused call %s.%s: %s", msg.object_id, msg.method, exc)
        if msg.flags & wire.FLAG_ONEWAY and not msg.flags & wire.FLAG_META:
            return None
        return self.error_reply(msg.call_id, exc, JSON_ID)

    @staticmethod
    def _unpack_call(serializer: Any, msg: wire.Message) -> tuple[Any, dict[str, Any]]:
        body = serializer.loads(msg.payload, msg.buffers)
        try:
            args, kwargs = body
        except (TypeError, ValueError):
            raise errors.ProtocolError("call payload is not [args, kwargs]") from None
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise errors.ProtocolError("call payload is not [args, kwargs]")
        if kwargs and not all(isinstance(k, str) for k in kwargs):
            raise errors.ProtocolError("keyword argument names must be strings")
        return args, kwargs

    def _find(self, obj: Any, method: str, args: Any) -> Callable[..., Any]:
        members = members_of(obj, self.require_expose)
        if method in (GETATTR, SETATTR):
            name = args[0] if args else None
            if not isinstance(name, str) or is_private(name) or name not in members.attrs:
                raise AttributeError(f"no exposed attribute {name!r} on {type(obj).__name__}")
            if method == SETATTR and name not in members.writable_attrs:
                raise AttributeError(f"attribute {name!r} of {type(obj).__name__} is read-only")
            return functools.partial(getattr if method == GETATTR else setattr, obj)
        if is_private(method) or method not in members.methods:
            raise AttributeError(f"no exposed method {method!r} on {type(obj).__name__}")
        return getattr(obj, method)  # type: ignore[no-any-return]

    def _log_call_error(self, msg: wire.Message, target: Any, exc: BaseException) -> None:
        if is_callback(target):
            log.error("exception in callback %s.%s", msg.object_id, msg.method, exc_info=exc)
        else:
            log.warning("%s.%s raised %s: %s", msg.object_id, msg.method, type(exc).__name__, exc)
            log.debug("traceback", exc_info=exc)
