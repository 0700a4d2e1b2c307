"""Dispatcher.handle: one CALL message in, reply frames out; no sockets."""

from __future__ import annotations

import asyncio
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zpyro
from zpyro import errors, wire
from zpyro.dispatch import Dispatcher
from zpyro.objects import ObjectRegistry
from zpyro.serializers import BY_ID, get_serializer

pytestmark = pytest.mark.timeout(30)

CLIENT = b"client-1"
DEFAULT_ACCEPTED = {"serpent", "json", "msgpack"}
MAX_SIZE = 1 << 30


def make_dispatcher(accepted: set[str] | None = None, require_expose: bool = True) -> Dispatcher:
    return Dispatcher(
        ObjectRegistry(), accepted or set(DEFAULT_ACCEPTED), require_expose, MAX_SIZE, 32768
    )


def call(
    object_id: str,
    method: str,
    args: Any = (),
    kwargs: dict[str, Any] | None = None,
    serializer: str = "serpent",
    flags: int = 0,
    call_id: int = 7,
) -> wire.Message:
    ser = get_serializer(serializer)
    payload, buffers = ser.dumps([list(args), kwargs or {}])
    frames = wire.encode(
        wire.CALL, flags, ser.serializer_id, call_id, object_id, method, payload, buffers
    )
    return wire.decode(frames)


def raw_call(
    object_id: str,
    method: str,
    serializer_id: int,
    payload: bytes,
    flags: int = 0,
    call_id: int = 7,
) -> wire.Message:
    return wire.decode(
        wire.encode(wire.CALL, flags, serializer_id, call_id, object_id, method, payload)
    )


def reply(frames: list[Any] | None) -> tuple[wire.Message, Any]:
    assert frames is not None, "a reply was expected"
    msg = wire.decode(frames)
    body = BY_ID[msg.serializer_id].loads(msg.payload, msg.buffers)
    return msg, body


def result_of(frames: list[Any] | None, call_id: int = 7) -> Any:
    msg, body = reply(frames)
    assert msg.kind == wire.RESULT, f"expected RESULT, got {msg!r}: {body!r}"
    assert msg.call_id == call_id
    return body


def error_of(frames: list[Any] | None, call_id: int = 7) -> BaseException:
    msg, body = reply(frames)
    assert msg.kind == wire.ERROR, f"expected ERROR, got {msg!r}: {body!r}"
    assert msg.call_id == call_id
    return errors.payload_to_exception(body)


@zpyro.expose
class Calc:
    def __init__(self) -> None:
        self._motto = "initial"
        self.seen_context: dict[str, Any] = {}
        self.fired: list[Any] = []

    def add(self, a: int, b: int = 0) -> int:
        return a + b

    def echo(self, *args: Any, **kwargs: Any) -> Any:
        return [list(args), kwargs]

    def fail(self, text: str) -> None:
        raise ValueError(text)

    def context(self) -> dict[str, Any]:
        ctx = zpyro.current_context
        self.seen_context = {
            "active": ctx.active,
            "client": ctx.client_id,
            "call_id": ctx.call_id,
            "object_id": ctx.object_id,
            "method": ctx.method,
        }
        return {"call_id": ctx.call_id, "method": ctx.method}

    @zpyro.oneway
    def fire(self, value: Any) -> int:
        self.fired.append(value)
        return 99

    def unserializable(self) -> Any:
        return Opaque()

    async def later(self, x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    async def async_context(self) -> list[Any]:
        await asyncio.sleep(0)
        ctx = zpyro.current_context
        return [ctx.client_id, ctx.call_id, ctx.object_id, ctx.method]

    async def cancelled(self) -> None:
        # an awaited operation that gets cancelled: CancelledError is a BaseException
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter.cancel()
        await waiter

    @property
    def motto(self) -> str:
        return self._motto

    @motto.setter
    def motto(self, value: str) -> None:
        self._motto = value

    @property
    def readonly(self) -> int:
        return 42

    def _secret(self) -> str:
        return "secret"


class Opaque:
    def __init__(self) -> None:
        self.x = 1


@pytest.fixture
def disp() -> Dispatcher:
    return make_dispatcher()


@pytest.fixture
def calc(disp: Dispatcher) -> Calc:
    obj = Calc()
    disp.registry.add(obj, "calc")
    return obj


# -- results ------------------------------------------------------------------------------------


@pytest.mark.parametrize("serializer", sorted(DEFAULT_ACCEPTED))
def test_result_with_each_serializer(disp: Dispatcher, calc: Calc, serializer: str) -> None:
    frames = disp.handle(CLIENT, call("calc", "add", [2, 3], serializer=serializer, call_id=123456))
    msg, body = reply(frames)
    assert msg.kind == wire.RESULT
    assert msg.serializer_id == get_serializer(serializer).serializer_id
    assert msg.call_id == 123456
    assert msg.flags == 0
    assert body == 5


@pytest.mark.parametrize("serializer", sorted(DEFAULT_ACCEPTED))
def test_args_and_kwargs_arrive(disp: Dispatcher, calc: Calc, serializer: str) -> None:
    frames = disp.handle(
        CLIENT, call("calc", "echo", [1, "two"], {"k": b"bytes"}, serializer=serializer)
    )
    assert result_of(frames) == [[1, "two"], {"k": b"bytes"}]
    frames = disp.handle(CLIENT, call("calc", "add", [10], {"b": 5}, serializer=serializer))
    assert result_of(frames) == 15


def test_large_bytes_result_goes_out_of_band(disp: Dispatcher, calc: Calc) -> None:
    big = b"z" * 100_000
    frames = disp.handle(CLIENT, call("calc", "echo", [big]))
    assert frames is not None and len(frames) > 3  # a buffer frame
    assert result_of(frames) == [[big], {}]


# -- errors raised by the method ----------------------------------------------------------------


@pytest.mark.parametrize("serializer", sorted(DEFAULT_ACCEPTED))
def test_method_error_gives_error_reply(disp: Dispatcher, calc: Calc, serializer: str) -> None:
    frames = disp.handle(CLIENT, call("calc", "fail", ["boom"], serializer=serializer, call_id=9))
    msg, _ = reply(frames)
    assert msg.serializer_id == get_serializer(serializer).serializer_id
    exc = error_of(frames, call_id=9)
    assert type(exc) is ValueError
    assert str(exc) == "boom"
    tb = "".join(errors.get_remote_traceback(exc))
    assert "ValueError: boom" in tb
    assert "fail" in tb  # the remote frame of the raising method


def test_method_error_is_logged(
    disp: Dispatcher, calc: Calc, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="zpyro.dispatch"):
        disp.handle(CLIENT, call("calc", "fail", ["logged-boom"]))
    assert any("logged-boom" in r.getMessage() for r in caplog.records)


def test_unknown_object(disp: Dispatcher, calc: Calc) -> None:
    exc = error_of(disp.handle(CLIENT, call("nope", "add", [1, 2])))
    assert isinstance(exc, errors.DaemonError)
    assert "nope" in str(exc)


@pytest.mark.parametrize(
    "method", ["missing", "_secret", "__init__", "__class__", "motto", "__dict__"]
)
def test_unreachable_method(disp: Dispatcher, calc: Calc, method: str) -> None:
    exc = error_of(disp.handle(CLIENT, call("calc", method, [])))
    assert isinstance(exc, AttributeError)


def test_unexposed_method_of_undecorated_object(disp: Dispatcher) -> None:
    class Plain:
        def visible_only_without_require(self) -> int:
            return 1

    disp.registry.add(Plain(), "plain")
    exc = error_of(disp.handle(CLIENT, call("plain", "visible_only_without_require")))
    assert isinstance(exc, AttributeError)

    loose = make_dispatcher(require_expose=False)
    loose.registry.add(Plain(), "plain")
    assert result_of(loose.handle(CLIENT, call("plain", "visible_only_without_require"))) == 1
    exc = error_of(loose.handle(CLIENT, call("plain", "__init__")))
    assert isinstance(exc, AttributeError)


def test_wrong_arguments_give_type_error(disp: Dispatcher, calc: Calc) -> None:
    exc = error_of(disp.handle(CLIENT, call("calc", "add", [1, 2, 3, 4])))
    assert isinstance(exc, TypeError)


# -- properties ---------------------------------------------------------------------------------


def test_property_get_and_set(disp: Dispatcher, calc: Calc) -> None:
    assert result_of(disp.handle(CLIENT, call("calc", "__getattr__", ["motto"]))) == "initial"
    assert result_of(disp.handle(CLIENT, call("calc", "__setattr__", ["motto", "changed"]))) is None
    assert calc.motto == "changed"
    assert result_of(disp.handle(CLIENT, call("calc", "__getattr__", ["motto"]))) == "changed"
    assert result_of(disp.handle(CLIENT, call("calc", "__getattr__", ["readonly"]))) == 42


def test_readonly_property_set(disp: Dispatcher, calc: Calc) -> None:
    exc = error_of(disp.handle(CLIENT, call("calc", "__setattr__", ["readonly", 1])))
    assert isinstance(exc, AttributeError)
    assert "read-only" in str(exc)
    assert calc.readonly == 42


@pytest.mark.parametrize("name", ["_motto", "seen_context", "add", "nothing", None, 5])
def test_non_property_attribute_access(disp: Dispatcher, calc: Calc, name: Any) -> None:
    exc = error_of(disp.handle(CLIENT, call("calc", "__getattr__", [name])))
    assert isinstance(exc, AttributeError)
    exc = error_of(disp.handle(CLIENT, call("calc", "__setattr__", [name, "x"])))
    assert isinstance(exc, AttributeError)
    assert calc._motto == "initial"


def test_getattr_without_arguments(disp: Dispatcher, calc: Calc) -> None:
    exc = error_of(disp.handle(CLIENT, call("calc", "__getattr__", [])))
    assert isinstance(exc, AttributeError)


# -- oneway and metadata ------------------------------------------------------------------------


def test_oneway_returns_no_reply(disp: Dispatcher, calc: Calc) -> None:
    assert disp.handle(CLIENT, call("calc", "fire", ["a"], flags=wire.FLAG_ONEWAY)) is None
    assert calc.fired == ["a"]


def test_oneway_errors_return_no_reply(disp: Dispatcher, calc: Calc) -> None:
    assert disp.handle(CLIENT, call("calc", "fail", ["x"], flags=wire.FLAG_ONEWAY)) is None
    assert disp.handle(CLIENT, call("nope", "fail", ["x"], flags=wire.FLAG_ONEWAY)) is None
    assert disp.handle(CLIENT, call("calc", "missing", [], flags=wire.FLAG_ONEWAY)) is None


def test_oneway_with_meta_replies_none_and_metadata(disp: Dispatcher, calc: Calc) -> None:
    frames = disp.handle(
        CLIENT, call("calc", "fire", ["b"], flags=wire.FLAG_ONEWAY | wire.FLAG_META)
    )
    msg, body = reply(frames)
    assert msg.kind == wire.RESULT
    assert msg.flags & wire.FLAG_META
    value, meta = body
    assert value is None  # the method returned 99, but a oneway call has no result
    assert meta == disp.metadata("calc")
    assert calc.fired == ["b"]


def test_meta_flag_on_normal_call(disp: Dispatcher, calc: Calc) -> None:
    frames = disp.handle(CLIENT, call("calc", "add", [1, 1], flags=wire.FLAG_META))
    msg, body = reply(frames)
    assert msg.kind == wire.RESULT and msg.flags & wire.FLAG_META
    value, meta = body
    assert value == 2
    assert "add" in meta["methods"] and "fire" in meta["oneway"]
    assert meta["attrs"] == ["motto", "readonly"]
    assert meta["max_message_size"] == MAX_SIZE


def test_metadata(disp: Dispatcher, calc: Calc) -> None:
    meta = disp.metadata("calc")
    assert meta["max_message_size"] == MAX_SIZE
    assert set(meta) == {
        "methods",
        "oneway",
        "attrs",
        "max_message_size",
        "serializers",
        "sessions",
    }
    assert meta["serializers"] == ["serpent", "msgpack", "json"]  # the defaults, preferred first
    assert meta["sessions"] is True  # any call may leave something for its caller (a resource)
    assert "_secret" not in meta["methods"]
    assert "later" in meta["methods"]
    with pytest.raises(errors.DaemonError):
        disp.metadata("nope")


def test_metadata_of_registered_class() -> None:
    disp = make_dispatcher()
    disp.registry.add(Calc, "calc-class")
    assert disp.metadata("calc-class")["methods"] == sorted(disp.metadata("calc-class")["methods"])
    assert "add" in disp.metadata("calc-class")["methods"]
    assert disp.metadata("calc-class")["sessions"] is True  # session mode, Pyro's default
    assert disp.is_coroutine("calc-class", "later")
    assert not disp.is_coroutine("calc-class", "add")
    assert not disp.is_coroutine("nope", "later")


# -- serializers: refused, unknown, broken payloads ---------------------------------------------


def _evil_payload(target: Path) -> bytes:
    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
            return (open, (str(target), "w"))

    return pickle.dumps([[Evil()], {}], protocol=5)


def test_pickle_payload_works_when_loaded(tmp_path: Path) -> None:
    # the control: the payload used below really would create a file if anyone unpickled it
    control = tmp_path / "control"
    loaded = pickle.loads(_evil_payload(control))
    loaded[0][0].close()
    assert control.exists()


def test_refused_pickle_never_unpickled(disp: Dispatcher, calc: Calc, tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    msg = raw_call("calc", "echo", 5, _evil_payload(target), call_id=31)
    frames = disp.handle(CLIENT, msg)
    decoded, _ = reply(frames)
    assert decoded.serializer_id == get_serializer("json").serializer_id
    exc = error_of(frames, call_id=31)
    assert isinstance(exc, errors.SerializeError)
    assert "pickle" in str(exc)
    assert not target.exists()
    assert calc.fired == []


def test_refused_pickle_oneway_no_reply(disp: Dispatcher, calc: Calc, tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    assert (
        disp.handle(
            CLIENT, raw_call("calc", "echo", 5, _evil_payload(target), flags=wire.FLAG_ONEWAY)
        )
        is None
    )
    assert not target.exists()


def test_unknown_serializer_id(disp: Dispatcher, calc: Calc) -> None:
    frames = disp.handle(CLIENT, raw_call("calc", "add", 99, b"whatever", call_id=4))
    msg, _ = reply(frames)
    assert msg.serializer_id == get_serializer("json").serializer_id
    exc = error_of(frames, call_id=4)
    assert isinstance(exc, errors.SerializeError)
    assert "99" in str(exc)


def test_pickle_accepted_when_opted_in() -> None:
    disp = make_dispatcher(DEFAULT_ACCEPTED | {"pickle"})
    disp.registry.add(Calc(), "calc")
    assert result_of(disp.handle(CLIENT, call("calc", "add", [4, 5], serializer="pickle"))) == 9


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        "ab",
        {"args": [], "kwargs": {}},
        [{}, []],
        [[1], "kwargs"],
        [[], {1: 2}],
        42,
        None,
    ],
)
@pytest.mark.parametrize("serializer", ["serpent", "msgpack"])
def test_malformed_call_payload(disp: Dispatcher, calc: Calc, body: Any, serializer: str) -> None:
    ser = get_serializer(serializer)
    payload, _ = ser.dumps(body)
    frames = disp.handle(CLIENT, raw_call("calc", "add", ser.serializer_id, payload, call_id=11))
    exc = error_of(frames, call_id=11)
    assert isinstance(exc, errors.ProtocolError)


@pytest.mark.parametrize("serializer", sorted(DEFAULT_ACCEPTED))
def test_undecodable_payload(disp: Dispatcher, calc: Calc, serializer: str) -> None:
    ser = get_serializer(serializer)
    frames = disp.handle(
        CLIENT, raw_call("calc", "add", ser.serializer_id, b"\xc1\xff{[(not valid", call_id=12)
    )
    exc = error_of(frames, call_id=12)
    assert isinstance(exc, errors.SerializeError)


def test_unserializable_result_gives_serialize_error() -> None:
    disp = make_dispatcher(DEFAULT_ACCEPTED | {"marshal"})
    disp.registry.add(Calc(), "calc")
    frames = disp.handle(CLIENT, call("calc", "unserializable", serializer="marshal", call_id=13))
    exc = error_of(frames, call_id=13)
    assert isinstance(exc, errors.SerializeError)
    assert "marshal" in str(exc)


def test_unserializable_meta_result_gives_serialize_error() -> None:
    disp = make_dispatcher(DEFAULT_ACCEPTED | {"marshal"})
    disp.registry.add(Calc(), "calc")
    frames = disp.handle(
        CLIENT, call("calc", "unserializable", serializer="marshal", flags=wire.FLAG_META)
    )
    assert isinstance(error_of(frames), errors.SerializeError)


# -- fuzz: whatever arrives, handle answers with RESULT or ERROR and never raises ----------------

_fuzz_disp = make_dispatcher()
_fuzz_obj = Calc()
_fuzz_disp.registry.add(_fuzz_obj, "calc")
_ACCEPTED_IDS = sorted(get_serializer(n).serializer_id for n in DEFAULT_ACCEPTED)


def _answered(frames: list[Any] | None, call_id: int) -> None:
    msg, body = reply(frames)
    assert msg.kind in (wire.RESULT, wire.ERROR)
    assert msg.call_id == call_id
    if msg.kind == wire.ERROR:
        assert isinstance(errors.payload_to_exception(body), Exception)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_ACCEPTED_IDS + [0, 4, 5, 99, 255]),
    st.binary(max_size=64),
    st.sampled_from(["add", "echo", "fail", "__getattr__", "__setattr__", "_secret", "nope", ""]),
    st.integers(0, wire.MAX_CALL_ID),
)
def test_fuzz_arbitrary_payload(ser_id: int, payload: bytes, method: str, call_id: int) -> None:
    frames = _fuzz_disp.handle(CLIENT, raw_call("calc", method, ser_id, payload, call_id=call_id))
    _answered(frames, call_id)
    assert not zpyro.current_context.active


plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=10),
    st.binary(max_size=10),
)
values = st.recursive(
    plain,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(DEFAULT_ACCEPTED)),
    st.lists(values, max_size=4),
    st.dictionaries(st.text(max_size=6), values, max_size=3),
    st.sampled_from(["add", "echo", "__getattr__", "__setattr__", "context"]),
)
def test_fuzz_arbitrary_arguments(
    serializer: str, args: list[Any], kwargs: dict[str, Any], method: str
) -> None:
    frames = _fuzz_disp.handle(
        CLIENT, call("calc", method, args, kwargs, serializer=serializer, call_id=5)
    )
    _answered(frames, 5)
    if method == "echo":
        assert result_of(frames, call_id=5) == [args, kwargs]


# -- current_context ----------------------------------------------------------------------------


def test_current_context_inside_call(disp: Dispatcher, calc: Calc) -> None:
    assert not zpyro.current_context.active
    assert zpyro.current_context.client is None
    frames = disp.handle(CLIENT, call("calc", "context", call_id=4242))
    assert result_of(frames, call_id=4242) == {"call_id": 4242, "method": "context"}
    assert calc.seen_context == {
        "active": True,
        "client": CLIENT,
        "call_id": 4242,
        "object_id": "calc",
        "method": "context",
    }
    assert not zpyro.current_context.active
    assert zpyro.current_context.call_id is None
    assert zpyro.current_context.method is None


def test_current_context_reset_after_error(disp: Dispatcher, calc: Calc) -> None:
    disp.handle(CLIENT, call("calc", "fail", ["x"]))
    assert not zpyro.current_context.active


def test_current_context_unknown_attribute() -> None:
    with pytest.raises(AttributeError):
        zpyro.current_context.nonexistent  # noqa: B018


# -- async def ----------------------------------------------------------------------------------


def test_async_method_awaited(disp: Dispatcher, calc: Calc) -> None:
    assert result_of(disp.handle(CLIENT, call("calc", "later", [21]))) == 42


def test_async_method_sees_context(disp: Dispatcher, calc: Calc) -> None:
    frames = disp.handle(b"client-async", call("calc", "async_context", call_id=77))
    assert result_of(frames, call_id=77) == [b"client-async", 77, "calc", "async_context"]


def test_async_method_cancelled_gives_error_reply(disp: Dispatcher, calc: Calc) -> None:
    # CancelledError derives from BaseException, not Exception: it must still become an ERROR
    # reply, else the caller never gets an answer and the worker thread running handle() dies.
    frames = disp.handle(CLIENT, call("calc", "cancelled", call_id=21))
    exc = error_of(frames, call_id=21)
    described = f"{type(exc).__name__} {getattr(exc, 'remote_type', '')} {exc}"
    assert "cancel" in described.lower()
    assert not zpyro.current_context.active


def test_custom_coroutine_runner(calc: Calc) -> None:
    ran: list[Any] = []

    def runner(coro: Any) -> Any:
        ran.append(coro)
        return asyncio.run(coro)

    disp = Dispatcher(
        ObjectRegistry(), DEFAULT_ACCEPTED, True, MAX_SIZE, 32768, run_coroutine=runner
    )
    disp.registry.add(Calc(), "calc")
    assert result_of(disp.handle(CLIENT, call("calc", "later", [5]))) == 10
    assert len(ran) == 1


# -- instance modes -----------------------------------------------------------------------------

created: list[Any] = []


@zpyro.expose
class Counter:
    def __init__(self) -> None:
        self.calls = 0
        created.append(self)

    def ident(self) -> int:
        self.calls += 1
        return id(self)

    def count(self) -> int:
        return self.calls


def _registered(cls: type, mode: str, creator: Any = None) -> tuple[Dispatcher, type]:
    sub: type = zpyro.behavior(instance_mode=mode, instance_creator=creator)(
        type(f"Counter_{mode}", (cls,), {})
    )
    disp = make_dispatcher()
    disp.registry.add(sub, "counter")
    created.clear()
    return disp, sub


def _ident(disp: Dispatcher, client: bytes) -> int:
    return int(result_of(disp.handle(client, call("counter", "ident"))))


def test_single_instance_mode() -> None:
    disp, _ = _registered(Counter, "single")
    first = _ident(disp, b"a")
    assert _ident(disp, b"b") == first
    assert _ident(disp, b"a") == first
    assert len(created) == 1
    assert created[0].calls == 3


def test_session_instance_mode() -> None:
    disp, _ = _registered(Counter, "session")
    a1 = _ident(disp, b"a")
    b1 = _ident(disp, b"b")
    assert a1 != b1
    assert _ident(disp, b"a") == a1
    assert _ident(disp, b"b") == b1
    assert len(created) == 2
    assert disp.registry.drop_session(b"a") == 1
    assert disp.registry.drop_session(b"a") == 0
    a2 = _ident(disp, b"a")
    assert len(created) == 3
    assert created[-1].calls == 1 and id(created[-1]) == a2
    assert _ident(disp, b"b") == b1


def test_default_mode_for_registered_class_is_session() -> None:
    @zpyro.expose
    class Plain:
        def ident(self) -> int:
            return id(self)

    disp = make_dispatcher()
    disp.registry.add(Plain, "counter")
    keep = [disp.registry.resolve("counter", b"a"), disp.registry.resolve("counter", b"b")]
    assert keep[0] is not keep[1]
    assert disp.registry.resolve("counter", b"a") is keep[0]


def test_percall_instance_mode() -> None:
    disp, _ = _registered(Counter, "percall")
    for _ in range(3):
        _ident(disp, b"a")
    assert len(created) == 3
    assert all(c.calls == 1 for c in created)
    assert len({id(c) for c in created}) == 3


@pytest.mark.parametrize("mode", ["single", "session", "percall"])
def test_instance_creator_used(mode: str) -> None:
    made_by: list[type] = []

    def creator(cls: type) -> Any:
        made_by.append(cls)
        inst = cls()
        inst.calls = 100
        return inst

    disp, sub = _registered(Counter, mode, creator)
    assert result_of(disp.handle(CLIENT, call("counter", "count"))) == 100
    assert made_by == [sub]


def test_instance_creator_failure_is_an_error_reply() -> None:
    def creator(cls: type) -> Any:
        raise RuntimeError("cannot make one")

    disp, _ = _registered(Counter, "single", creator)
    exc = error_of(disp.handle(CLIENT, call("counter", "count")))
    assert isinstance(exc, RuntimeError)
    assert "cannot make one" in str(exc)


def test_registry_add_remove() -> None:
    reg = ObjectRegistry()
    obj = Calc()
    oid = reg.add(obj)
    assert oid.startswith("obj_")
    assert reg.id_of(obj) == oid
    with pytest.raises(errors.DaemonError):
        reg.add(obj, "again")
    with pytest.raises(errors.DaemonError):
        reg.add(Calc(), oid)
    with pytest.raises(errors.DaemonError):
        reg.add(Calc(), "")
    assert reg.remove(obj) == (oid, obj)
    assert reg.remove(oid) is None
    with pytest.raises(errors.DaemonError):
        reg.resolve(oid, CLIENT)
