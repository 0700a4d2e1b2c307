"""Configuration as Pyro programs set it (issue 9, d5), used as a Pyro4 program would.

Every Pyro4/Pyro5 item name can be assigned: it takes effect, or is refused with the reason, or
(only where it tunes what ZeroMQ does by itself) is accepted with a logged note. ``PYRO_*``
environment variables count too (``ZPYRO_*`` wins); ``MAX_MESSAGE_SIZE = 0`` is no limit;
``SERIALIZERS_ACCEPTED`` is a set changed in place; ``COMPRESSION`` compresses big payloads on
the wire; ``DETAILED_TRACEBACK`` puts local values in remote tracebacks; ``SERVERTYPE``
"multiplex" serves one call at a time; ``zpyro-check-config`` prints it all.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import ROOT, scaled, serving

import zpyro as Pyro4
from zpyro import configrules, wire
from zpyro.config import Config

pytestmark = pytest.mark.timeout(60)

PYRO4_ITEMS = [  # Pyro4 4.82's Configuration.__slots__
    "HOST",
    "NS_HOST",
    "NS_PORT",
    "NS_BCPORT",
    "NS_BCHOST",
    "NS_AUTOCLEAN",
    "COMPRESSION",
    "SERVERTYPE",
    "COMMTIMEOUT",
    "POLLTIMEOUT",
    "ONEWAY_THREADED",
    "DETAILED_TRACEBACK",
    "SOCK_REUSE",
    "SOCK_NODELAY",
    "PREFER_IP_VERSION",
    "THREADPOOL_SIZE",
    "THREADPOOL_SIZE_MIN",
    "AUTOPROXY",
    "PICKLE_PROTOCOL_VERSION",
    "BROADCAST_ADDRS",
    "NATHOST",
    "NATPORT",
    "MAX_MESSAGE_SIZE",
    "FLAME_ENABLED",
    "SERIALIZER",
    "SERIALIZERS_ACCEPTED",
    "LOGWIRE",
    "METADATA",
    "REQUIRE_EXPOSE",
    "USE_MSG_WAITALL",
    "JSON_MODULE",
    "MAX_RETRIES",
    "DILL_PROTOCOL_VERSION",
    "ITER_STREAMING",
    "ITER_STREAM_LIFETIME",
    "ITER_STREAM_LINGER",
    "SSL",
    "SSL_REQUIRECLIENTCERT",
    "SSL_CACERTS",
    "SSL_SERVERCERT",
    "SSL_SERVERKEY",
    "SSL_SERVERKEYPASSWD",
    "SSL_CLIENTCERT",
    "SSL_CLIENTKEY",
    "SSL_CLIENTKEYPASSWD",
]
PYRO5_ONLY = ["NS_LOOKUP_DELAY", "SERPENT_BYTES_REPR", "LOGFILE", "LOGLEVEL"]
DOCUMENTED_ONLY = ["SSL_CLIENT_CERTVALIDATION"]  # in Pyro's manual, in neither's slots

# item -> a value that asks for what zpyro does not do, and a word of the reason it gives
REFUSED = {
    "ONEWAY_THREADED": (False, "oneway"),
    "METADATA": (False, "metadata"),
    "AUTOPROXY": (False, "proxies"),
    "JSON_MODULE": ("simplejson", "json"),
    "LOGWIRE": (True, "wire"),
    "FLAME_ENABLED": (True, "Flame"),
    "DILL_PROTOCOL_VERSION": (3, "dill"),
    "NATHOST": (42, "host name"),  # (a host is taken: daemons advertise it, README NAT)
    "NATPORT": (70000, "port number"),
    "NS_AUTOCLEAN": (5.0, "leases"),
    "SSL": (True, "CURVE"),
    "SSL_REQUIRECLIENTCERT": (True, "CURVE"),
    "SSL_SERVERCERT": ("cert.pem", "CURVE"),
    "SSL_CLIENTKEY": ("key.pem", "CURVE"),
    "SSL_CLIENT_CERTVALIDATION": (True, "CURVE"),
    "SERVERTYPE": ("gevent", "multiplex"),
    "PREFER_IP_VERSION": (5, "IP version"),
    "PICKLE_PROTOCOL_VERSION": (99, "pickle protocol"),
    "LOGLEVEL": ("LOUD", "logging level"),
    "MAX_MESSAGE_SIZE": (-1, ">= 0"),
}
NOTED = {  # accepted, but logged: zpyro always behaves otherwise
    "SOCK_REUSE": False,
    "SOCK_NODELAY": False,
    "USE_MSG_WAITALL": False,
    "SERPENT_BYTES_REPR": False,
    "BROADCAST_ADDRS": "127.0.0.1",
    "NS_BCHOST": "127.0.0.1",
    "NS_BCPORT": 9999,
}


@pytest.fixture(autouse=True)
def no_pyro_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ZPYRO_", "PYRO_")):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("item", PYRO4_ITEMS + PYRO5_ONLY + DOCUMENTED_ONLY)
def test_every_pyro_item_can_be_assigned_its_default(item: str) -> None:
    cfg = Config(use_environment=False)
    value = getattr(cfg, item)
    setattr(cfg, item, value)  # what `Pyro4.config.X = <what it is>` does: nothing refused
    assert getattr(cfg, item) == value
    assert item in cfg.asDict()


@pytest.mark.parametrize("item", sorted(REFUSED))
def test_what_zpyro_does_not_do_is_refused_with_the_reason(item: str) -> None:
    value, reason = REFUSED[item]
    before = getattr(Pyro4.config, item)
    with pytest.raises(ValueError, match=reason) as refused:
        setattr(Pyro4.config, item, value)
    assert item in str(refused.value)
    assert getattr(Pyro4.config, item) == before  # nothing half-set


@pytest.mark.parametrize("item", sorted(NOTED))
def test_settings_zpyro_cannot_honour_are_noted_in_the_log(item: str, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="zpyro.config"):
        setattr(Pyro4.config, item, NOTED[item])
    assert any(item in r.getMessage() and "no effect" in r.getMessage() for r in caplog.records)
    assert getattr(Pyro4.config, item) == NOTED[item]


def test_a_name_that_is_no_item_says_so() -> None:
    with pytest.raises(AttributeError, match="SERIALISER"):
        Pyro4.config.SERIALISER = "json"  # type: ignore[attr-defined]


def test_every_refusal_rule_is_for_a_real_item() -> None:
    fields = set(Config(use_environment=False).as_dict())
    assert set(configrules.RULES) <= fields
    assert set(REFUSED) | set(NOTED) <= set(configrules.RULES)


def test_polltimeout_is_pyros_name_for_poll_timeout() -> None:
    Pyro4.config.POLLTIMEOUT = 1.5
    assert Pyro4.config.POLL_TIMEOUT == 1.5 and Pyro4.config.asDict()["POLLTIMEOUT"] == 1.5


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZPYRO_", "PYRO_"))}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=scaled(30),
        cwd=str(ROOT),
    )


def test_pyro_environment_variables_count_and_zpyro_ones_win() -> None:
    code = (
        "import zpyro as Pyro4; c = Pyro4.config; "
        "print(c.COMMTIMEOUT, c.SERIALIZER, c.NS_PORT, c.POLL_TIMEOUT, c.REQUIRE_EXPOSE, "
        "sorted(c.SERIALIZERS_ACCEPTED), c.MAX_MESSAGE_SIZE)"
    )
    done = run_python(
        code,
        {
            "PYRO_COMMTIMEOUT": "2.5",
            "PYRO_SERIALIZER": "json",
            "ZPYRO_SERIALIZER": "msgpack",  # wins over PYRO_SERIALIZER
            "PYRO_NS_PORT": "9999",
            "PYRO_POLLTIMEOUT": "0.25",  # Pyro's name of the item
            "PYRO_REQUIRE_EXPOSE": "false",
            "PYRO_SERIALIZERS_ACCEPTED": "json,serpent",
            "PYRO_MAX_MESSAGE_SIZE": "0",
        },
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.5 msgpack 9999 0.25 False ['json', 'serpent'] 0"


def test_a_refused_value_in_the_environment_stops_the_program() -> None:
    done = run_python("import zpyro", {"PYRO_SSL": "true"})
    assert done.returncode != 0 and "CURVE" in done.stderr


def test_reset_as_pyro4_spells_it(monkeypatch: pytest.MonkeyPatch) -> None:
    Pyro4.config.COMMTIMEOUT = 4.0
    monkeypatch.setenv("PYRO_COMMTIMEOUT", "3.5")
    Pyro4.config.reset(useenvironment=False)
    assert Pyro4.config.COMMTIMEOUT == 0.0
    Pyro4.config.reset()  # Pyro4 and Pyro5 read the environment by default
    assert Pyro4.config.COMMTIMEOUT == 3.5
    Pyro4.config.reset(use_environment=False)  # Pyro5's spelling
    assert Pyro4.config.COMMTIMEOUT == 0.0


def test_zpyro_check_config_prints_the_dump() -> None:
    script = Path(sys.executable).with_name("zpyro-check-config")
    command = [str(script)] if script.exists() else [shutil.which("zpyro-check-config") or ""]
    done = subprocess.run(
        command,
        env={**os.environ, "PYRO_NS_PORT": "9111"},
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("zpyro version: ") and "Protocol version: 1" in lines
    assert "NS_PORT = 9111" in lines and "SERIALIZER = serpent" in lines
    python_m = run_python(
        "import runpy; runpy.run_module('zpyro.configuration', run_name='__main__')", {}
    )
    assert python_m.returncode == 0 and "SERIALIZER = serpent" in python_m.stdout.splitlines()


@Pyro4.expose
class Sink:
    def store(self, data: Any) -> int:
        return len(data)

    def echo(self, data: Any) -> Any:
        return data


def test_max_message_size_zero_is_no_limit_and_a_client_enforces_its_own() -> None:
    Pyro4.config.MAX_MESSAGE_SIZE = 0
    with serving() as served:
        uri = served.register(Sink(), "sink")
        with Pyro4.Proxy(uri) as sink:
            assert sink.store("x" * 3_000_000) == 3_000_000  # (0 once refused every call)
        Pyro4.config.MAX_MESSAGE_SIZE = 2000
        with Pyro4.Proxy(uri) as sink:
            assert sink.store("x" * 100) == 100
            with pytest.raises(Pyro4.errors.MessageTooLargeError, match="this client") as big:
                sink.store("x" * 3000)
            assert isinstance(big.value, Pyro4.errors.ProtocolError)  # as in Pyro
            assert isinstance(big.value, Pyro4.errors.CommunicationError)


def test_serializers_accepted_is_changed_in_place_and_a_daemon_takes_a_copy() -> None:
    Pyro4.config.SERIALIZERS_ACCEPTED.add("pickle")
    with serving() as served:
        uri = served.register(Sink(), "sink")
        Pyro4.config.SERIALIZERS_ACCEPTED.discard("pickle")  # too late for that daemon
        Pyro4.config.SERIALIZERS_ACCEPTED.discard("json")
        with Pyro4.Proxy(uri) as sink:
            sink._pyroSerializer = "pickle"
            assert sink.echo({1, 2}) == {1, 2}
            sink._pyroSerializer = "json"
            assert sink.echo([1]) == [1]  # the daemon's copy still has json
        with serving() as strict:  # a daemon made now: without pickle and json
            with Pyro4.Proxy(strict.register(Sink(), "sink")) as sink:
                sink._pyroSerializer = "pickle"
                with pytest.raises(Pyro4.errors.SerializeError, match="not accepted"):
                    sink.echo(1)


class Tap:
    """Sees every frame a proxy sends and receives, between the proxy and the daemon (a zmq
    proxy on inproc-free tcp: two sockets, captured frames)."""

    def __init__(self, target: str) -> None:
        ctx = zmq.Context.instance()
        self.front = ctx.socket(zmq.ROUTER)
        self.back = ctx.socket(zmq.DEALER)
        self.front.linger = self.back.linger = 0
        port = self.front.bind_to_random_port("tcp://127.0.0.1")
        self.back.connect(target)
        self.location = f"127.0.0.1:{port}"
        self.seen: list[list[bytes]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.back, zmq.POLLIN)
        peer = b""
        while not self.stop.is_set():
            for sock, _ in poller.poll(50):
                if sock is self.front:
                    peer, *frames = self.front.recv_multipart()
                    self.seen.append(frames)
                    self.back.send_multipart(frames)
                else:
                    frames = self.back.recv_multipart()
                    self.seen.append(frames)
                    self.front.send_multipart([peer, *frames])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(scaled(5))
        self.front.close()
        self.back.close()


@pytest.fixture
def tapped() -> Iterator[tuple[Tap, str]]:
    Pyro4.config.COMPRESSION = True  # the daemon compresses its big replies
    with serving() as served:
        served.register(Sink(), "sink")
        tap = Tap(served.daemon.endpoint)
        try:
            yield tap, f"PYRO:sink@{tap.location}"
        finally:
            tap.close()


def test_compression_compresses_big_payloads_both_ways(tapped: tuple[Tap, str]) -> None:
    tap, uri = tapped
    big = "compressible " * 100_000  # 1.3 MB of text
    with Pyro4.Proxy(uri) as sink:
        assert sink.echo("small") == "small"
        assert sink.echo(big) == big
    messages = [wire.decode(frames) for frames in tap.seen]
    compressed = [m for m in messages if m.flags & wire.FLAG_COMPRESSED]
    assert {m.kind for m in compressed} == {wire.CALL, wire.RESULT}  # the call and its reply
    calls = [m for m in messages if m.kind == wire.CALL and m.method == "echo"]
    assert calls and all(m.flags & wire.FLAG_INFLATES for m in calls)
    assert all(len(m.payload) < 100_000 for m in compressed)
    small = [m for m in messages if m.kind == wire.CALL and len(m.payload) < 200]
    assert small and not any(m.flags & wire.FLAG_COMPRESSED for m in small)


def test_compression_is_only_for_proxies_that_take_it(tapped: tuple[Tap, str]) -> None:
    """A proxy without COMPRESSION neither compresses nor says it takes compressed replies
    (INFLATES): the daemon, though its COMPRESSION is on, answers it in plain (a peer in another
    language that knows no compression never meets it)."""
    tap, uri = tapped
    Pyro4.config.COMPRESSION = False
    big = "compressible " * 10_000
    with Pyro4.Proxy(uri) as sink:
        assert sink.echo(big) == big
    messages = [wire.decode(f) for f in tap.seen]
    assert not any(m.flags & (wire.FLAG_COMPRESSED | wire.FLAG_INFLATES) for m in messages)
    assert any(len(m.payload) > 100_000 for m in messages if m.kind == wire.RESULT)


def test_a_compression_bomb_is_refused() -> None:
    bomb = wire.compress(b"\0" * 10_000_000)
    assert bomb is not None and len(bomb) < 20_000
    with pytest.raises(Pyro4.errors.MessageTooLargeError):
        wire.decompress(bomb, 1_000_000)
    with pytest.raises(Pyro4.errors.ProtocolError, match="corrupt"):
        wire.decompress(b"not zlib at all", 1000)
    assert wire.decompress(bomb, 10_000_000) == b"\0" * 10_000_000


@Pyro4.expose
class Troublemaker:
    def divide(self, a: int, b: int) -> int:
        secret_number = 4242
        return a // b + secret_number


LOCAL_VALUE = "      secret_number = 4242\n"  # how a detailed traceback lists a local value


def test_detailed_traceback_shows_local_values() -> None:
    with serving() as served:
        uri = served.register(Troublemaker(), "trouble")
        with Pyro4.Proxy(uri) as trouble:
            with pytest.raises(ZeroDivisionError) as plain:
                trouble.divide(1, 0)
            plain_lines = "".join(plain.value._pyroTraceback)  # type: ignore[attr-defined]
            assert LOCAL_VALUE not in plain_lines
            Pyro4.config.DETAILED_TRACEBACK = True  # read when the error happens, as in Pyro
            with pytest.raises(ZeroDivisionError) as detailed:
                trouble.divide(1, 0)
    remote = "".join(detailed.value._pyroTraceback)  # type: ignore[attr-defined]
    assert LOCAL_VALUE in remote and "      a = 1\n" in remote and "      b = 0\n" in remote
    try:
        Troublemaker().divide(2, 0)
    except ZeroDivisionError:
        local = "".join(Pyro4.util.formatTraceback(*sys.exc_info(), detailed=True))
        brief = "".join(Pyro4.util.formatTraceback(*sys.exc_info()))
    assert "      a = 2\n" in local and LOCAL_VALUE in local
    assert "ZeroDivisionError" in brief and LOCAL_VALUE not in brief


@Pyro4.expose
class Meeting:
    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.lock = threading.Lock()

    def meet(self, seconds: float) -> str:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(seconds)
        with self.lock:
            self.inside -= 1
        return threading.current_thread().name


@pytest.mark.parametrize(("servertype", "most"), [("thread", 3), ("multiplex", 1)])
def test_servertype_thread_runs_calls_at_once_multiplex_one_at_a_time(
    servertype: str, most: int
) -> None:
    Pyro4.config.SERVERTYPE = servertype
    meeting = Meeting()
    with serving() as served:
        uri = served.register(meeting, "meeting")
        proxies = [Pyro4.Proxy(uri) for _ in range(3)]
        for p in proxies:
            p._pyroBind()
        calls = [threading.Thread(target=p.meet, args=(0.3,)) for p in proxies]
        for call in calls:
            call.start()
        for call in calls:
            call.join(scaled(20))
        for p in proxies:
            p._pyroRelease()
    assert meeting.most == most


def test_pickle_protocol_version_is_what_pickle_writes() -> None:
    Pyro4.config.PICKLE_PROTOCOL_VERSION = 2
    payload, _ = Pyro4.serializers.get_serializer("pickle").dumps([1, "a"])
    assert payload[:2] == b"\x80\x02"
    Pyro4.config.PICKLE_PROTOCOL_VERSION = -1  # the highest
    payload, _ = Pyro4.serializers.get_serializer("pickle").dumps([1, "a"])
    assert payload[1] == pickle.HIGHEST_PROTOCOL


def test_loglevel_and_logfile_configure_the_zpyro_loggers(tmp_path: Path) -> None:
    logfile = tmp_path / "zpyro.log"
    Pyro4.config.LOGFILE = str(logfile)
    Pyro4.config.LOGLEVEL = "DEBUG"
    try:
        logging.getLogger("zpyro.test").debug("a line for the log file")
        assert logging.getLogger("zpyro").level == logging.DEBUG
    finally:
        Pyro4.config.LOGLEVEL = ""  # leaves logging alone again (handler removed)
    assert "a line for the log file" in logfile.read_text()
    assert not any(isinstance(h, logging.FileHandler) for h in logging.getLogger("zpyro").handlers)


def test_ns_lookup_delay_waits_for_a_name_registered_later(broker: Any) -> None:
    ns = Pyro4.locate_ns(broker.host, broker.port)
    name = f"PYRONAME:example.later@{broker.host}:{broker.port}"
    with pytest.raises(Pyro4.errors.NamingError):
        Pyro4.resolve(name)  # no delay: missing at once
    with serving() as served:
        uri = served.register(Sink(), "later")
        timer = threading.Timer(0.5, ns.register, ("example.later", uri))
        timer.start()
        try:
            Pyro4.config.NS_LOOKUP_DELAY = scaled(10)
            started = time.monotonic()
            with Pyro4.Proxy(name) as p:
                assert p.echo("found") == "found"  # the lookup waited for the name
            assert time.monotonic() - started >= 0.4
            assert Pyro4.resolve(name, delay_time=0.1) == uri
        finally:
            timer.join()
