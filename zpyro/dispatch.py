"""One request in, one reply out: find the object, check exposure, invoke, capture errors.

No sockets here: the daemon's I/O code hands a decoded :class:`~zpyro.wire.Message` to
:meth:`Dispatcher.handle` and sends whatever frames come back. On the way out a result may
become a stream (generators), a proxy (objects registered in the same daemon: autoproxy) or
carry response annotations. An ``async def`` method's coroutine is handed to ``defer`` (the
daemon's event loop) and answered later, so it never ties up the calling thread.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from . import context, errors, wire
from .batch import read_calls
from .clients import Clients
from .config import NO_SIZE_LIMIT
from .exposure import is_callback, is_private, is_reachable_name, members_of
from .objects import ObjectRegistry
from .serializers import BY_ID, PREFERENCE, get_serializer
from .streams import StreamRegistry, is_stream
from .wire import DAEMON_OBJECT_ID, GETATTR, JSON_ID, SETATTR

log = logging.getLogger("zpyro.dispatch")
_enter = context.enter
_leave = context.leave

MAX_CLIENT_KEYS = 100_000  # CURVE keys remembered, one per connection identity
MAX_PLANS = 10_000  # (object id, method) lookups remembered
DEFERRED = object()  # handle()'s answer when the reply will come later (async def methods)

_PLAIN = frozenset({str, int, float, bool, type(None), bytes})

Finish = Callable[[Any, BaseException | None], "list[Any] | None"]
# defer(client, coroutine, finish): run the coroutine; then send finish(result, error) to client
Defer = Callable[[bytes, Coroutine[Any, Any, Any], Finish], None]


def _no_address(_client: bytes) -> None:
    return None


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
        make_proxy: Callable[[str], Any] | None = None,
        streams: StreamRegistry | None = None,
    ) -> None:
        self.registry = registry
        # a snapshot: changing config.SERIALIZERS_ACCEPTED later does not open a running daemon
        self.accepted_ids = frozenset(get_serializer(name).serializer_id for name in accepted)
        # in the daemon's order of preference (docs/PROTOCOL.md, "Agreeing on a serializer")
        self.accepted_names = tuple(n for n in PREFERENCE if n in accepted)
        self.require_expose = require_expose
        self.max_message_size = max_message_size
        self.oob_threshold = oob_threshold
        # How a coroutine is run to completion when it cannot be deferred (e.g. in a batch).
        self.run_coroutine = run_coroutine or asyncio.run
        self.defer: Defer | None = None  # set by a daemon that runs an event loop
        # object id -> a proxy for it: makes autoproxy possible (handed in: the client is a
        # layer above this one)
        self.make_proxy = make_proxy
        self.streams = streams  # None: generators are not streamed (ITER_STREAMING off)
        self.compress = False  # zlib-compress big replies (config COMPRESSION, set by the daemon)
        # What a call that wants no reply gets back, quiet_reply(client, msg): nothing, or from a
        # brokered daemon a DONE for its broker (the call's slot is freed), or from a direct
        # daemon now and then a CREDIT for the caller (zpyro.credit: room for more oneway calls).
        self.quiet_reply: Callable[[bytes, wire.Message], list[Any] | None] | None = None
        # The oneway credit this daemon grants each caller (metadata), None: none (brokered:
        # the broker grants it).
        self.credit_window: int | None = None
        # CURVE: connection identity -> the caller's public key (filled by remember_key)
        self.client_keys: dict[bytes, bytes] = {}
        # Pyro's conn objects (current_context.client); a daemon hands in its own
        self.clients = Clients(_no_address)
        # Pyro's Daemon.annotations() (added to every reply) and Pyro5's
        # methodcall_error_handler(daemon, client_sock_addr, method, args, kwargs, exc):
        # None unless a daemon has them
        self.annotations: Callable[[], dict[str, Any]] | None = None
        self.error_handler: Callable[[Any, Any, Any, Any, BaseException], None] | None = None
        self.gated = False  # a handshake is required (metadata tells proxies so)
        # (object id, method) -> (registry version, instance or class entry, is instance,
        # the class whose exposure was checked): see _target
        self._plans: dict[tuple[str, str], tuple[int, Any, bool, type]] = {}

    # -- metadata -------------------------------------------------------------------------------

    def metadata(self, object_id: str) -> dict[str, Any]:
        """What a proxy learns about an object when it connects."""
        cls = self.registry.target_class(object_id)
        if cls is None:
            raise errors.DaemonError(f"unknown object {object_id!r}")
        meta: dict[str, Any] = members_of(cls, self.require_expose).as_metadata()
        limit = self.max_message_size
        meta["max_message_size"] = limit if limit < NO_SIZE_LIMIT else 0  # 0: no limit
        # every proxy says goodbye when released: any call may leave something for its caller
        # (a session instance, a stream, a resource tracked with current_context, Pyro's conn
        # record), and the goodbye releases it at once (without it, only when the daemon sees
        # the connection close, which it may not be watching yet)
        meta["sessions"] = True
        if self.credit_window is not None:
            meta[wire.META_CREDIT] = self.credit_window
        meta["serializers"] = list(self.accepted_names)  # a proxy picks one of these
        if self.gated:
            meta["handshake"] = True
        return meta

    def is_coroutine(self, object_id: str, method: str) -> bool:
        cls = self.registry.target_class(object_id)
        return cls is not None and method in members_of(cls, self.require_expose).coroutines

    # -- serving --------------------------------------------------------------------------------

    def handle(self, client: bytes, msg: wire.Message) -> list[Any] | None | object:
        """Serve one CALL: the reply frames, None when no reply is due (oneway), or DEFERRED."""
        flags = msg.flags
        oneway = bool(flags & wire.FLAG_ONEWAY)
        silent = oneway and not flags & wire.FLAG_META  # nothing at all goes back
        ser_id = msg.serializer_id
        if ser_id not in self.accepted_ids:
            return self._refused_serializer(client, msg)
        serializer = BY_ID[ser_id]
        try:
            args, kwargs, annotations = self.unpack_call(serializer, msg, self.max_message_size)
            if flags & wire.FLAG_BATCH:
                obj = self.registry.resolve(msg.object_id, client)
                target = None
                if len(args) != 1:
                    raise errors.ProtocolError("a batch carries one argument: the calls")
                calls = read_calls(args[0])
            else:
                target = self._target(msg.object_id, msg.method, client, args)
        except Exception as exc:
            log.warning("bad call %s.%s from %s: %s", msg.object_id, msg.method, client.hex(), exc)
            return (
                self._quiet(client, msg) if silent else self.error_reply(msg.call_id, exc, ser_id)
            )
        key = self.client_keys.get(client) if self.client_keys else None
        info = context.CallInfo(client, msg, annotations, key, self.clients)
        token = _enter(info)
        try:
            if target is None:
                result = self._run_batch(obj, *calls)
            else:
                result = target(*args, **kwargs) if kwargs else target(*args)
                if type(result) not in _PLAIN and inspect.iscoroutine(result):
                    coro = _in_context(info, result)
                    if self.defer is not None:
                        finish = functools.partial(
                            self._finish, msg, info, target, silent, args, kwargs
                        )
                        self.defer(client, coro, finish)
                        return DEFERRED
                    result = self.run_coroutine(coro)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # also SystemExit, CancelledError: the caller gets an answer
            self._log_call_error(msg, target, exc)
            if self.error_handler is not None:
                self._report_error(info, target, args, kwargs, exc)
            return (
                self._quiet(client, msg) if silent else self.error_reply(msg.call_id, exc, ser_id)
            )
        finally:
            _leave(token)
        if silent:
            return self._quiet(client, msg)
        if (
            not flags
            and type(result) in _PLAIN
            and not info.response_annotations
            and self.annotations is None
        ):
            # the common reply: a plain value, nothing to stream, proxy, annotate or wrap
            try:
                payload, buffers = serializer.dumps(result, self.oob_threshold)
            except Exception:
                pass  # (the general path below reports it)
            else:
                if not buffers:
                    return wire.reply_frames(wire.RESULT, 0, ser_id, msg.call_id, payload)
        return self.result_reply(msg, info, None if oneway else result)

    def _target(self, object_id: str, method: str, client: bytes, args: Any) -> Any:
        """The callable that serves ``object_id.method`` for `client` (exposure checked).

        What the lookup found is remembered per (object id, method) until the registry
        changes: the object or class entry, and the class whose exposure was checked.
        """
        registry = self.registry
        plan = self._plans.get((object_id, method))
        if plan is not None and plan[0] == registry.version:
            obj = plan[1] if plan[2] else plan[1].instance_for(client)
            if type(obj) is plan[3]:
                return getattr(obj, method)
        found = registry.entry(object_id)
        obj = registry.resolve(object_id, client)
        target = self._find(obj, method, args)
        if found is not None and method != GETATTR and method != SETATTR:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[(object_id, method)] = (registry.version, found[0], found[1], type(obj))
        return target

    def _finish(
        self,
        msg: wire.Message,
        info: context.CallInfo,
        target: Any,
        silent: bool,
        args: Any,
        kwargs: dict[str, Any],
        result: Any,
        exc: BaseException | None,
    ) -> list[Any] | None:
        """The reply of a deferred (async def) call, once its coroutine is done."""
        if exc is not None:
            self._log_call_error(msg, target, exc)
            if self.error_handler is not None:
                self._report_error(info, target, args, kwargs, exc)
            return (
                self._quiet(info.client_id, msg)
                if silent
                else self.error_reply(msg.call_id, exc, msg.serializer_id)
            )
        if silent:
            return self._quiet(info.client_id, msg)
        return self.result_reply(msg, info, None if msg.flags & wire.FLAG_ONEWAY else result)

    def remember_key(self, client: bytes, key: bytes) -> None:
        """Note a caller's CURVE key for current_context; bounded, the oldest goes first."""
        keys = self.client_keys
        if keys.get(client) != key:
            if len(keys) >= MAX_CLIENT_KEYS:
                del keys[next(iter(keys))]
            keys[client] = key

    def _quiet(self, client: bytes, msg: wire.Message) -> list[Any] | None:
        return None if self.quiet_reply is None else self.quiet_reply(client, msg)

    def result_reply(
        self, msg: wire.Message, info: context.CallInfo | None, result: Any
    ) -> list[Any]:
        """RESULT frames: the value (streamed, autoproxied) wrapped with metadata/annotations."""
        flags = 0
        try:
            if self.streams is not None and is_stream(result):
                result = self.streams.open(result, info.client_id if info else b"")
                flags |= wire.FLAG_STREAM
            if self.make_proxy is not None and type(result) not in _PLAIN:
                result = self._autoproxy(result)
            if msg.flags & wire.FLAG_META:
                result = [result, self.metadata(msg.object_id)]
                flags |= wire.FLAG_META
            annotations = None if info is None else info.response_annotations
            if self.annotations is not None:
                annotations = {**self.annotations(), **(annotations or {})}
            if annotations:
                result = [result, annotations]
                flags |= wire.FLAG_ANNOTATED
            if msg.flags & wire.FLAG_BATCH:
                flags |= wire.FLAG_BATCH
            payload, buffers = BY_ID[msg.serializer_id].dumps(result, self.oob_threshold)
        except Exception as exc:
            log.warning("cannot serialize the result of %s.%s: %s", msg.object_id, msg.method, exc)
            return self.error_reply(msg.call_id, exc, msg.serializer_id)
        if self.compress and msg.flags & wire.FLAG_INFLATES and len(payload) >= wire.COMPRESS_MIN:
            compressed = wire.compress(payload)
            if compressed is not None:
                payload = compressed
                flags |= wire.FLAG_COMPRESSED
        return wire.encode(
            wire.RESULT, flags, msg.serializer_id, msg.call_id, "", "", payload, buffers
        )

    def error_reply(
        self, call_id: int, exc: BaseException, serializer_id: int = JSON_ID, flags: int = 0
    ) -> list[Any]:
        """An ERROR message carrying `exc` as data, in the caller's serializer when accepted.
        (`flags` FLAG_ONEWAY: a notice about a oneway call that could not be run.)"""
        if serializer_id not in self.accepted_ids:
            serializer_id = JSON_ID
        body = errors.exception_to_payload(exc)
        try:
            payload, _ = BY_ID[serializer_id].dumps(body)
        except Exception:
            serializer_id = JSON_ID
            payload, _ = BY_ID[JSON_ID].dumps(body)
        return wire.encode(wire.ERROR, flags, serializer_id, call_id, "", "", payload)

    # -- helpers --------------------------------------------------------------------------------

    def _run_batch(
        self,
        obj: Any,
        count: int,
        methods: Any,
        arity: Any,
        arguments: Any,
        keywords: dict[int, dict[str, Any]],
    ) -> list[Any]:
        """Run a batch's calls in order: ``[values, error]``; the first error ends the batch."""
        values: list[Any] = []
        append = values.append
        one_method = type(methods) is str
        one_arity = type(arity) is int
        found: dict[Any, Callable[..., Any]] = {}  # method name -> target, looked up once
        name: Any = methods
        start = 0
        try:
            for index in range(count):
                if not one_method:
                    name = methods[index]
                width = arity if one_arity else arity[index]
                args = arguments[start : start + width]
                start += width
                target = found.get(name)
                if target is None:
                    target = self._find(obj, name, args)
                    if name != GETATTR and name != SETATTR:  # their target depends on args
                        found[name] = target
                if keywords and index in keywords:
                    value = target(*args, **keywords[index])
                else:
                    value = target(*args)
                if type(value) not in _PLAIN and inspect.iscoroutine(value):
                    value = self.run_coroutine(value)
                append(value)
        except Exception as exc:
            log.warning(
                "batched call %d (%r) raised %s: %s", len(values), name, type(exc).__name__, exc
            )
            if self.error_handler is not None:
                self._report_error(None, name, args, keywords.get(len(values), {}), exc)
            return [values, errors.exception_to_payload(exc)]
        return [values, None]

    def _autoproxy(self, value: Any) -> Any:
        """Objects registered in this daemon travel as proxies to them (also inside containers)."""
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is list or kind is tuple:
            if _PLAIN.issuperset(map(type, value)):  # C-level scan: 2000 ints stay as they are
                return value
            items = [self._autoproxy(v) for v in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else kind(items)
        if kind is dict:
            fixed = {k: self._autoproxy(v) for k, v in value.items()}
            return value if all(fixed[k] is v for k, v in value.items()) else fixed
        object_id = self.registry.id_of_instance(value)
        if object_id is None or object_id == DAEMON_OBJECT_ID:
            return value
        assert self.make_proxy is not None
        return self.make_proxy(object_id)

    def _refused_serializer(self, client: bytes, msg: wire.Message) -> list[Any] | None:
        known = BY_ID.get(msg.serializer_id)
        name = known.name if known else f"id {msg.serializer_id}"
        exc = errors.SerializeError(
            f"serializer {name} is not accepted by this daemon "
            f"(accepted: {', '.join(sorted(BY_ID[i].name for i in self.accepted_ids))})"
        )
        log.warning("refused call %s.%s: %s", msg.object_id, msg.method, exc)
        if msg.flags & wire.FLAG_ONEWAY and not msg.flags & wire.FLAG_META:
            return self._quiet(client, msg)
        return self.error_reply(msg.call_id, exc, JSON_ID)

    @staticmethod
    def unpack_call(
        serializer: Any, msg: wire.Message, limit: int = NO_SIZE_LIMIT
    ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        payload = msg.payload
        if msg.flags & wire.FLAG_COMPRESSED:  # inflated to at most `limit` bytes
            payload = wire.decompress(payload, limit)
        body = serializer.loads(payload, msg.buffers)
        annotations: Any = {}
        try:
            if msg.flags & wire.FLAG_ANNOTATED:
                args, kwargs, annotations = body
            else:
                args, kwargs = body
        except (TypeError, ValueError):
            raise errors.ProtocolError(
                "call payload is not [args, kwargs(, annotations)]"
            ) from None
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise errors.ProtocolError("call payload is not [args, kwargs]")
        if not isinstance(annotations, dict):
            raise errors.ProtocolError("call annotations must be a dict")
        if kwargs and not all(isinstance(k, str) for k in kwargs):
            raise errors.ProtocolError("keyword argument names must be strings")
        return args, kwargs, annotations

    def _find(self, obj: Any, method: str, args: Any) -> Callable[..., Any]:
        members = members_of(obj, self.require_expose)
        if method in (GETATTR, SETATTR):
            name = args[0] if args else None
            if not isinstance(name, str) or is_private(name) or name not in members.attrs:
                raise AttributeError(f"no exposed attribute {name!r} on {type(obj).__name__}")
            if method == SETATTR and name not in members.writable_attrs:
                raise AttributeError(f"attribute {name!r} of {type(obj).__name__} is read-only")
            return functools.partial(getattr if method == GETATTR else setattr, obj)
        if (
            not isinstance(method, str)
            or not is_reachable_name(method)
            or method not in members.methods
        ):
            raise AttributeError(f"no exposed method {method!r} on {type(obj).__name__}")
        found: Callable[..., Any] = getattr(obj, method)
        return found

    def _report_error(
        self,
        info: context.CallInfo | None,
        method: Any,
        args: Any,
        kwargs: dict[str, Any],
        exc: BaseException,
    ) -> None:
        """Pyro5's methodcall_error_handler(daemon, client_sock_addr, method, args, kwargs, exc);
        its own failure is logged, never sent to the caller in place of the method's error."""
        if self.error_handler is None or not isinstance(exc, Exception):
            return
        info = info or context._current.get()
        address = info.client_sock_addr if info is not None else None
        try:
            self.error_handler(address, method, args, kwargs, exc)
        except Exception:
            log.exception("methodcall_error_handler raised")

    def _log_call_error(self, msg: wire.Message, target: Any, exc: BaseException) -> None:
        if is_callback(target):
            log.error("exception in callback %s.%s", msg.object_id, msg.method, exc_info=exc)
        else:
            log.warning("%s.%s raised %s: %s", msg.object_id, msg.method, type(exc).__name__, exc)
            log.debug("traceback", exc_info=exc)


async def _in_context(info: context.CallInfo, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a served coroutine with its call's current_context, wherever the loop is."""
    token = context.enter(info)
    try:
        return await coro
    finally:
        context.leave(token)
