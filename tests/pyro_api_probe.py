"""Try Pyro4/Pyro5 API items against zpyro, one line each: what happens today.

``python tests/pyro_api_probe.py`` (from the worktree, with its venv) prints
``<item> | <result>`` where the result is ``ok: ...`` (works; the note says what was seen),
``IGNORED: ...`` (accepted but has no effect: the dangerous kind), ``different: ...`` (works
otherwise than Pyro) or the exception the item raised (missing). It is the evidence behind the
"zpyro today" column of docs/pyro-api-inventory.md; run it again after a change to see the
column move. Everything binds 127.0.0.1 with free ports and stops what it starts.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zpyro  # noqa: E402
from zpyro import errors  # noqa: E402

Result = tuple[str, str]
RESULTS: list[tuple[str, str]] = []


def probe(item: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Run the decorated function now; record ok/IGNORED/different or the exception."""

    def run(fn: Callable[[], Any]) -> Callable[[], Any]:
        try:
            outcome = fn()
        except BaseException as exc:  # noqa: BLE001 - every failure is a finding
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            RESULTS.append((item, text))
            return fn
        if isinstance(outcome, tuple):
            RESULTS.append((item, f"{outcome[0]}: {outcome[1]}"))
        else:
            RESULTS.append((item, "ok" + (f": {outcome}" if outcome else "")))
        return fn

    return run


def has(path: str) -> str:
    """Resolve a dotted name the way a ported program would (attribute access after import)."""
    module_name, _, rest = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in rest.split(".") if rest else []:
        obj = getattr(obj, part)
    return ""


@zpyro.expose
class Thing:
    def __init__(self) -> None:
        self._value = 1
        self.released = threading.Event()

    def echo(self, x: Any) -> Any:
        return x

    def whoami(self) -> Any:
        return getattr(self, "_pyroId", None), getattr(self, "_pyroDaemon", None) is not None

    def fail(self) -> None:
        secret_local = 4242  # noqa: F841 - DETAILED_TRACEBACK would show it
        raise ValueError("boom")

    def wait(self, seconds: float) -> bool:
        return self.released.wait(seconds)

    def release(self) -> None:
        self.released.set()

    def context(self) -> dict[str, Any]:
        ctx = zpyro.current_context
        out = {}
        for name in ("client_sock_addr", "seq", "msg_flags", "serializer_id", "correlation_id"):
            try:
                out[name] = repr(getattr(ctx, name))
            except AttributeError as exc:
                out[name] = f"AttributeError {exc}"
        return out

    def __len__(self) -> int:
        return 3

    @property
    def value(self) -> int:
        return self._value


class Served:
    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self.thread = threading.Thread(target=daemon.request_loop, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.daemon.shutdown()
        self.thread.join(10)
        self.daemon.close()


def serve(obj: Any = None, daemon: Any = None, object_id: str = "thing") -> tuple[Served, str]:
    daemon = daemon or zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(obj if obj is not None else Thing(), object_id)
    return Served(daemon), str(uri)


@contextlib.contextmanager
def serving(obj: Any = None, daemon: Any = None) -> Iterator[str]:
    """The URI of `obj` (default a Thing) served in a thread; stopped on exit."""
    served, uri = serve(obj, daemon)
    try:
        yield uri
    finally:
        served.stop()


# -- package level ------------------------------------------------------------------------------

PYRO4_TOP = [
    "config",
    "URI",
    "Proxy",
    "Daemon",
    "callback",
    "batch",
    "asyncproxy",
    "oneway",
    "expose",
    "behavior",
    "current_context",
    "locateNS",
    "resolve",
    "Future",
]
PYRO4_MODULES = [
    "core",
    "naming",
    "errors",
    "util",
    "futures",
    "constants",
    "socketutil",
    "message",
    "nsc",
    "configuration",
    "naming_storage",
    "test.echoserver",
    "utils.httpgateway",
]
PYRO5_API = [
    "config",
    "URI",
    "locate_ns",
    "resolve",
    "type_meta",
    "current_context",
    "Proxy",
    "BatchProxy",
    "SerializedBlob",
    "SerializerBase",
    "Daemon",
    "DaemonObject",
    "callback",
    "expose",
    "behavior",
    "oneway",
    "start_ns",
    "start_ns_loop",
    "serve",
    "register_dict_to_class",
    "register_class_to_dict",
    "unregister_dict_to_class",
    "unregister_class_to_dict",
]
PYRO5_MODULES = [
    "api",
    "client",
    "server",
    "core",
    "nameserver",
    "nsc",
    "serializers",
    "callcontext",
    "configure",
    "errors",
    "protocol",
    "socketutil",
    "utils.echoserver",
    "utils.httpgateway",
]

for name in PYRO4_TOP:
    probe(f"Pyro4.{name}")(lambda name=name: has(f"zpyro:{name}"))
for name in PYRO4_MODULES:
    probe(f"Pyro4.{name} (attribute after import Pyro4)")(
        lambda name=name: has(f"zpyro:{name.split('.')[0]}")
    )
    probe(f"import Pyro4.{name}")(lambda name=name: has(f"zpyro.{name}"))
for name in PYRO5_API:
    probe(f"Pyro5.api.{name}")(lambda name=name: has(f"zpyro:{name}"))
zpyro.alias_as("Pyro5")  # as a Pyro5 program run on zpyro would (Pyro5.api is zpyro, ...)
for name in PYRO5_MODULES:
    probe(f"import Pyro5.{name}")(
        lambda name=name: importlib.import_module(f"Pyro5.{name}").__name__
    )


@probe("Pyro4.__version__ / Pyro5.__version__")
def _version() -> str:
    return zpyro.__version__


# -- config -------------------------------------------------------------------------------------

CONFIG_ITEMS = {  # item: a value a Pyro program would set
    "AUTOPROXY": True,
    "BROADCAST_ADDRS": "127.0.0.1",
    "COMMTIMEOUT": 2.0,
    "COMPRESSION": True,
    "DETAILED_TRACEBACK": True,
    "DILL_PROTOCOL_VERSION": -1,
    "FLAME_ENABLED": False,
    "HOST": "127.0.0.1",
    "ITER_STREAMING": True,
    "ITER_STREAM_LIFETIME": 0.0,
    "ITER_STREAM_LINGER": 30.0,
    "JSON_MODULE": "json",
    "LOGFILE": str(Path(tempfile.gettempdir()) / "pyro-api-probe.log"),  # not in the tree
    "LOGLEVEL": "WARNING",
    "LOGWIRE": False,
    "MAX_MESSAGE_SIZE": 0,
    "MAX_RETRIES": 1,
    "METADATA": True,
    "NATHOST": "127.0.0.1",
    "NATPORT": 5000,
    "NS_AUTOCLEAN": 0.0,
    "NS_BCHOST": None,
    "NS_BCPORT": 9091,
    "NS_HOST": "127.0.0.1",
    "NS_LOOKUP_DELAY": 0.5,
    "NS_PORT": 9090,
    "ONEWAY_THREADED": True,
    "PICKLE_PROTOCOL_VERSION": 4,
    "POLLTIMEOUT": 1.0,
    "PREFER_IP_VERSION": 4,
    "REQUIRE_EXPOSE": True,
    "SERIALIZER": "serpent",
    "SERIALIZERS_ACCEPTED": {"serpent", "json"},
    "SERPENT_BYTES_REPR": False,
    "SERVERTYPE": "multiplex",
    "SOCK_NODELAY": False,
    "SOCK_REUSE": True,
    "SSL": False,
    "SSL_CACERTS": "",
    "SSL_CLIENTCERT": "",
    "SSL_CLIENTKEY": "",
    "SSL_CLIENTKEYPASSWD": "",
    "SSL_CLIENT_CERTVALIDATION": True,
    "SSL_REQUIRECLIENTCERT": False,
    "SSL_SERVERCERT": "",
    "SSL_SERVERKEY": "",
    "SSL_SERVERKEYPASSWD": "",
    "THREADPOOL_SIZE": 8,
    "THREADPOOL_SIZE_MIN": 2,
    "USE_MSG_WAITALL": True,
}
for item, value in CONFIG_ITEMS.items():

    def assign(item: str = item, value: Any = value) -> str:
        before = getattr(zpyro.config, item, "<absent>")
        setattr(zpyro.config, item, value)
        return f"zpyro default {before!r}"

    probe(f"config.{item} = {value!r}")(assign)
zpyro.config.reset(use_environment=False)


@probe("config.SERIALIZERS_ACCEPTED.add('pickle')")
def _accepted_add() -> None:
    zpyro.config.SERIALIZERS_ACCEPTED.add("pickle")


@probe("config.reset(useenvironment=False) (Pyro4 keyword)")
def _reset_keyword() -> None:
    zpyro.config.reset(useenvironment=False)  # type: ignore[call-arg]


@probe("config.asDict() / as_dict()")
def _as_dict() -> str:
    return f"{len(zpyro.config.asDict())} items"


@probe("config.dump() first line")
def _dump() -> str:
    return zpyro.config.dump().splitlines()[0]


@probe("config.copy() (Pyro5)")
def _copy() -> None:
    zpyro.config.copy()


@probe("PYRO_COMMTIMEOUT=2.5 in the environment")
def _pyro_env() -> Result:
    out = subprocess.run(
        [sys.executable, "-c", "import zpyro; print(zpyro.config.COMMTIMEOUT)"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYRO_COMMTIMEOUT": "2.5", "PYTHONPATH": str(ROOT)},
        timeout=30,
    ).stdout.strip()
    return ("ok", out) if out == "2.5" else ("IGNORED", f"COMMTIMEOUT stays {out}")


@probe("MAX_MESSAGE_SIZE = 0 means no limit")
def _max_size_zero() -> Result:
    zpyro.config.MAX_MESSAGE_SIZE = 0
    served, uri = serve()
    try:
        return ("ok", repr(zpyro.Proxy(uri).echo("x")))
    finally:
        served.stop()
        zpyro.config.reset(use_environment=False)


@probe("client MAX_MESSAGE_SIZE enforced on what it sends")
def _client_max_size() -> Result:
    served, uri = serve()
    try:
        zpyro.config.MAX_MESSAGE_SIZE = 2000
        p = zpyro.Proxy(uri)
        try:
            p.echo("x" * 5000)
        except errors.MessageTooLargeError:
            return ("ok", "MessageTooLargeError")
        return ("IGNORED", "a 5000-byte call went out with MAX_MESSAGE_SIZE=2000 on the client")
    finally:
        zpyro.config.reset(use_environment=False)
        served.stop()


@probe("python -m zpyro.configuration / zpyro-check-config")
def _check_config() -> None:
    has("zpyro.configuration")


# -- Proxy --------------------------------------------------------------------------------------

served, URI_ = serve()


@probe("Proxy(uri, connected_socket=...)")
def _proxy_connected_socket() -> str:
    import socket

    server_end, client_end = socket.socketpair()
    daemon = zpyro.Daemon(connected_socket=server_end)
    daemon.register(Thing(), "thing")
    threading.Thread(target=daemon.requestLoop, daemon=True).start()
    with zpyro.Proxy("thing", connected_socket=client_end) as p:
        return repr(p.echo("over the pair"))


@probe("Proxy._pyroHandshake = data (sent on connect?)")
def _handshake() -> Result:
    class Guarded(zpyro.Daemon):
        def validateHandshake(self, conn: Any, data: Any) -> Any:  # noqa: N802
            raise ValueError("nobody gets in")

    with serving(daemon=Guarded(host="127.0.0.1")) as uri:
        p = zpyro.Proxy(uri)
        p._pyroHandshake = "wrong"
        try:
            p.echo(1)
        except errors.CommunicationError as exc:
            return ("ok", str(exc))
        return ("IGNORED", "validateHandshake raising did not stop the call; _pyroHandshake unused")


@probe("Proxy._pyroValidateHandshake(response) called")
def _validate_handshake() -> Result:
    seen = []

    class P(zpyro.Proxy):
        def _pyroValidateHandshake(self, response: Any) -> None:  # noqa: N802
            seen.append(response)

    P(URI_).echo(1)
    return ("ok", repr(seen)) if seen else ("IGNORED", "never called")


@probe("Proxy._pyroHmacKey = b'key'")
def _hmac() -> Result:
    p = zpyro.Proxy(URI_)
    p._pyroHmacKey = b"key"
    p.echo(1)
    return ("IGNORED", "accepted, no effect: the daemon has no key and the call went through")


@probe("Daemon._pyroHmacKey = b'key'")
def _daemon_hmac() -> Result:
    d = zpyro.Daemon(host="127.0.0.1")
    d._pyroHmacKey = b"key"
    with serving(daemon=d) as uri:
        zpyro.Proxy(uri).echo(1)
        return ("IGNORED", "a client without the key got in")


for attr in ("_pyroTimeout", "_pyroMaxRetries", "_pyroSerializer", "_pyroUri", "_pyroOneway",
             "_pyroMethods", "_pyroAttrs", "_pyroConnection", "_pyroSeq", "_pyroRawWireResponse",
             "_pyroHandshake", "_pyroLocalSocket"):  # fmt: skip
    probe(f"Proxy.{attr} (read on a fresh proxy)")(
        lambda attr=attr: repr(getattr(zpyro.Proxy(URI_), attr))[:60]
    )


@probe("Proxy._pyroBind() / _pyroRelease() / context manager")
def _bind() -> str:
    with zpyro.Proxy(URI_) as p:
        return repr(p._pyroBind())


@probe("Proxy._pyroReconnect(tries=2) against a dead address")
def _reconnect_dead() -> Result:
    p = zpyro.Proxy("PYRO:x@127.0.0.1:1")
    started = time.monotonic()
    try:
        p._pyroReconnect(tries=2)
    except errors.CommunicationError as exc:
        return (
            "ok",
            f"{type(exc).__name__} after {time.monotonic() - started:.1f} s (Pyro4 sleeps 2 s)",
        )
    return ("different", "no error")


@probe("Proxy._pyroBatch() returns a batch proxy (Pyro4)")
def _batch_method() -> None:
    zpyro.Proxy(URI_)._pyroBatch()


@probe("Proxy._pyroAsync(asynchronous=True) in place")
def _async_in_place() -> str:
    p = zpyro.Proxy(URI_)
    p._pyroAsync(asynchronous=True)
    return type(p.echo(1)).__name__


@probe("Pyro4.asyncproxy(p) switches p itself (returns None)")
def _asyncproxy() -> Result:
    p = zpyro.Proxy(URI_)
    returned = zpyro.asyncproxy(p)
    outcome = p.echo(1)
    if isinstance(outcome, zpyro.Future):
        return ("ok", "p is async")
    return (
        "different",
        f"returns a {type(returned).__name__} copy; p stays sync (p.echo gave {outcome!r})",
    )


@probe("Pyro4.asyncproxy(p, asynchronous=False)")
def _asyncproxy_off() -> None:
    zpyro.asyncproxy(zpyro.Proxy(URI_), asynchronous=False)  # type: ignore[call-arg]


@probe("Proxy._pyroAnnotations() override sent")
def _annotations() -> Result:
    class P(zpyro.Proxy):
        def _pyroAnnotations(self) -> dict[str, Any]:  # noqa: N802
            return {"USER": b"alice"}

    @zpyro.expose
    class Reader:
        def read(self) -> Any:
            return zpyro.current_context.annotations.get("USER")

    with serving(Reader()) as uri:
        return ("ok", repr(P(uri).read()))


@probe("Proxy._pyroResponseAnnotations(annotations, msgtype) signature")
def _response_annotations() -> Result:
    seen = []

    class P(zpyro.Proxy):
        def _pyroResponseAnnotations(self, annotations: Any, msgtype: Any) -> None:  # noqa: N802
            seen.append((annotations, msgtype))

    @zpyro.expose
    class Writer:
        def write(self) -> None:
            zpyro.current_context.response_annotations = {"RESP": b"x"}

    with serving(Writer()) as uri:
        P(uri).write()
        if seen and seen[-1][1] == zpyro.message.MSG_RESULT:
            return ("ok", f"msgtype = message.MSG_RESULT: {seen!r}")
        return ("different", f"second argument is not MSG_RESULT: {seen!r}")


@probe("client current_context.response_annotations after a call")
def _client_response_annotations() -> Result:
    @zpyro.expose
    class Writer:
        def write(self) -> None:
            zpyro.current_context.response_annotations = {"RESP": b"x"}

    with serving(Writer()) as uri:
        zpyro.Proxy(uri).write()
        got = zpyro.current_context.response_annotations
        return ("ok", repr(got)) if got else ("missing", f"{got!r} (kept on the proxy instead)")


@probe("client current_context.annotations = {...} sent with the next call")
def _client_annotations() -> Result:
    @zpyro.expose
    class Reader:
        def read(self) -> Any:
            return zpyro.current_context.annotations.get("XTRA")

    with serving(Reader()) as uri:
        zpyro.current_context.annotations = {"XTRA": b"data"}
        got = zpyro.Proxy(uri).read()
        return ("ok", repr(got)) if got else ("IGNORED", "set in the client, not sent")


@probe("setting an unknown attribute on a proxy raises AttributeError")
def _setattr_unknown() -> Result:
    p = zpyro.Proxy(URI_)
    try:
        p.no_such_attribute = 1
    except AttributeError as exc:
        return ("ok", f"AttributeError: {exc}")
    return ("different", "becomes a local attribute silently (Pyro raises AttributeError)")


@probe("Proxy dunder: p.__len__() of an exposed __len__")
def _dunder() -> str:
    return repr(zpyro.Proxy(URI_).__len__())


@probe("len(p) (Pyro5 proxy forwards __len__ etc.)")
def _len() -> str:
    return repr(len(zpyro.Proxy(URI_)))  # type: ignore[arg-type]


@probe("copy.copy(proxy), pickle.dumps(proxy)")
def _copy_pickle() -> str:
    p = zpyro.Proxy(URI_)
    return f"{copy.copy(p) == p}, {pickle.loads(pickle.dumps(p)) == p}"


@probe("Proxy._pyroClaimOwnership() (Pyro5)")
def _claim() -> None:
    zpyro.Proxy(URI_)._pyroClaimOwnership()


@probe("proxy passed as a call argument arrives as a proxy")
def _proxy_arg() -> str:
    p = zpyro.Proxy(URI_)
    return type(p.echo(zpyro.Proxy(URI_))).__name__


@probe("set of proxies / dict keyed by proxies as argument (pickle)")
def _proxy_set() -> str:
    zpyro.config.SERIALIZERS_ACCEPTED = frozenset({"serpent", "pickle"})
    d = zpyro.Daemon(host="127.0.0.1")
    zpyro.config.reset(use_environment=False)
    with serving(daemon=d) as uri:
        p = zpyro.Proxy(uri)
        p._pyroSerializer = "pickle"
        return repr(p.echo({zpyro.Proxy(uri)}))[:60]


@probe("MAX_RETRIES retries a timed-out call")
def _retry_timeout() -> Result:
    @zpyro.expose
    class SlowOnce:
        calls = 0

        def go(self) -> int:
            SlowOnce.calls += 1
            if SlowOnce.calls == 1:
                time.sleep(1.0)
            return SlowOnce.calls

    with serving(SlowOnce()) as uri:
        p = zpyro.Proxy(uri)
        p._pyroTimeout = 0.3
        p._pyroMaxRetries = 1
        try:
            return ("ok", repr(p.go()))
        except errors.TimeoutError:
            return ("different", "TimeoutError: not retried")


# -- Daemon -------------------------------------------------------------------------------------

for kwargs in ({"nathost": "127.0.0.1", "natport": 5000},
               {"interface": type("Own", (zpyro.core.DaemonObject,), {})}):  # fmt: skip
    probe(f"Daemon({', '.join(kwargs)}=...)")(
        lambda kwargs=kwargs: zpyro.Daemon(host="127.0.0.1", **kwargs).close()
    )


@probe("Daemon(unixsocket='\\0abstract')")
def _abstract() -> str:
    d = zpyro.Daemon(unixsocket=f"\0zpyro-probe-{os.getpid()}")
    d.close()
    return d.location


for name in ("serveSimple", "requestLoop", "request_loop", "events", "sockets", "sock", "selector",
             "shutdown", "close", "combine", "validateHandshake", "clientDisconnect", "housekeeping",
             "annotations", "resetMetadataCache", "uriFor", "proxyFor", "locationStr",
             "natLocationStr", "objectsById", "transportServer", "handleRequest",
             "methodcall_error_handler"):  # fmt: skip
    probe(f"Daemon.{name}")(lambda name=name: has(f"zpyro:Daemon.{name}"))


@probe("daemon.requestLoop(loopCondition=...) keyword")
def _loop_condition() -> None:
    d = zpyro.Daemon(host="127.0.0.1")
    try:
        d.requestLoop(loopCondition=lambda: False)  # type: ignore[call-arg]
    finally:
        d.close()


@probe("daemon.register(obj, weak=True) (Pyro5)")
def _weak() -> None:
    d = zpyro.Daemon(host="127.0.0.1")
    try:
        d.register(Thing(), weak=True)  # type: ignore[call-arg]
    finally:
        d.close()


@probe("daemon.uriFor(obj, nat=False)")
def _urifor_nat() -> None:
    d = zpyro.Daemon(host="127.0.0.1")
    try:
        t = Thing()
        d.register(t)
        d.uriFor(t, nat=False)  # type: ignore[call-arg]
    finally:
        d.close()


@probe("registered object gets _pyroId / _pyroDaemon")
def _pyro_id() -> Result:
    got = zpyro.Proxy(URI_).whoami()
    return ("ok", repr(got)) if got[0] else ("missing", repr(got))


@probe("Daemon.validateHandshake override is called")
def _validate_called() -> Result:
    calls = []

    class D(zpyro.Daemon):
        def validateHandshake(self, conn: Any, data: Any) -> Any:  # noqa: N802
            calls.append(data)
            return "hi"

    with serving(daemon=D(host="127.0.0.1")) as uri:
        zpyro.Proxy(uri).echo(1)
        return ("ok", repr(calls)) if calls else ("IGNORED", "never called: every client accepted")


@probe("Daemon.clientDisconnect override is called")
def _disconnect_called() -> Result:
    calls = threading.Event()

    class D(zpyro.Daemon):
        def clientDisconnect(self, conn: Any) -> None:  # noqa: N802
            calls.set()

    with serving(daemon=D(host="127.0.0.1")) as uri:
        p = zpyro.Proxy(uri)
        p.echo(1)
        p._pyroRelease()
        return ("ok", "") if calls.wait(2) else ("IGNORED", "never called")


@probe("Daemon.annotations() override sent with responses")
def _daemon_annotations() -> Result:
    class D(zpyro.Daemon):
        def annotations(self) -> dict[str, Any]:
            return {"DAEM": b"x"}

    with serving(daemon=D(host="127.0.0.1")) as uri:
        p = zpyro.Proxy(uri)
        p.echo(1)
        got = getattr(p, "_pyroLastResponseAnnotations", None)
        return ("ok", repr(got)) if got else ("IGNORED", "never called")


@probe("Daemon.housekeeping() override is called")
def _housekeeping() -> Result:
    calls = threading.Event()

    class D(zpyro.Daemon):
        def housekeeping(self) -> None:
            calls.set()

    with serving(daemon=D(host="127.0.0.1")) as _:
        return ("ok", "") if calls.wait(3) else ("IGNORED", "never called in 3 s")


@probe("Daemon.sockets usable with select.select()")
def _select() -> str:
    import select

    d = zpyro.Daemon(host="127.0.0.1")
    try:
        select.select(d.sockets, [], [], 0)
        return f"{len(d.sockets)} objects; zmq sockets are edge-triggered fds"
    finally:
        d.close()


# -- current_context ----------------------------------------------------------------------------


@probe("current_context fields in a served call")
def _context_fields() -> str:
    return repr(zpyro.Proxy(URI_).context())


@probe("current_context.track_resource / untrack_resource")
def _track() -> None:
    zpyro.current_context.track_resource  # noqa: B018


for name in ("client_sock_addr", "seq", "msg_flags", "serializer_id", "to_global", "from_global"):
    probe(f"current_context.{name} (outside a call)")(
        lambda name=name: repr(getattr(zpyro.current_context, name))
    )


# -- decorators ---------------------------------------------------------------------------------


@probe("expose(ThirdPartyClass) used as a function, then registered")
def _expose_function() -> str:
    class Lib:
        def go(self) -> str:
            return "went"

    exposed = zpyro.expose(Lib)
    with serving(exposed()) as uri:
        return zpyro.Proxy(uri).go()


@probe("@expose on __len__ and p.__len__()")
def _expose_dunder() -> str:
    return repr(zpyro.Proxy(URI_).__len__())


@probe("behavior(instance_mode='session', instance_creator=f)")
def _behavior() -> None:
    zpyro.behavior(instance_mode="session", instance_creator=lambda cls: cls())


# -- futures, batch -----------------------------------------------------------------------------


@probe("Pyro4.Future(callable)(*args) -> FutureResult")
def _local_future() -> None:
    zpyro.Future(lambda: 1)()  # type: ignore[call-arg]


@probe("FutureResult.then chains: .value gives the chain's end")
def _then() -> Result:
    p = zpyro.Proxy(URI_)
    p._pyroAsync()
    f = p.echo(1)
    f.then(lambda v: v + 1)
    return (
        ("ok", "")
        if f.value == 2
        else ("different", f"then() returns a new Future; .value stays {f.value}")
    )


@probe("FutureResult.iferror(handler)")
def _iferror() -> None:
    zpyro.Future().iferror(print)  # type: ignore[attr-defined]


@probe("with batch(p) as b: queue; b() after the block runs the calls")
def _batch_with() -> Result:
    p = zpyro.Proxy(URI_)
    with zpyro.batch(p) as b:
        b.echo(1)
        b.echo(2)
    got = list(b())
    return (
        ("ok", "") if got == [1, 2] else ("different", f"queued calls thrown away on exit: {got!r}")
    )


# -- naming, tools -------------------------------------------------------------------------------

for name in ("startNS", "startNSloop", "start_ns", "start_ns_loop", "type_meta", "NameServer",
             "NameServerDaemon", "BroadcastServer", "lookup", "yplookup", "main"):  # fmt: skip
    probe(f"naming.{name}")(lambda name=name: has(f"zpyro.naming:{name}"))


@probe("locateNS(host, port, broadcast=False, hmac_key=None)")
def _locate_kwargs() -> None:
    try:
        zpyro.locateNS("127.0.0.1", 1, broadcast=False, hmac_key=None)  # type: ignore[call-arg]
    except errors.NamingError:
        pass


@probe("resolve(uri, delay_time=0.5) (Pyro5)")
def _resolve_delay() -> None:
    zpyro.resolve("PYRO:x@127.0.0.1:1", delay_time=0.5)  # type: ignore[call-arg]


@probe("type_meta(obj) format")
def _type_meta() -> str:
    from zpyro.naming import type_meta

    return repr(sorted(type_meta(Thing())))


for cmd in (["-m", "zpyro.naming", "--help"], ["-m", "zpyro.nsc", "listmeta_all", "x"],
            ["-m", "zpyro.nsc", "-v", "ping"], ["-m", "zpyro.nsc", "-u", "/x", "ping"],
            ["-m", "zpyro.echo", "-N", "--help"], ["-m", "zpyro.echo", "-H", "127.0.0.1", "--help"],
            ["-m", "zpyro.broker", "-n", "127.0.0.1", "--help"],
            ["-m", "zpyro.broker", "-s", "sql:x", "--help"],
            ["-m", "zpyro.configure"]):  # fmt: skip

    def run_command(cmd: list[str] = cmd) -> str:
        done = subprocess.run(
            [sys.executable, *cmd],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            input="",
        )
        text = (done.stderr or done.stdout).strip().splitlines()
        return f"exit {done.returncode}: {text[-1][:100] if text else ''}"

    probe(f"python {' '.join(cmd)}")(run_command)


# -- util / errors ------------------------------------------------------------------------------

for name in ("SerializerBase", "getPyroTraceback", "formatTraceback", "excepthook",
             "get_serializer", "get_serializer_by_id", "all_exceptions", "get_exposed_members",
             "is_private_attribute"):  # fmt: skip
    probe(f"util.{name}")(lambda name=name: has(f"zpyro.util:{name}"))


@probe("util.getPyroTraceback(ex_type, ex_value, ex_tb) (Pyro4 signature)")
def _get_tb() -> None:
    try:
        zpyro.Proxy(URI_).fail()
    except ValueError:
        zpyro.util.getPyroTraceback(*sys.exc_info())  # type: ignore[call-arg]


@probe("exception._pyroTraceback")
def _pyro_traceback() -> str:
    try:
        zpyro.Proxy(URI_).fail()
    except ValueError as exc:
        return f"{len(exc._pyroTraceback)} lines"  # type: ignore[attr-defined]
    return ""


@probe("DETAILED_TRACEBACK=True shows locals in the remote traceback")
def _detailed() -> Result:
    zpyro.config.DETAILED_TRACEBACK = True  # read when the error happens, as in Pyro
    try:
        with serving() as uri:
            try:
                zpyro.Proxy(uri).fail()
            except ValueError as exc:
                text = "".join(zpyro.get_remote_traceback(exc))
                if "4242" in text:
                    return ("ok", "")
                return ("IGNORED", "no local values in the remote traceback")
    finally:
        zpyro.config.reset(use_environment=False)
    return ("different", "no error")


for name in ("PyroError", "CommunicationError", "ConnectionClosedError", "TimeoutError",
             "ProtocolError", "MessageTooLargeError", "NamingError", "DaemonError",
             "SecurityError", "SerializeError"):  # fmt: skip

    def error_class(name: str = name) -> str:
        cls = getattr(errors, name)
        return "bases " + ", ".join(b.__name__ for b in cls.__mro__[1:-2])

    probe(f"errors.{name}")(error_class)


@probe("unknown remote exception class (serpent)")
def _unknown_exception() -> str:
    class Custom(Exception):
        pass

    @zpyro.expose
    class Raiser:
        def go(self) -> None:
            raise Custom("x")

    with serving(Raiser()) as uri:
        try:
            zpyro.Proxy(uri).go()
        except Exception as exc:
            return type(exc).__name__
    return ""


@probe("unregistered class returned (serpent)")
def _unregistered_class() -> str:
    class Plain:
        def __init__(self) -> None:
            self.a = 1

    @zpyro.expose
    class Giver:
        def give(self) -> Any:
            return Plain()

    with serving(Giver()) as uri:
        return repr(zpyro.Proxy(uri).give())[:80]


@probe("marshal accepted by a default daemon (Pyro4: yes)")
def _marshal_default() -> str:
    p = zpyro.Proxy(URI_)
    p._pyroSerializer = "marshal"
    return repr(p.echo(1))


@probe("Proxy to a dead daemon between calls -> ConnectionClosedError")
def _dead_between_calls() -> str:
    s, uri = serve(Thing(), daemon=zpyro.Daemon(host="127.0.0.1"))
    p = zpyro.Proxy(uri)
    p.echo(1)
    s.stop()
    time.sleep(0.3)
    try:
        p.echo(2)
    except errors.ZPyroError as exc:
        return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    return "no error"


served.stop()

width = max(len(item) for item, _ in RESULTS)
for item, result in RESULTS:
    print(f"{item.ljust(width)} | {result}")
