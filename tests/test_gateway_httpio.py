"""zpyro/gateway/httpio.py on its own: parameters, media types, keys, JSON of results and
errors, and which status each error gets. Pure: no sockets."""

from __future__ import annotations

import datetime
import enum
import json
import re
import uuid

import pytest

from zpyro import errors
from zpyro.gateway import httpio
from zpyro.uri import URI


def problem(fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(httpio.Problem) as info:
        fn(*args)
    return info.value.status, info.value.error


def test_query_parameters_as_pyro_reads_them() -> None:
    assert httpio.query_parameters(b"a=1&b=two%20words&c=") == {
        "a": "1",
        "b": "two words",
        "c": "",
    }
    assert httpio.query_parameters(b"x=1&x=2&x=3") == {"x": ["1", "2", "3"]}
    assert httpio.query_parameters(b"$key=k&n=%C3%A9") == {"$key": "k", "n": "é"}
    assert httpio.query_parameters(b"") == {}
    for bad in (b"x=%ff", b"1a=2", b"$other=1", b"=v", b"\xff=1"):
        status, error = problem(httpio.query_parameters, bad)
        assert status == 400 and isinstance(error, ValueError), bad
    too_many = "&".join(f"a{i}=1" for i in range(httpio.MAX_FIELDS + 1)).encode()
    assert problem(httpio.query_parameters, too_many)[0] == 400


def test_bodies_by_media_type() -> None:
    form = "application/x-www-form-urlencoded"
    assert httpio.body_arguments(form, b"a=1") == ([], {"a": "1"})
    assert httpio.body_arguments("application/json", b'{"args":[1],"kwargs":{"k":[2]}}') == (
        [1],
        {"k": [2]},
    )
    assert httpio.body_arguments("application/vnd.x+json", b"{}") == ([], {})
    assert httpio.body_arguments("", b"  ") == ([], {})  # no body, no type: no arguments
    assert problem(httpio.body_arguments, "text/plain", b"hi")[0] == 415
    for bad in (b"[]", b"{", b'{"args":{}}', b'{"kwargs":[]}', b'{"kwargs":{"a b":1}}', b"\xff"):
        assert problem(httpio.body_arguments, "application/json", bad)[0] == 400, bad


def test_media_type_charset_and_encoding() -> None:
    assert httpio.media_type("Application/JSON; Charset=UTF-8") == ("application/json", "utf-8")
    assert httpio.media_type(None) == ("", "")
    assert problem(httpio.media_type, "application/json; charset=utf-16")[0] == 415
    httpio.check_encoding(None)
    httpio.check_encoding("identity")
    assert problem(httpio.check_encoding, "gzip")[0] == 415


def test_key_options_correlation_and_exposure() -> None:
    httpio.check_key(None, None, None)  # no key configured: anything goes
    httpio.check_key("k", "k", None)
    httpio.check_key("k", None, "k")
    for header, query in ((None, None), ("x", None), (None, "x"), ("", "")):
        status, error = problem(httpio.check_key, "k", header, query)
        assert status == 403 and isinstance(error, errors.SecurityError)
    assert httpio.options(" Oneway ") == {"oneway"} and httpio.options(None) == frozenset()
    assert problem(httpio.options, "oneway,batch")[0] == 400
    assert uuid.UUID(httpio.correlation_id(None))
    assert httpio.correlation_id("abc-1.2:3_4") == "abc-1.2:3_4"
    assert problem(httpio.correlation_id, "a b")[0] == 400
    assert problem(httpio.correlation_id, "x" * 129)[0] == 400
    pattern = re.compile(httpio.DEFAULT_EXPOSE)
    httpio.check_exposed(pattern, "http.thing")
    httpio.check_exposed(None, "Pyro.NameServer")
    for hidden in ("Pyro.NameServer", "thing", "xhttp.thing"):
        assert problem(httpio.check_exposed, pattern, hidden)[0] == 403
    assert problem(httpio.merge_kwargs, {"a": 1}, {"a": 2})[0] == 400


def test_results_as_json() -> None:
    class Colour(enum.Enum):
        RED = 1

    value = {
        "bytes": b"\x00\xff",
        "set": {3},
        "tuple": (1, 2),
        "uri": URI("PYRO:x@127.0.0.1:1"),
        "when": datetime.date(2024, 1, 2),
        "id": uuid.UUID(int=1),
        "enum": Colour.RED,
        "text": "é",
    }
    assert json.loads(httpio.to_json(value)) == {
        "bytes": {"data": "AP8=", "encoding": "base64"},
        "set": [3],
        "tuple": [1, 2],
        "uri": "PYRO:x@127.0.0.1:1",
        "when": "2024-01-02",
        "id": "00000000-0000-0000-0000-000000000001",
        "enum": 1,
        "text": "é",
    }
    assert httpio.to_json([float("nan"), {"a": float("-inf")}]) == b'["NaN",{"a":"-Infinity"}]'
    with pytest.raises(TypeError):
        httpio.to_json(object())


def test_errors_in_pyros_json_form_and_their_status() -> None:
    remote = errors.payload_to_exception(
        {"type": "mod.Custom", "message": "it broke", "args": ["it broke"], "traceback": ["tb\n"]}
    )
    assert httpio.error_json(remote) == {
        "__class__": "mod.Custom",
        "__exception__": True,
        "args": ["it broke"],
        "attributes": {"_pyroTraceback": ["tb\n"]},
    }
    assert httpio.error_json(KeyError("k", object()))["args"][0] == "k"
    assert httpio.error_json(errors.NamingError("x"))["__class__"] == "zpyro.errors.NamingError"

    class Internal(errors.ConnectionClosedError):  # shown as the documented class it is
        pass

    assert httpio.error_json(Internal("gone"))["__class__"] == "zpyro.errors.ConnectionClosedError"
    cases = {
        errors.TimeoutError("t"): 504,
        errors.ConnectionClosedError("c"): 503,
        errors.CommunicationError("c"): 503,
        errors.MessageTooLargeError("m"): 413,
        errors.DaemonError("broker busy: 10 calls already wait"): 503,
        errors.DaemonError("unknown object 'x': no daemon serves it"): 503,
        errors.DaemonError("something else"): 500,
        ValueError("v"): 500,
        httpio.Problem(418, ValueError("teapot")): 418,
    }
    for error, status in cases.items():
        assert httpio.status_of(error) == status, error
    assert httpio.meta_json({"a", "b"}, {"p"}, {"b", "gone"}) == {
        "methods": ["a", "b"],
        "attributes": ["p"],
        "oneway": ["b"],
    }
