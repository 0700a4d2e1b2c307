from __future__ import annotations

import builtins
import errno
import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zpyro import errors, util
from zpyro.errors import (
    CommunicationError,
    ConnectionClosedError,
    ProtocolError,
    RemoteError,
    ZPyroError,
    exception_to_payload,
    get_remote_traceback,
    payload_to_exception,
    register_exception,
)

pytestmark = pytest.mark.timeout(30)


def _raised(exc: BaseException) -> BaseException:
    """`exc` with a real traceback attached."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def _round_trip(exc: BaseException) -> BaseException:
    # through JSON, so the payload is proven to be plain data any serializer carries
    return payload_to_exception(json.loads(json.dumps(exception_to_payload(_raised(exc)))))


def test_tree_matches_docstring() -> None:
    for name in (
        "CommunicationError",
        "NamingError",
        "DaemonError",
        "SecurityError",
        "RemoteError",
    ):
        cls = getattr(errors, name)
        assert cls.__bases__ == (ZPyroError,)
        assert name in (errors.__doc__ or "")
    for cls in (ConnectionClosedError, errors.TimeoutError, ProtocolError):
        assert issubclass(cls, CommunicationError)
    for cls in (errors.SerializeError, errors.MessageTooLargeError):  # as in Pyro
        assert cls.__bases__ == (ProtocolError,) and cls.__name__ in (errors.__doc__ or "")
    assert errors.PyroError is ZPyroError
    assert issubclass(ZPyroError, Exception)


def test_timeout_error_is_also_builtin_timeout() -> None:
    e = errors.TimeoutError("no reply in 2.0s")
    assert isinstance(e, builtins.TimeoutError)
    assert isinstance(e, OSError)
    assert isinstance(e, CommunicationError)
    assert isinstance(e, ZPyroError)
    assert errors.TimeoutError is not builtins.TimeoutError
    with pytest.raises(builtins.TimeoutError):
        raise e


def test_payload_shape_and_simple_args() -> None:
    class Unserializable:
        def __repr__(self) -> str:
            return "<U>"

    payload = exception_to_payload(_raised(ValueError("bad", 3, 1.5, True, None, Unserializable())))
    assert payload["type"] == "builtins.ValueError"
    assert payload["args"] == ["bad", 3, 1.5, True, None, "<U>"]
    assert payload["message"] == "('bad', 3, 1.5, True, None, <U>)"
    assert payload["traceback"][0].startswith("Traceback (most recent call last)")
    assert "_raised" in "".join(payload["traceback"])
    assert payload["traceback"][-1] == f"ValueError: {payload['message']}\n"
    json.dumps(payload)  # plain data


def test_explicit_traceback_lines_are_used() -> None:
    payload = exception_to_payload(KeyError("k"), tb_lines=["line one\n", "line two\n"])
    assert payload["traceback"] == ["line one\n", "line two\n"]


@pytest.mark.parametrize(
    "exc",
    [ValueError("bad value"), KeyError("missing"), ZeroDivisionError("division by zero")],
)
def test_builtin_round_trip(exc: BaseException) -> None:
    back = _round_trip(exc)
    assert type(back) is type(exc)
    assert back.args == exc.args
    assert str(back) == str(exc)
    tb = get_remote_traceback(back)
    assert tb[0].startswith("Traceback")
    assert type(exc).__name__ in tb[-1]


def test_oserror_with_errno_round_trip() -> None:
    back = _round_trip(OSError(errno.ENOENT, "No such file", "/nope"))
    assert isinstance(back, FileNotFoundError)  # OSError picks the subclass from errno, like local
    assert back.errno == errno.ENOENT
    assert back.strerror == "No such file"
    assert back.filename == "/nope"
    assert str(back) == "[Errno 2] No such file: '/nope'"


def test_real_zero_division_round_trip() -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError as exc:
        back = payload_to_exception(exception_to_payload(exc))
    assert isinstance(back, ZeroDivisionError)
    assert "1 / 0" in "".join(get_remote_traceback(back))


@pytest.mark.parametrize(
    "cls",
    [ZPyroError, errors.TimeoutError, ProtocolError, errors.NamingError, errors.SecurityError],
)
def test_zpyro_error_round_trip(cls: type[ZPyroError]) -> None:
    back = _round_trip(cls("went wrong"))
    assert type(back) is cls
    assert back.args == ("went wrong",)


def test_remote_error_keeps_remote_type_across_hops() -> None:
    first = RemoteError("app.Boom: kaboom", remote_type="app.Boom")
    back = _round_trip(first)
    assert type(back) is RemoteError
    assert back.remote_type == "app.Boom"
    assert str(back) == "app.Boom: kaboom"


class Unregistered(Exception):
    pass


@register_exception
class Registered(Exception):
    pass


def test_register_exception_is_a_decorator() -> None:
    assert Registered.__name__ == "Registered"  # returns the class itself
    with pytest.raises(TypeError):
        register_exception(int)  # type: ignore[type-var]


def test_registered_class_round_trip() -> None:
    back = _round_trip(Registered("allowed", 42))
    assert type(back) is Registered
    assert back.args == ("allowed", 42)


def test_unregistered_class_becomes_remote_error() -> None:
    back = _round_trip(Unregistered("not allowed"))
    assert type(back) is RemoteError
    expected = f"{Unregistered.__module__}.{Unregistered.__qualname__}"
    assert back.remote_type == expected
    assert str(back) == f"{expected}: not allowed"
    assert get_remote_traceback(back)


def test_never_imports_named_classes() -> None:
    payload = {
        "type": "os.system",
        "message": "echo pwned",
        "args": ["echo pwned"],
        "traceback": [],
    }
    back = payload_to_exception(payload)
    assert type(back) is RemoteError and back.remote_type == "os.system"
    payload["type"] = "subprocess.CalledProcessError"
    assert type(payload_to_exception(payload)) is RemoteError


@pytest.mark.parametrize("name", ["SystemExit", "KeyboardInterrupt", "GeneratorExit", "print"])
def test_builtins_that_must_not_be_raised_locally(name: str) -> None:
    payload = {"type": f"builtins.{name}", "message": "m", "args": [], "traceback": []}
    back = payload_to_exception(payload)
    assert type(back) is RemoteError
    assert back.remote_type == f"builtins.{name}"


def test_unconstructible_builtin_falls_back() -> None:
    # UnicodeDecodeError needs 5 args; neither args nor the message fit -> RemoteError
    payload = {"type": "builtins.UnicodeDecodeError", "message": "m", "args": [1], "traceback": []}
    back = payload_to_exception(payload)
    assert type(back) is RemoteError and back.remote_type == "builtins.UnicodeDecodeError"
    # ExceptionGroup with bad args: also RemoteError, never a TypeError escaping
    payload = {
        "type": "builtins.ExceptionGroup",
        "message": "m",
        "args": ["m", "x"],
        "traceback": [],
    }
    assert type(payload_to_exception(payload)) is RemoteError


def test_builtin_with_bad_args_uses_message() -> None:
    payload = {"type": "builtins.UnicodeError", "message": "msg", "args": [], "traceback": ["t\n"]}
    back = payload_to_exception(payload)
    assert type(back) is UnicodeError
    assert get_remote_traceback(back) == ["t\n"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "ValueError",
        [],
        {},
        {"type": "builtins.ValueError"},
        {"type": 1, "message": "", "args": [], "traceback": []},
        {"type": "", "message": "", "args": [], "traceback": []},
        {"type": "builtins.ValueError", "message": None, "args": [], "traceback": []},
        {"type": "builtins.ValueError", "message": "", "args": "xy", "traceback": []},
        {"type": "builtins.ValueError", "message": "", "args": [], "traceback": [1]},
        {"type": "builtins.ValueError", "message": "", "args": [], "traceback": "abc"},
    ],
)
def test_malformed_payload_is_protocol_error(payload: object) -> None:
    with pytest.raises(ProtocolError):
        payload_to_exception(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
payload_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["builtins.ValueError", "builtins.OSError", "zpyro.errors.RemoteError", "x.Y", ""]
        )
        | json_values,
        "message": st.text(max_size=20) | json_values,
        "args": st.lists(json_values, max_size=4) | json_values,
        "traceback": st.lists(st.text(max_size=20), max_size=3) | json_values,
        "remote_type": json_values,
    },
)


@given(json_values | payload_like)
def test_arbitrary_payloads_give_exception_or_protocol_error(payload: object) -> None:
    try:
        result = payload_to_exception(payload)
    except ProtocolError:
        return
    assert isinstance(result, Exception)
    assert isinstance(get_remote_traceback(result), list)


@given(st.lists(st.text(max_size=30) | st.integers() | st.floats(allow_nan=False), max_size=4))
def test_value_error_args_round_trip(args: list[object]) -> None:
    back = _round_trip(ValueError(*args))
    assert type(back) is ValueError
    assert list(back.args) == args


def test_chained_remote_calls_keep_every_hop() -> None:
    innermost = payload_to_exception(
        exception_to_payload(_raised(KeyError("deep")), tb_lines=["hop C line\n"])
    )
    middle = payload_to_exception(exception_to_payload(innermost, tb_lines=["hop B line\n"]))
    tb = get_remote_traceback(middle)
    assert tb[0] == "hop B line\n"
    assert tb[-1] == "hop C line\n"
    assert type(middle) is KeyError


def test_no_remote_traceback() -> None:
    assert get_remote_traceback(ValueError("local")) == []
    assert errors.format_remote_traceback(ValueError("local")) == ""


def test_format_remote_traceback() -> None:
    exc = payload_to_exception(
        exception_to_payload(ValueError("x"), tb_lines=["Traceback:\n", "ValueError: x\n"])
    )
    text = errors.format_remote_traceback(exc)
    assert text.startswith(" +--- This exception occured remotely (zpyro) - Remote traceback:\n")
    assert " | ValueError: x\n" in text
    assert text.endswith(" +--- End of remote traceback\n")


def test_excepthook_prints_local_and_remote(capsys: pytest.CaptureFixture[str]) -> None:
    remote = payload_to_exception(
        exception_to_payload(ValueError("x"), tb_lines=["remote frame in server.py\n"])
    )
    try:
        raise remote
    except ValueError:
        errors.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "test_excepthook_prints_local_and_remote" in err  # the local frame
    local_end = err.index("ValueError: x")
    block = err.index("+--- This exception occured remotely (zpyro) - Remote traceback:")
    assert local_end < block < err.index("remote frame in server.py")
    assert err.index("remote frame in server.py") < err.index("+--- End of remote traceback")


def test_excepthook_without_remote_part(capsys: pytest.CaptureFixture[str]) -> None:
    exc = _raised(RuntimeError("plain"))
    errors.excepthook(RuntimeError, exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert "RuntimeError: plain" in err
    assert "remotely" not in err


def test_util_pyro4_helpers() -> None:
    assert util.excepthook is errors.excepthook
    assert util.get_remote_traceback is errors.get_remote_traceback
    assert util.getPyroTraceback() == []
    remote = payload_to_exception(exception_to_payload(ValueError("v"), tb_lines=["far away\n"]))
    try:
        raise remote
    except ValueError:
        implicit = util.getPyroTraceback()
    explicit = util.getPyroTraceback(remote)
    assert implicit == explicit
    text = "".join(explicit)
    assert text.startswith("Traceback (most recent call last)")
    assert "test_util_pyro4_helpers" in text
    assert " | far away\n" in text
