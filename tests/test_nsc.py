"""zpyro-nsc: the real command (``python -m zpyro.nsc``) against a real broker subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from typing import Any

import pytest
from conftest import PYTHON, ROOT, BrokerProcess, scaled

import zpyro

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def run_nsc(
    broker: BrokerProcess | None,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    where = ["-n", broker.host, "-p", str(broker.port)] if broker is not None else []
    inherited = {k: v for k, v in os.environ.items() if k != "PYRO_HMAC_KEY"}
    full_env = {**inherited, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [PYTHON, "-m", "zpyro.nsc", *where, *args],
        cwd=ROOT,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )


def ns_of(broker: BrokerProcess) -> Any:
    return zpyro.locate_ns(broker.host, broker.port)


def free_port() -> int:
    """A port where nothing listens (bound by us, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ping(broker: BrokerProcess) -> None:
    result = run_nsc(broker, "ping")
    assert (result.returncode, result.stdout, result.stderr) == (0, "Name server ping ok.\n", "")


# pyro4-nsc's lines, as the real Pyro4 4.82 prints them (a title follows START/END LIST after a
# space, also when there is none; tags in a list under their entry)
NS_TAGS = "    metadata: ['class:Pyro4.naming.NameServer', 'class:Pyro5.nameserver.NameServer']\n"


def test_list_has_exactly_pyros_shape(broker: BrokerProcess) -> None:
    with ns_of(broker) as ns:
        ns.register("example.greeting", "PYRO:obj_663a@127.0.0.1:51707")
        ns.register("example.abc", "PYRO:abc@127.0.0.1:51708", metadata={"t", "a"})
        ns.register("other.thing", "PYRO:thing@127.0.0.1:51709")
    result = run_nsc(broker, "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "--------START LIST \n"
        f"Pyro.NameServer --> {broker.uri}\n"
        f"{NS_TAGS}"
        "example.abc --> PYRO:abc@127.0.0.1:51708\n"
        "    metadata: ['a', 't']\n"
        "example.greeting --> PYRO:obj_663a@127.0.0.1:51707\n"
        "other.thing --> PYRO:thing@127.0.0.1:51709\n"
        "--------END LIST \n"
    )
    result = run_nsc(broker, "list", "example.")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "--------START LIST - prefix 'example.'\n"
        "example.abc --> PYRO:abc@127.0.0.1:51708\n"
        "    metadata: ['a', 't']\n"
        "example.greeting --> PYRO:obj_663a@127.0.0.1:51707\n"
        "--------END LIST - prefix 'example.'\n"
    )
    result = run_nsc(broker, "listmatching", r".*\.(greeting|thing)$")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "--------START LIST - regex '.*\\.(greeting|thing)$'\n"
        "example.greeting --> PYRO:obj_663a@127.0.0.1:51707\n"
        "other.thing --> PYRO:thing@127.0.0.1:51709\n"
        "--------END LIST - regex '.*\\.(greeting|thing)$'\n"
    )
    empty = run_nsc(broker, "list", "nothing.here")
    assert empty.stdout == (
        "--------START LIST - prefix 'nothing.here'\n--------END LIST - prefix 'nothing.here'\n"
    )


def test_listmeta_all_and_any_as_pyro4_nsc(broker: BrokerProcess) -> None:
    with ns_of(broker) as ns:
        ns.register("red.round", "PYRO:rr@127.0.0.1:4400", metadata={"red", "round"})
        ns.register("red.square", "PYRO:rs@127.0.0.1:4401", metadata={"red", "square"})
    every = run_nsc(broker, "listmeta_all", "red", "round")
    assert every.returncode == 0, every.stderr
    assert every.stdout == (
        "--------START LIST  - searched by metadata\n"
        "red.round --> PYRO:rr@127.0.0.1:4400\n"
        "    metadata: ['red', 'round']\n"
        "--------END LIST  - searched by metadata\n"
    )
    some = run_nsc(broker, "listmeta_any", "square", "class:Pyro4.naming.NameServer")
    assert some.stdout.splitlines()[1:-1] == [
        f"Pyro.NameServer --> {broker.uri}",
        NS_TAGS.rstrip("\n"),
        "red.square --> PYRO:rs@127.0.0.1:4401",
        "    metadata: ['red', 'square']",
    ]
    assert run_nsc(broker, "listmeta_all").returncode == 2  # needs a tag, as Pyro's


def test_verbose_says_what_it_does(broker: BrokerProcess) -> None:
    result = run_nsc(broker, "-v", "ping")
    assert (result.returncode, result.stdout) == (
        0,
        f"Locating name server...\nName server found: {broker.uri}\nName server ping ok.\nDone.\n",
    )


def test_lookup_prints_the_uri_and_any_metadata(broker: BrokerProcess) -> None:
    with ns_of(broker) as ns:
        ns.register("plain", "PYRO:p@127.0.0.1:4000")
        ns.register("tagged", "PYRO:t@127.0.0.1:4001", metadata={"b", "a"})
    plain = run_nsc(broker, "lookup", "plain")
    assert (plain.returncode, plain.stdout) == (0, "PYRO:p@127.0.0.1:4000\n")
    tagged = run_nsc(broker, "lookup", "tagged")
    assert (tagged.returncode, tagged.stdout) == (
        0,
        "PYRO:t@127.0.0.1:4001\nmetadata: ['a', 'b']\n",
    )


def test_an_unknown_name_is_an_error_on_stderr_with_exit_1(broker: BrokerProcess) -> None:
    result = run_nsc(broker, "lookup", "no.such.name")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "zpyro-nsc: unknown name: no.such.name"
    bad_regex = run_nsc(broker, "listmatching", "(")
    assert bad_regex.returncode == 1 and "zpyro-nsc: " in bad_regex.stderr
    assert "regex" in bad_regex.stderr


def test_register_and_remove(broker: BrokerProcess) -> None:
    result = run_nsc(broker, "register", "made.here", "PYRO:m@127.0.0.1:4100")
    assert (result.returncode, result.stdout) == (0, "Registered made.here\n")
    with ns_of(broker) as ns:
        assert str(ns.lookup("made.here")) == "PYRO:m@127.0.0.1:4100"
        again = run_nsc(broker, "register", "made.here", "PYRO:other@127.0.0.1:4101")
        assert again.returncode == 1  # like Pyro's nsc: never overwrites
        assert "already registered" in again.stderr
        assert str(ns.lookup("made.here")) == "PYRO:m@127.0.0.1:4100"
        bad_uri = run_nsc(broker, "register", "bad.uri", "not a uri")
        assert bad_uri.returncode == 1 and bad_uri.stderr.startswith("zpyro-nsc: ")

        removed = run_nsc(broker, "remove", "made.here")
        assert (removed.returncode, removed.stdout) == (0, "Removed made.here\n")
        assert "made.here" not in ns.list()
        nothing = run_nsc(broker, "remove", "made.here")
        assert (nothing.returncode, nothing.stdout) == (0, "Nothing removed\n")


QUESTION = "Potentially removing lots of items from the Name server. Are you sure (y/n)?"


def test_removematching_asks_first_and_says_how_many(broker: BrokerProcess) -> None:
    with ns_of(broker) as ns:
        for i in range(3):
            ns.register(f"batch.{i}", f"PYRO:b{i}@127.0.0.1:{4200 + i}")
        ns.register("keep.me", "PYRO:k@127.0.0.1:4300")
        no = run_nsc(broker, "removematching", r"batch\..*", stdin="n\n")
        assert (no.returncode, no.stdout) == (0, QUESTION)
        assert len(ns.list(prefix="batch.")) == 3
        silent = run_nsc(broker, "removematching", r"batch\..*")  # no answer: nothing happens
        assert silent.returncode == 1 and "nothing removed" in silent.stderr
        assert len(ns.list(prefix="batch.")) == 3
        result = run_nsc(broker, "removematching", r"batch\..*", stdin="y\n")
        assert (result.returncode, result.stdout) == (0, f"{QUESTION}3 items removed.\n")
        assert set(ns.list()) == {"Pyro.NameServer", "keep.me"}
        one = run_nsc(broker, "removematching", "--yes", "keep")  # scripts: no question
        assert one.stdout == "1 items removed.\n"  # (sic: Pyro's words)
        assert set(ns.list()) == {"Pyro.NameServer"}


def test_yplookup_and_setmeta(broker: BrokerProcess) -> None:
    with ns_of(broker) as ns:
        ns.register("red.round", "PYRO:rr@127.0.0.1:4400", metadata={"red", "round"})
        ns.register("red.square", "PYRO:rs@127.0.0.1:4401", metadata={"red", "square"})
        ns.register("blue.round", "PYRO:br@127.0.0.1:4402", metadata={"blue", "round"})
        every = run_nsc(broker, "yplookup_all", "red", "round")
        assert every.returncode == 0, every.stderr
        assert every.stdout == (
            "--------START LIST  - searched by metadata\n"
            "red.round --> PYRO:rr@127.0.0.1:4400\n"
            "    metadata: ['red', 'round']\n"
            "--------END LIST  - searched by metadata\n"
        )
        some = run_nsc(broker, "yplookup_any", "square", "blue")
        assert some.stdout == (
            "--------START LIST  - searched by metadata\n"
            "blue.round --> PYRO:br@127.0.0.1:4402\n"
            "    metadata: ['blue', 'round']\n"
            "red.square --> PYRO:rs@127.0.0.1:4401\n"
            "    metadata: ['red', 'square']\n"
            "--------END LIST  - searched by metadata\n"
        )

        updated = run_nsc(broker, "setmeta", "blue.round", "blue", "new")
        assert (updated.returncode, updated.stdout) == (0, "Metadata updated\n")
        assert ns.lookup("blue.round", return_metadata=True)[1] == {"blue", "new"}
        cleared = run_nsc(broker, "setmeta", "blue.round")
        assert (cleared.returncode, cleared.stdout) == (0, "Metadata cleared\n")
        # (serpent carries an empty set as an empty tuple)
        assert set(ns.lookup("blue.round", return_metadata=True)[1]) == set()
        unknown = run_nsc(broker, "setmeta", "no.such", "x")
        assert unknown.returncode == 1 and "unknown name" in unknown.stderr


def test_an_hmac_key_is_refused_never_ignored(broker: BrokerProcess) -> None:
    for how in (["-k", "secret"], []):
        env = {} if how else {"PYRO_HMAC_KEY": "secret"}
        result = run_nsc(broker, *how, "ping", env=env)
        assert result.returncode == 2 and result.stdout == ""
        assert "HMAC keys are not supported" in result.stderr and "CURVE" in result.stderr


def test_host_and_port_default_to_the_configuration(broker: BrokerProcess) -> None:
    env = {"ZPYRO_NS_HOST": broker.host, "ZPYRO_NS_PORT": str(broker.port)}
    result = run_nsc(None, "ping", env=env)
    assert (result.returncode, result.stdout) == (0, "Name server ping ok.\n")


def test_an_unreachable_name_server_is_a_clear_error_with_exit_1() -> None:
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        [PYTHON, "-m", "zpyro.nsc", "-n", "127.0.0.1", "-p", str(port), "-t", "1", "list"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"zpyro-nsc: cannot reach the name server at 127.0.0.1:{port}: "
    ), result.stderr
    assert time.monotonic() - started < scaled(15)


@pytest.mark.parametrize(
    "args",
    [[], ["bogus"], ["lookup"], ["register", "only.a.name"], ["yplookup_all"], ["-p", "x", "ping"]],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_nsc(None, *args)
    assert result.returncode == 2
    assert "usage: zpyro-nsc" in result.stderr


def test_the_console_script_is_installed() -> None:
    script = ROOT / ".venv" / "bin" / "zpyro-nsc"
    if not script.exists():
        pytest.skip("zpyro-nsc is not installed in .venv (pip install -e .)")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=scaled(30)
    )
    assert result.returncode == 0 and "watch" in result.stdout


# -- watch ---------------------------------------------------------------------------------------


def start_watch(spawn: Any, broker: BrokerProcess, *extra: str) -> Any:
    proc = spawn(
        [PYTHON, "-m", "zpyro.nsc", "-n", broker.host, "-p", str(broker.port)]
        + ["--pub-port", str(broker.pub_port), "watch", *extra]
    )
    proc.wait_for("watching announcements on")  # subscribed and synchronised
    return proc


def stop_by_signal(proc: Any, signum: int) -> int:
    os.kill(proc.proc.pid, signum)
    return int(proc.proc.wait(scaled(10)))


def test_watch_prints_announcements_until_sigint(broker: BrokerProcess, spawn: Any) -> None:
    watch = start_watch(spawn, broker)
    with ns_of(broker) as ns:
        ns.register("example.greeting", "PYRO:g@127.0.0.1:4500", metadata={"hello"})
        line = watch.wait_for("name.registered example.greeting")
        assert line.strip() == (
            "name.registered example.greeting -> PYRO:g@127.0.0.1:4500 (metadata: hello)"
        )
        ns.remove("example.greeting")
        assert watch.wait_for("name.removed").strip() == "name.removed example.greeting"
    alive = watch.wait_for("broker.alive")
    assert alive.strip().startswith("broker.alive seq=")
    assert stop_by_signal(watch, signal.SIGINT) == 0


def test_watch_shows_daemons_and_hides_beats_with_no_alive(
    broker: BrokerProcess, spawn: Any
) -> None:
    from conftest import FAST_HEARTBEAT_ENV

    watch = start_watch(spawn, broker, "--no-alive")
    # beats the watch process must have been sent and hidden: count them on a watcher of ours
    beats = threading.Semaphore(0)

    def on_event(ann: Any) -> None:
        if ann.kind == "broker.alive":
            beats.release()

    with zpyro.NameWatcher(broker.host, broker.port, broker.pub_port, on_event=on_event):
        for _ in range(3):
            assert beats.acquire(timeout=scaled(10)), "the broker sent no heartbeats"
    worker = spawn(
        [PYTHON, str(ROOT / "tests/programs/brokered_worker.py"), broker.endpoint, "jobs", "1"],
        env=FAST_HEARTBEAT_ENV,
    )
    worker.wait_for("READY")
    joined = watch.wait_for("daemon.joined")
    assert joined.split()[2:] == ["names=jobs", "capacity=1"]
    worker.stop()
    assert watch.wait_for("daemon.left").split()[2:] == ["names=jobs", "reason=closed"]
    assert stop_by_signal(watch, signal.SIGTERM) == 0
    assert not any("broker.alive" in line for line in watch.output)
