"""Pyro's daemon API on zpyro, used as Pyro programs use it (``import zpyro as Pyro4``):
serveSimple and serve with Pyro's lines, requestLoop(loopCondition=), NAT, uriFor(nat=),
combine, register(weak=True), connected_socket, methodcall_error_handler, annotations(),
housekeeping(), objectsById, resetMetadataCache, abstract unix sockets, select() over
daemon.sockets, and the Pyro attributes zpyro refuses with the reason."""

from __future__ import annotations

import gc
import os
import pickle
import select
import socket
import subprocess
import threading
from typing import Any

import pytest
from conftest import PYTHON, ROOT, ServedDaemon, scaled, serving

import zpyro as Pyro4
from zpyro.wire import DAEMON_OBJECT_ID

pytestmark = pytest.mark.timeout(60)


@Pyro4.expose
class Thing:
    def __init__(self, name: str = "thing") -> None:
        self.name = name

    def who(self) -> str:
        return self.name

    def fail(self) -> None:
        raise ValueError("failed on purpose")


def test_serve_simple_prints_pyros_lines_and_serves() -> None:
    program = (
        "import zpyro as Pyro4\n"
        "@Pyro4.expose\n"
        "class Calculator(object):\n"
        "    def add(self, a, b):\n"
        "        return a + b\n"
        "Pyro4.Daemon.serveSimple({Calculator: 'example.calculator'}, host='127.0.0.1', ns=False)\n"
    )
    proc = subprocess.Popen(
        [PYTHON, "-u", "-c", program], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(3)]
        assert lines[0] == "Object <class '__main__.Calculator'>:"
        assert lines[1].startswith("    uri = PYRO:example.calculator@127.0.0.1:")
        assert lines[2] == "Pyro daemon running."
        with Pyro4.Proxy(lines[1].split("=", 1)[1].strip()) as calculator:
            assert calculator.add(2, 40) == 42
    finally:
        proc.terminate()
        proc.wait(scaled(10))


def test_request_loop_takes_pyros_loop_condition_keyword() -> None:
    Pyro4.config.POLL_TIMEOUT = 0.05
    stop = threading.Event()
    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        uri = daemon.register(Thing())
        loop = threading.Thread(
            target=daemon.requestLoop, kwargs={"loopCondition": lambda: not stop.is_set()}
        )
        loop.start()
        assert Pyro4.Proxy(uri).who() == "thing"
        stop.set()
        loop.join(scaled(10))
        assert not loop.is_alive()


def test_nat_addresses_in_uris_and_uri_for_nat_false() -> None:
    with Pyro4.Daemon(host="127.0.0.1", nathost="192.0.2.7", natport=4242) as daemon:
        thing = Thing()
        uri = daemon.register(thing, "t")
        assert str(uri) == "PYRO:t@192.0.2.7:4242"
        assert daemon.natLocationStr == "192.0.2.7:4242"
        assert daemon.uriFor(thing) == uri == daemon.uriFor("t")
        internal = daemon.uriFor(thing, nat=False)
        assert internal.location == daemon.locationStr != uri.location
        assert daemon.proxyFor(thing, nat=False)._pyroUri == internal
        assert "NAT 192.0.2.7:4242" in daemon._info()
        served = ServedDaemon(daemon)
        try:
            assert Pyro4.Proxy(internal).who() == "thing"
        finally:
            served.daemon.shutdown()
            served.thread.join(scaled(10))


def test_nat_from_config_and_natport_zero_means_the_bound_port() -> None:
    Pyro4.config.NATHOST = "nat.example"
    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        port = daemon.locationStr.rsplit(":", 1)[1]
        assert daemon.natLocationStr == f"nat.example:{port}"
        assert daemon.register(Thing(), "t").location == f"nat.example:{port}"
    Pyro4.config.NATHOST = ""
    with pytest.raises(ValueError, match="natport with nathost"):
        Pyro4.Daemon(host="127.0.0.1", nathost="x")
    with pytest.raises(ValueError, match="unixsocket"):
        Pyro4.Daemon(unixsocket="/tmp/never", nathost="x", natport=1)


def test_combine_serves_both_daemons_with_one_loop() -> None:
    daemon = Pyro4.Daemon(host="127.0.0.1")
    other = Pyro4.Daemon(host="127.0.0.1")
    daemon.combine(other)
    uri = daemon.register(Thing("first"))
    other_uri = other.register(Thing("second"))
    assert set(other.sockets) <= set(daemon.sockets)
    loop = threading.Thread(target=daemon.requestLoop)
    loop.start()
    try:
        assert Pyro4.Proxy(uri).who() == "first"
        assert Pyro4.Proxy(other_uri).who() == "second"
    finally:
        daemon.shutdown()
        loop.join(scaled(10))
    assert not loop.is_alive()
    with pytest.raises(Pyro4.errors.DaemonError):
        daemon.combine(daemon)
    daemon.close()
    other.close()


def test_weakly_registered_objects_go_when_collected() -> None:
    with serving() as served:
        thing = Thing("weak")
        uri = served.daemon.register(thing, "weak", weak=True)
        assert Pyro4.Proxy(uri).who() == "weak"
        assert "weak" in served.daemon.objectsById
        del thing
        gc.collect()
        assert "weak" not in served.daemon.objectsById
        with pytest.raises(Pyro4.errors.DaemonError, match="unknown object"):
            Pyro4.Proxy(uri).who()
        with pytest.raises(Pyro4.errors.DaemonError, match="weakly"):
            served.daemon.register(1, "int", weak=True)


def test_objects_by_id_is_a_read_only_view() -> None:
    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        thing = Thing()
        daemon.register(thing, "t")
        daemon.register(Thing, "cls")
        view = daemon.objectsById
        assert view["t"] is thing and view["cls"] is Thing and "Pyro.Daemon" in view
        with pytest.raises(TypeError):
            view["x"] = thing  # type: ignore[index]


def test_connected_socket_pair_between_threads() -> None:
    server_end, client_end = socket.socketpair()
    daemon = Pyro4.core.Daemon(connected_socket=server_end)
    daemon.register(Thing("paired"), "example.thing")
    loop = threading.Thread(target=daemon.requestLoop)
    loop.start()
    try:
        with Pyro4.core.Proxy("example.thing", connected_socket=client_end) as thing:
            assert thing.who() == "paired"
            assert thing.who() == "paired"
    finally:
        loop.join(scaled(10))  # the proxy's release ended the connection, and the loop with it
        daemon.close()
    assert not loop.is_alive()


def test_connected_socket_between_parent_and_child() -> None:
    parent_end, child_end = socket.socketpair()
    program = (
        "import socket, sys, zpyro\n"
        "sock = socket.socket(fileno=int(sys.argv[1]))\n"
        "@zpyro.expose\n"
        "class Child:\n"
        "    def pid(self):\n"
        "        import os; return os.getpid()\n"
        "daemon = zpyro.Daemon(connected_socket=sock)\n"
        "daemon.register(Child(), 'child')\n"
        "daemon.requestLoop()\n"
        "daemon.close()\n"
        "print('child done', flush=True)\n"
    )
    child = subprocess.Popen(
        [PYTHON, "-c", program, str(child_end.fileno())],
        pass_fds=[child_end.fileno()],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    child_end.close()
    try:
        proxy = Pyro4.Proxy("child", connected_socket=parent_end)
        assert proxy.pid() == child.pid
        proxy._pyroRelease()  # the connection ends: so does the child's request loop
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "child done"
        assert child.wait(scaled(20)) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_connected_socket_must_be_a_stream_socket() -> None:
    with pytest.raises(TypeError):
        Pyro4.Daemon(connected_socket=3)
    a, b = socket.socketpair(type=socket.SOCK_DGRAM)
    with a, b, pytest.raises(ValueError, match="stream"):
        Pyro4.Proxy("x", connected_socket=a)


def test_methodcall_error_handler_gets_pyro5s_arguments() -> None:
    seen: list[Any] = []

    def handler(
        daemon: Any, client_sock: Any, method: Any, args: Any, kwargs: Any, exc: Any
    ) -> None:
        seen.append((daemon, client_sock, method.__name__, args, kwargs, type(exc)))

    with serving() as served:
        served.daemon.methodcall_error_handler = handler
        assert served.daemon.methodcall_error_handler is handler
        uri = served.register(Thing())
        with Pyro4.Proxy(uri) as p, pytest.raises(ValueError, match="on purpose"):
            p.fail()
    assert len(seen) == 1
    daemon, address, method, args, kwargs, kind = seen[0]
    assert daemon is served.daemon and address[0] == "127.0.0.1"
    assert (method, tuple(args), kwargs, kind) == ("fail", (), {}, ValueError)


class AnnotatingDaemon(Pyro4.Daemon):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.housekept = threading.Event()

    def annotations(self) -> dict[str, Any]:
        return {"SRVR": b"zpyro", "SEEN": b"daemon"}

    def housekeeping(self) -> None:
        self.housekept.set()


def test_daemon_annotations_and_housekeeping_are_called() -> None:
    @Pyro4.expose
    class Annotated:
        def call(self) -> str:
            Pyro4.current_context.response_annotations["SEEN"] = b"method"
            return "done"

    daemon = AnnotatingDaemon(host="127.0.0.1")
    uri = daemon.register(Annotated())
    served = ServedDaemon(daemon)
    try:
        with Pyro4.Proxy(uri) as p:
            assert p.call() == "done"
            assert p._pyroLastResponseAnnotations == {"SRVR": b"zpyro", "SEEN": b"method"}
        assert daemon.housekept.wait(scaled(5))  # about once a second
    finally:
        served.stop()


def test_reset_metadata_cache_shows_methods_added_at_run_time() -> None:
    @Pyro4.expose
    class Growing:
        def first(self) -> int:
            return 1

    with serving() as served:
        thing = Growing()
        uri = served.register(thing)
        assert Pyro4.Proxy(uri).first() == 1

        def second(self: Any) -> int:
            return 2

        Growing.second = Pyro4.expose(second)  # type: ignore[attr-defined]
        served.daemon.resetMetadataCache(thing)
        with Pyro4.Proxy(uri) as p:
            assert p.second() == 2


def test_abstract_unix_socket_names() -> None:
    name = f"\0zpyro-test-{os.getpid()}"
    with Pyro4.Daemon(unixsocket=name) as daemon:
        uri = daemon.register(Thing("abstract"), "t")
        assert str(uri) == f"PYRO:t@./u:{name}" and daemon.locationStr == f"./u:{name}"
        served = ServedDaemon(daemon)
        try:
            assert Pyro4.Proxy(f"PYRO:t@./u:{name}").who() == "abstract"
            assert Pyro4.Proxy(uri).who() == "abstract"
        finally:
            served.daemon.shutdown()
            served.thread.join(scaled(10))


def test_select_over_daemon_sockets_serves_every_call() -> None:
    """zmq's descriptors are edge-triggered: events() takes all that waits, so a select() loop
    over daemon.sockets misses nothing even with many calls in flight."""
    daemon = Pyro4.Daemon(host="127.0.0.1")
    uri = daemon.register(Thing("selected"))
    results: list[Any] = []
    done = threading.Event()

    def client() -> None:
        with Pyro4.Proxy(uri) as p:
            futures = [Pyro4.asyncproxy(p).who() for _ in range(200)]
            results.extend(f.result(scaled(20)) for f in futures)
        done.set()

    thread = threading.Thread(target=client)
    thread.start()
    try:
        while not done.is_set():
            ready, _, _ = select.select(daemon.sockets, [], [], 0.1)
            if ready:
                daemon.events(ready)
    finally:
        thread.join(scaled(20))
        daemon.close()
    assert results == ["selected"] * 200


def test_pyro_attributes_without_counterpart_are_refused_with_the_reason() -> None:
    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        for name in ("sock", "selector", "transportServer", "handleRequest"):
            with pytest.raises(AttributeError, match="daemon.sockets"):
                getattr(daemon, name)
        with pytest.raises(Pyro4.errors.PyroError, match="cannot be serialized"):
            pickle.dumps(daemon)
        with pytest.raises(TypeError, match="DaemonObject"):
            Pyro4.Daemon(host="127.0.0.1", interface=object)  # type: ignore[arg-type]


def test_a_custom_daemon_object_interface() -> None:
    @Pyro4.expose
    class Extended(Pyro4.core.DaemonObject):
        def extra(self) -> str:
            return "extra"

    with serving(interface=Extended) as served:
        own = Pyro4.Proxy(f"PYRO:{DAEMON_OBJECT_ID}@{served.daemon.locationStr}")
        assert own.extra() == "extra"
        own.ping()
        assert own.get_metadata(DAEMON_OBJECT_ID, as_lists=True)["methods"]


def test_register_sets_pyro_id_and_daemon_and_unregister_removes_them() -> None:
    class Registered:
        pass

    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        thing = Thing()
        daemon.register(thing, "t")
        assert thing._pyroId == "t" and thing._pyroDaemon is daemon  # type: ignore[attr-defined]
        daemon.unregister(thing)
        assert not hasattr(thing, "_pyroId") and not hasattr(thing, "_pyroDaemon")
        daemon.register(Registered, "cls")
        assert Registered._pyroId == "cls"  # type: ignore[attr-defined]
        assert Registered()._pyroDaemon is daemon  # type: ignore[attr-defined]
        daemon.unregister("cls")
        assert not hasattr(Registered, "_pyroDaemon")
        daemon.register(thing, "again")
    assert not hasattr(thing, "_pyroDaemon")  # a closed daemon leaves nothing behind


def test_pyro5_serve_prints_pyros_lines_too(capsys: pytest.CaptureFixture[str]) -> None:
    daemon = Pyro4.Daemon(host="127.0.0.1")
    thread = threading.Thread(
        target=Pyro4.serve,
        args=({Thing: "example.thing"},),
        kwargs={"daemon": daemon, "use_ns": False},
    )
    thread.start()
    try:
        for _ in range(int(scaled(500))):  # registered, and then served
            if "example.thing" in daemon.objectsById:
                break
            threading.Event().wait(0.01)
        assert Pyro4.Proxy(daemon.uriFor("example.thing")).who() == "thing"
    finally:
        daemon.shutdown()
        thread.join(scaled(10))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Object {Thing!r}:"
    assert lines[1] == f"    uri = PYRO:example.thing@{daemon.locationStr}"
    assert lines[2] == "Pyro daemon running."
