"""The name server as Pyro users run it, against real processes: ``zpyro-ns`` / ``python -m
zpyro.naming`` with Pyro's options and lines, ``startNS``/``startNSloop`` in-process, lookups
that wait (``delay_time``, ``NS_LOOKUP_DELAY``), the name server's own class tags, and
``zpyro-nsc -u`` -- each used the way a Pyro program uses it (``import zpyro as Pyro4``)."""

from __future__ import annotations

import importlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, ROOT, scaled

import zpyro
import zpyro as Pyro4
import zpyro.naming
from zpyro import errors

pytestmark = pytest.mark.timeout(90)

NS = [PYTHON, "-m", "zpyro.naming"]
ZPYRO_NS = [str(Path(sys.executable).with_name("zpyro-ns"))]


class NameServerProcess:
    """A zpyro-ns subprocess whose ``URI = `` line (or ``external URI = ``) has been read."""

    def __init__(self, spawned: Any, marker: str = "URI = ") -> None:
        self.spawned = spawned
        line = spawned.wait_for(marker)
        self.uri = Pyro4.URI(line.split("=", 1)[1].strip())
        self.lines = list(spawned.output)

    def stop(self) -> str:
        """SIGTERM, as a service manager stops it; its last words."""
        self.spawned.proc.send_signal(signal.SIGTERM)
        assert self.spawned.proc.wait(scaled(15)) == 0
        return self.spawned.wait_for("NS shut down.")


def start_ns(spawn: Any, *args: str, command: list[str] = NS, env: Any = None) -> Any:
    return NameServerProcess(spawn([*command, *args], env=env))


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYRO_HMAC_KEY"}
    env.update({"PYTHONPATH": str(ROOT), **kwargs.pop("env", {})})
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=scaled(30), **kwargs
    )


# -- zpyro-ns: Pyro's options and printed lines -----------------------------------------------------


def test_python_m_naming_prints_pyros_lines_and_serves_pyro_programs(spawn: Any) -> None:
    ns_proc = start_ns(spawn, "-n", "127.0.0.1", "-p", "0", "-x")
    uri = ns_proc.uri
    assert uri.object == "Pyro.NameServer" and uri.host == "127.0.0.1" and uri.port
    lines = [line.rstrip("\n") for line in ns_proc.lines]
    assert f"NS running on 127.0.0.1:{uri.port} (127.0.0.1)" in lines
    assert f"URI = {uri}" in lines
    assert not any("broadcast" in line for line in lines)  # -x: nothing to say about it
    ns = Pyro4.locateNS("127.0.0.1", uri.port)  # the tutorial's client side
    ns.register("example.thing", "PYRO:thing@127.0.0.1:5001")
    assert Pyro4.resolve(f"PYRONAME:example.thing@127.0.0.1:{uri.port}") == Pyro4.URI(
        "PYRO:thing@127.0.0.1:5001"
    )
    ns._pyroRelease()
    assert ns_proc.stop() == "NS shut down.\n"


def test_the_zpyro_ns_command_and_its_broadcast_note(spawn: Any) -> None:
    ns_proc = start_ns(
        spawn, "-n", "127.0.0.1", "-p", "0", "--bchost", "127.0.0.1", "--bcport", "0",
        command=ZPYRO_NS,
    )  # fmt: skip
    note = "Not starting broadcast server: zpyro never broadcasts"
    assert any(line.startswith(note) for line in ns_proc.lines), ns_proc.lines
    with Pyro4.locateNS("127.0.0.1", ns_proc.uri.port) as ns:
        ns.ping()
    ns_proc.stop()


def test_port_0_takes_a_free_announcement_port_too(spawn: Any) -> None:
    ns_proc = start_ns(spawn, "-n", "127.0.0.1", "-p", "0", "-x")
    line = next(x for x in ns_proc.lines if x.startswith("Announcements on "))
    pub = zpyro.URI(f"PYRO:x@{line.split()[2]}")
    assert pub.host == "127.0.0.1" and pub.port not in (0, zpyro.config.NS_PUB_PORT)
    port = ns_proc.uri.port
    with zpyro.NameWatcher("127.0.0.1", port, pub.port) as watcher:  # the feed is really there
        with Pyro4.locateNS("127.0.0.1", port) as ns:
            ns.register("example.fresh", "PYRO:f@127.0.0.1:5002")
        assert watcher.wait_for(lambda names: "example.fresh" in names, scaled(10))
    ns_proc.stop()


def test_sql_storage_survives_a_restart_and_says_so(spawn: Any, tmp_path: Path) -> None:
    db = tmp_path / "names.sqlite"
    first = start_ns(spawn, "-n", "127.0.0.1", "-p", "0", "-x", "-s", f"sql:{db}")
    with Pyro4.locateNS("127.0.0.1", first.uri.port) as ns:
        ns.register("example.kept", "PYRO:kept@127.0.0.1:4444", metadata={"kept"})
    first.stop()
    second = start_ns(spawn, "-n", "127.0.0.1", "-p", "0", "-x", "-s", f"sqlite:{db}")
    assert "Persistent store contains 2 existing registrations.\n" in second.lines
    with Pyro4.locateNS("127.0.0.1", second.uri.port) as ns:
        uri, tags = ns.lookup("example.kept", return_metadata=True)
        assert (str(uri), set(tags)) == ("PYRO:kept@127.0.0.1:4444", {"kept"})
    second.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "dbm:/tmp/x"], "storage dbm: is not supported (it cannot keep metadata)"),
        (["-s", "mongo:x"], "invalid storage type 'mongo:x'"),
        (["-k", "secret"], "-k: HMAC keys are not supported: zpyro authenticates and encrypts"),
    ],
)
def test_what_zpyro_ns_refuses_it_refuses_loudly(args: list[str], message: str) -> None:
    result = run([*NS, "-n", "127.0.0.1", "-p", "0", "-x", *args])
    assert result.returncode != 0 and result.stdout == ""
    assert message in result.stderr, result.stderr


def test_an_hmac_key_in_the_environment_is_refused_too() -> None:
    result = run([*NS, "-n", "127.0.0.1", "-p", "0"], env={"PYRO_HMAC_KEY": "secret"})
    assert result.returncode == 2 and "PYRO_HMAC_KEY: HMAC keys are not supported" in result.stderr


def test_nat_prints_internal_and_external_uris(spawn: Any) -> None:
    ns_proc = NameServerProcess(
        spawn([*NS, "-n", "127.0.0.1", "-p", "0", "-x", "--nathost", "ns.example.org",
               "--natport", "19090"]),
        marker="external URI = ",
    )  # fmt: skip
    assert str(ns_proc.uri) == "PYRO:Pyro.NameServer@ns.example.org:19090"
    internal = next(x for x in ns_proc.lines if x.startswith("internal URI = "))
    port = zpyro.URI(internal.split("=", 1)[1].strip()).port
    with Pyro4.locateNS("127.0.0.1", port) as ns:  # reached where it is bound...
        # ...it names itself by the address clients outside see
        assert ns.lookup("Pyro.NameServer") == ns_proc.uri
    ns_proc.stop()


def test_a_unix_socket_name_server_and_nsc_u(spawn: Any, tmp_path: Path) -> None:
    path = tmp_path / "ns.sock"
    ns_proc = start_ns(spawn, "-u", str(path))
    assert str(ns_proc.uri) == f"PYRO:Pyro.NameServer@./u:{path}"
    assert "NS running on ./u:" in "".join(ns_proc.lines)
    assert "(Unix domain socket)" in "".join(ns_proc.lines)
    nsc = [PYTHON, "-m", "zpyro.nsc", "-u", str(path)]
    assert run([*nsc, "register", "example.ipc", "PYRO:x@127.0.0.1:5003"]).returncode == 0
    listing = run([*nsc, "list"]).stdout.splitlines()
    assert "example.ipc --> PYRO:x@127.0.0.1:5003" in listing
    with Pyro4.locateNS(f"./u:{path}") as ns:
        assert str(ns.lookup("example.ipc")) == "PYRO:x@127.0.0.1:5003"
    assert str(Pyro4.resolve(f"PYRONAME:example.ipc@./u:{path}")) == "PYRO:x@127.0.0.1:5003"
    ns_proc.stop()


# -- the name server's own tags ---------------------------------------------------------------------


def test_pyro_programs_find_the_name_server_by_its_class_tag(spawn: Any) -> None:
    ns_proc = start_ns(spawn, "-n", "127.0.0.1", "-p", "0", "-x")
    port = ns_proc.uri.port
    with Pyro4.locateNS("127.0.0.1", port) as ns:
        for tag in ("class:Pyro4.naming.NameServer", "class:Pyro5.nameserver.NameServer"):
            assert list(ns.list(metadata_all={tag})) == ["Pyro.NameServer"]
            assert list(ns.yplookup(meta_any=[tag], return_metadata=False)) == ["Pyro.NameServer"]
    with Pyro4.Proxy(f"PYROMETA:class:Pyro4.naming.NameServer@127.0.0.1:{port}") as found:
        assert found.count() == 1  # the name server itself, found by its tag
    ns_proc.stop()


# -- lookups that wait --------------------------------------------------------------------------------


@pytest.fixture
def nameserver() -> Any:
    """An in-process name server (startNS) served by a thread, as Pyro programs run one."""
    uri, daemon, bcserver = Pyro4.naming.startNS(host="127.0.0.1", port=0, enableBroadcast=False)
    assert bcserver is None
    thread = threading.Thread(target=daemon.requestLoop)
    thread.start()
    yield uri, daemon
    daemon.shutdown()
    thread.join(scaled(10))
    daemon.close()
    assert not thread.is_alive()


def test_lookup_with_delay_time_is_answered_when_the_name_appears(nameserver: Any) -> None:
    uri, _ = nameserver
    with Pyro4.locateNS(uri.host, uri.port) as ns, Pyro4.locateNS(uri.host, uri.port) as other:
        waiting = Pyro4.asyncproxy(Pyro4.Proxy(uri))
        started = time.monotonic()
        late = waiting.lookup("example.late", delay_time=scaled(60))
        waiting.ping().wait(scaled(10))  # (same connection, in order: the lookup is parked now)
        assert not late.done()
        assert other.count() == 1  # the name server serves others meanwhile
        other.register("example.late", "PYRO:late@127.0.0.1:5004")
        assert str(late.result(timeout=scaled(10))) == "PYRO:late@127.0.0.1:5004"
        assert time.monotonic() - started < scaled(20)  # woken by the registration
        with pytest.raises(errors.NamingError, match="example.never"):
            ns.lookup("example.never", delay_time=0.2)
        waiting._pyroRelease()


def test_ns_lookup_delay_lets_a_pyroname_proxy_wait_for_its_server(nameserver: Any) -> None:
    uri, _ = nameserver
    Pyro4.config.NS_LOOKUP_DELAY = scaled(60)
    answers: list[Any] = []

    def client() -> None:
        with Pyro4.Proxy(f"PYRONAME:example.slowstart@{uri.host}:{uri.port}") as p:
            answers.append(p.ping())

    thread = threading.Thread(target=client)
    thread.start()
    with zpyro.Daemon(host="127.0.0.1") as daemon:

        @Pyro4.expose
        class Late:
            def ping(self) -> str:
                return "pong"

        server = threading.Thread(target=daemon.requestLoop)
        server.start()
        with Pyro4.locateNS(uri.host, uri.port) as ns:
            ns.register("example.slowstart", daemon.register(Late()))
        thread.join(scaled(20))
        daemon.shutdown()
        server.join(scaled(10))
    assert answers == ["pong"]


def test_pyro5_lookup_helpers_and_resolve_delay(nameserver: Any) -> None:
    uri, daemon = nameserver
    with Pyro4.locateNS(uri.host, uri.port) as ns:
        threading.Timer(0.2, daemon.nameserver.register, ("example.soon", "PYRO:s@h:1")).start()
        assert str(zpyro.naming.lookup(ns, "example.soon", delay_time=scaled(30))) == "PYRO:s@h:1"
        daemon.nameserver.register("tagged", "PYRO:t@h:2", metadata={"gpu"})
        found = zpyro.naming.yplookup(ns, meta_all={"gpu"}, delay_time=1)
        assert {name: str(u) for name, (u, _) in found.items()} == {"tagged": "PYRO:t@h:2"}
        assert zpyro.naming.yplookup(ns, meta_all={"tpu"}, delay_time=0.1) == {}
        at = f"@{uri.host}:{uri.port}"
        with pytest.raises(errors.NamingError):
            zpyro.resolve(f"PYRONAME:example.missing{at}", delay_time=0.1)
        assert str(zpyro.resolve(f"PYROMETA:gpu{at}", delay_time=0.1)) == "PYRO:t@h:2"
        batch = Pyro4.batch(ns)
        batch.lookup("example.absent", delay_time=5)
        with pytest.raises(errors.NamingError, match="cannot wait inside a batch"):
            list(batch())


# -- startNS / startNSloop -----------------------------------------------------------------------------


def test_start_ns_in_process_is_the_whole_name_server(nameserver: Any) -> None:
    uri, daemon = nameserver
    assert isinstance(uri, Pyro4.URI) and uri.host == "127.0.0.1"
    assert daemon.uriFor(daemon.nameserver) == uri and daemon.locationStr == uri.location
    assert daemon.natLocationStr is None
    # a change made in this process, while a thread serves: as if made remotely
    daemon.nameserver.register("example.direct", "PYRO:d@127.0.0.1:5005")
    with Pyro4.locateNS("127.0.0.1", uri.port) as ns:
        assert str(ns.lookup("example.direct")) == "PYRO:d@127.0.0.1:5005"
        assert ns.count() == 2
    with zpyro.NameWatcher("127.0.0.1", uri.port, zpyro.URI(f"PYRO:x@{daemon.pub_location}").port):
        pass  # its announcements are published too
    with pytest.raises(errors.DaemonError, match="already being served"):
        daemon.requestLoop()


def test_start_ns_served_by_your_own_select_loop() -> None:
    uri, ns_daemon, _ = Pyro4.naming.startNS(host="127.0.0.1", port=0, enableBroadcast=False)
    answers: list[int] = []
    done = threading.Event()

    def client() -> None:
        with Pyro4.locateNS("127.0.0.1", uri.port) as ns:
            ns.register("example.loop", "PYRO:l@127.0.0.1:5006")
            answers.append(ns.count())
        done.set()

    threading.Thread(target=client, daemon=True).start()
    deadline = time.monotonic() + scaled(20)
    while not done.is_set() and time.monotonic() < deadline:
        ready, _, _ = select.select(ns_daemon.sockets, [], [], 0.5)
        if ready:
            ns_daemon.events(ready)
    ns_daemon.close()
    assert answers == [2]
    with pytest.raises(errors.DaemonError, match="closed"):
        ns_daemon.requestLoop()


def test_start_ns_refuses_what_it_cannot_do() -> None:
    with pytest.raises(errors.SecurityError, match="CURVE"):
        Pyro4.naming.startNS(host="127.0.0.1", port=0, hmac=b"secret")
    with pytest.raises(ValueError, match="dbm"):
        Pyro4.naming.startNS(host="127.0.0.1", port=0, storage="dbm:/tmp/names")
    with pytest.raises(AttributeError, match="never broadcasts"):
        Pyro4.naming.BroadcastServer  # noqa: B018
    with pytest.raises(AttributeError, match="leases"):
        Pyro4.naming.AutoCleaner  # noqa: B018
    with pytest.raises(ImportError, match="storage by name"):
        importlib.import_module("zpyro.naming_storage")  # Pyro4.naming_storage


START_NS_LOOP = """\
import sys
import zpyro as Pyro4
loop = Pyro4.start_ns_loop if sys.argv[1] == "start_ns_loop" else Pyro4.naming.startNSloop
loop(host="127.0.0.1", port=0, enableBroadcast=False)
print("returned")
"""


@pytest.mark.parametrize("spelling", ["startNSloop", "start_ns_loop"])
def test_start_ns_loop_serves_until_interrupted(spawn: Any, spelling: str) -> None:
    ns_proc = NameServerProcess(spawn([PYTHON, "-c", START_NS_LOOP, spelling]))
    with Pyro4.locateNS("127.0.0.1", ns_proc.uri.port) as ns:
        ns.ping()
    ns_proc.spawned.proc.send_signal(signal.SIGINT)  # Ctrl-C
    ns_proc.spawned.wait_for("NS shut down.")
    ns_proc.spawned.wait_for("returned")
    assert ns_proc.spawned.proc.wait(scaled(10)) == 0


def test_python_m_zpyro_nameserver_is_pyro5s_spelling(spawn: Any) -> None:
    ns_proc = start_ns(
        spawn, "-n", "127.0.0.1", "-p", "0", "-x", command=[PYTHON, "-m", "zpyro.nameserver"]
    )
    from zpyro import nameserver

    assert nameserver.NameServer is zpyro.naming.NameServer
    assert nameserver.start_ns is zpyro.start_ns is zpyro.naming.startNS
    ns_proc.stop()


def test_type_meta_as_pyro() -> None:
    class Base:
        pass

    class Printer(Base, dict):  # type: ignore[type-arg]
        pass

    assert zpyro.naming.type_meta(Printer) == {
        f"class:{__name__}.Printer",
        f"class:{__name__}.Base",
    }  # no builtins (dict, object)
    assert zpyro.type_meta(Printer(), prefix="kind:") == {
        f"kind:{__name__}.Printer",
        f"kind:{__name__}.Base",
    }
