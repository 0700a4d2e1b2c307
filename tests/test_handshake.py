"""Pyro's connection hooks, enforced: the handshake (Proxy._pyroHandshake, Daemon.validateHandshake,
Proxy._pyroValidateHandshake), clientDisconnect and tracked resources, with a direct daemon and
through the broker; and the Pyro security items zpyro refuses (HMAC keys, SSL) instead of
accepting and ignoring them. Written as Pyro programs are: ``import zpyro as Pyro4``."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import (
    FAST_HEARTBEAT_ENV,
    PYTHON,
    ROOT,
    BrokerProcess,
    ServedDaemon,
    raw_dealer,
    scaled,
)

import zpyro as Pyro4
from zpyro import aio, wire
from zpyro.serializers import get_serializer

pytestmark = pytest.mark.timeout(60)

SECRET = "open sesame"


@Pyro4.expose
class Vault:
    def open(self) -> str:
        return "open"

    def client_address(self) -> Any:
        return Pyro4.current_context.client_sock_addr


class GuardedDaemon(Pyro4.Daemon):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conns: list[Any] = []
        self.gone: list[Any] = []
        self.changed = threading.Condition()

    def validateHandshake(self, conn: Any, data: Any) -> Any:  # noqa: N802
        if data != SECRET:
            raise ValueError(f"wrong secret: {data!r}")
        with self.changed:
            self.conns.append(conn)
        return {"welcome": len(self.conns)}

    def clientDisconnect(self, conn: Any) -> None:  # noqa: N802
        with self.changed:
            self.gone.append(conn)
            self.changed.notify_all()


@pytest.fixture
def guarded() -> Iterator[tuple[GuardedDaemon, Pyro4.URI]]:
    daemon = GuardedDaemon(host="127.0.0.1")
    uri = daemon.register(Vault(), "vault")
    served = ServedDaemon(daemon)
    try:
        yield daemon, uri
    finally:
        served.stop()


class CheckingProxy(Pyro4.Proxy):
    def __init__(self, uri: Any) -> None:
        super().__init__(uri)
        self._responses: list[Any] = []

    def _pyroValidateHandshake(self, response: Any) -> None:
        self._responses.append(response)


# -- a direct daemon ------------------------------------------------------------------------------


def test_the_wrong_handshake_is_refused_with_the_daemons_reason(guarded: Any) -> None:
    daemon, uri = guarded
    for data in ("wrong", None):
        intruder = Pyro4.Proxy(uri)
        if data is not None:
            intruder._pyroHandshake = data
        with pytest.raises(Pyro4.errors.CommunicationError, match="wrong secret") as refused:
            intruder.open()
        assert isinstance(refused.value, Pyro4.errors.HandshakeError)
        intruder._pyroRelease()
    assert daemon.conns == []


def test_the_right_handshake_gets_in_and_its_response_is_handed_back(guarded: Any) -> None:
    daemon, uri = guarded
    with CheckingProxy(uri) as vault:
        vault._pyroHandshake = SECRET
        assert vault.open() == "open"
        assert vault.open() == "open"  # one handshake per connection
    assert vault._responses == [{"welcome": 1}]
    assert len(daemon.conns) == 1
    # a second proxy finds the metadata cached, and still makes its handshake (and is refused
    # without the secret)
    with CheckingProxy(uri) as again:
        again._pyroHandshake = SECRET
        assert again.open() == "open"
    assert again._responses == [{"welcome": 2}]
    stranger = Pyro4.Proxy(uri)
    with pytest.raises(Pyro4.errors.HandshakeError):
        stranger.open()


def test_a_proxy_refusing_the_daemons_response_raises_its_own_error(guarded: Any) -> None:
    class Distrustful(Pyro4.Proxy):
        def _pyroValidateHandshake(self, response: Any) -> None:
            raise Pyro4.errors.SecurityError(f"no thanks: {response}")

    doubter = Distrustful(guarded[1])
    doubter._pyroHandshake = SECRET
    with pytest.raises(Pyro4.errors.SecurityError, match="no thanks"):
        doubter.open()
    assert doubter._pyroConnection is None


def test_a_connection_without_handshake_gets_nothing_not_even_metadata(guarded: Any) -> None:
    _, uri = guarded
    ser = get_serializer("serpent")
    sock = raw_dealer(uri.endpoint)
    try:
        for object_id, method, args in (
            ("vault", "open", ()),
            (wire.DAEMON_OBJECT_ID, "get_metadata", ("vault",)),
        ):
            payload, _ = ser.dumps([args, {}])
            sock.send_multipart(
                wire.encode(wire.CALL, 0, ser.serializer_id, 7, object_id, method, payload)
            )
            reply = wire.decode(sock.recv_multipart())
            assert reply.kind == wire.ERROR
            error = Pyro4.errors.payload_to_exception(ser.loads(reply.payload))
            assert isinstance(error, Pyro4.errors.HandshakeError)
            assert "no handshake" in str(error)
    finally:
        sock.close(linger=0)


def test_a_plain_daemon_answers_the_handshake_with_hello() -> None:
    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        uri = daemon.register(Vault(), "plain")
        served = ServedDaemon(daemon)
        try:
            with CheckingProxy(uri) as p:
                p._pyroHandshake = {"any": "data"}
                assert p.open() == "open"
            assert p._responses == ["hello"]  # Pyro's default validateHandshake answer
        finally:
            served.stop()


def test_client_disconnect_gets_the_conn_validate_handshake_saw(guarded: Any) -> None:
    daemon, uri = guarded
    with Pyro4.Proxy(uri) as vault:
        vault._pyroHandshake = SECRET
        vault.open()
        address = vault.client_address()
    with daemon.changed:
        assert daemon.changed.wait_for(lambda: len(daemon.gone) == 1, scaled(10))
    assert daemon.gone[0] is daemon.conns[0]
    assert address == daemon.conns[0].sock_addr and address[0] == "127.0.0.1"
    # a client process that just ends (no goodbye): the daemon sees its connection close
    program = (
        "import sys, zpyro\n"
        "p = zpyro.Proxy(sys.argv[1]); p._pyroHandshake = sys.argv[2]; p.open()\n"
        "import os; os._exit(0)\n"  # no release, no clean-up
    )
    subprocess.run(
        [PYTHON, "-c", program, str(uri), SECRET], check=True, timeout=scaled(30), cwd=ROOT
    )
    with daemon.changed:
        assert daemon.changed.wait_for(lambda: len(daemon.gone) == 2, scaled(20))
    assert daemon.gone[1] is daemon.conns[1]


class Resource:
    def __init__(self, name: str, closed: list[str]) -> None:
        self.name, self.closed = name, closed

    def close(self) -> None:
        self.closed.append(self.name)


def test_tracked_resources_are_closed_when_the_client_goes() -> None:
    closed: list[str] = []
    keep: dict[str, Resource] = {}

    @Pyro4.expose
    class Files:
        def open(self, name: str) -> None:
            keep[name] = Resource(name, closed)
            Pyro4.current_context.track_resource(keep[name])

        def close(self, name: str) -> None:
            Pyro4.current_context.untrack_resource(keep[name])
            keep.pop(name).close()

        def tracked(self) -> list[str]:
            return sorted(r.name for r in Pyro4.current_context.client.tracked_resources)

    with pytest.raises(Pyro4.errors.PyroError, match="outside a call"):
        Pyro4.current_context.track_resource(Resource("x", closed))
    daemon = Pyro4.Daemon(host="127.0.0.1")
    uri = daemon.register(Files(), "files")
    served = ServedDaemon(daemon)
    try:
        with Pyro4.Proxy(uri) as files:
            files.open("a")
            files.open("b")
            files.close("a")
            assert files.tracked() == ["b"]
            assert closed == ["a"]
        deadline = threading.Event()
        for _ in range(int(scaled(100))):  # released: closed by the daemon's release of it
            if closed == ["a", "b"]:
                break
            deadline.wait(0.05)
        assert closed == ["a", "b"]
    finally:
        served.stop()


# -- through the broker ---------------------------------------------------------------------------


class GuardedWorker:
    def __init__(self, spawned: Any) -> None:
        self.spawned = spawned
        self.pid = int(spawned.wait_for("READY").split()[1])


@pytest.fixture
def pool(broker: BrokerProcess, spawn: Any) -> list[GuardedWorker]:
    program = str(ROOT / "tests" / "programs" / "guarded_worker.py")
    return [
        GuardedWorker(
            spawn([PYTHON, program, broker.endpoint, "vault", SECRET], env=FAST_HEARTBEAT_ENV)
        )
        for _ in range(2)
    ]


def wait_any(workers: list[GuardedWorker], marker: str, timeout: float = 10) -> bool:
    """Whether some worker printed a line containing `marker` (bounded wait)."""
    pause = threading.Event()
    for _ in range(int(scaled(timeout) / 0.05)):
        if any(marker in line for w in workers for line in w.spawned.output):
            return True
        pause.wait(0.05)
    return False


def notes(worker: GuardedWorker) -> list[str]:
    return [line for line in list(worker.spawned.output) if line.startswith("NOTE ")]


def pooled(broker: BrokerProcess, handshake: Any = None, cls: type = Pyro4.Proxy) -> Any:
    proxy = cls(f"PYRO:vault@{broker.location}")
    proxy._pyroTimeout = scaled(20)
    if handshake is not None:
        proxy._pyroHandshake = handshake
    return proxy


def test_through_the_broker_the_wrong_handshake_is_refused(
    broker: BrokerProcess, pool: list[GuardedWorker]
) -> None:
    intruder = pooled(broker, "not the secret")
    with pytest.raises(Pyro4.errors.HandshakeError, match="wrong secret"):
        intruder.whoami()
    assert wait_any(pool, "REFUSED")
    with pytest.raises(Pyro4.errors.HandshakeError):
        pooled(broker).whoami()  # Pyro's default handshake data "hello"


def test_through_the_broker_each_daemon_of_the_pool_validates_the_caller(
    broker: BrokerProcess, pool: list[GuardedWorker]
) -> None:
    vault = pooled(broker, SECRET, CheckingProxy)
    pids = {w.pid for w in pool}
    seen = {vault.whoami() for _ in range(10)}  # calls rotate over the idle pool
    assert seen == pids
    assert len(vault._responses) == 1 and vault._responses[0]["welcome"] in pids
    for worker in pool:  # each validated the caller once: the broker passed the handshake on
        assert worker.spawned.wait_for(f"VALIDATED {worker.pid} {SECRET}", 10)
    assert not any("REFUSED" in line for w in pool for line in w.spawned.output)
    holder = vault.allocate_and_tell("lease")
    vault._pyroRelease()  # both daemons hear of the release: clientDisconnect, resources closed
    for worker in pool:
        worker.spawned.wait_for(f"DISCONNECT {worker.pid} 1", 10)
    next(w for w in pool if w.pid == holder).spawned.wait_for(f"CLOSED {holder} lease", 10)


def test_through_the_broker_a_caller_without_handshake_is_refused_by_the_daemon(
    broker: BrokerProcess, pool: list[GuardedWorker]
) -> None:
    ser = get_serializer("serpent")
    sock = raw_dealer(broker.endpoint)
    try:
        payload, _ = ser.dumps([(), {}])
        sock.send_multipart(
            wire.encode(wire.CALL, 0, ser.serializer_id, 3, "vault", "whoami", payload)
        )
        reply = wire.decode(sock.recv_multipart())
        assert reply.kind == wire.ERROR
        error = Pyro4.errors.payload_to_exception(ser.loads(reply.payload))
        assert isinstance(error, Pyro4.errors.HandshakeError)
    finally:
        sock.close(linger=0)


def test_through_the_broker_a_caller_that_dies_is_a_disconnect(
    broker: BrokerProcess, pool: list[GuardedWorker]
) -> None:
    program = (
        "import sys, zpyro\n"
        "p = zpyro.Proxy(sys.argv[1]); p._pyroHandshake = sys.argv[2]\n"
        "for _ in range(6): p.whoami()\n"
        "import os; os._exit(0)\n"  # no goodbye
    )
    subprocess.run(
        [PYTHON, "-c", program, f"PYRO:vault@{broker.location}", SECRET],
        check=True,
        timeout=scaled(30),
        cwd=ROOT,
    )
    for worker in pool:  # the broker saw the caller's connection close and told its daemons
        worker.spawned.wait_for(f"DISCONNECT {worker.pid} 1", 15)


def test_through_the_broker_the_handshake_answer_carries_the_brokers_terms(
    start_broker: Any, spawn: Any
) -> None:
    """A handshake a daemon of the pool answers gives the proxy what the broker grants (its
    oneway credit, its size limit), not the daemon's own terms: oneway calls stay flow
    controlled by the broker."""
    broker = start_broker("--max-queue", "40", env={"ZPYRO_MAX_MESSAGE_SIZE": "200000"})
    program = str(ROOT / "tests" / "programs" / "guarded_worker.py")
    workers = [
        GuardedWorker(
            spawn([PYTHON, program, broker.endpoint, "vault", SECRET], env=FAST_HEARTBEAT_ENV)
        )
        for _ in range(2)
    ]
    vault = pooled(broker, SECRET, CheckingProxy)
    vault._pyroBind()
    assert vault._responses[0]["welcome"] in {w.pid for w in workers}  # a daemon answered
    assert vault._pyroCreditWindow == 10  # the broker's: a quarter of its queue bound
    assert vault._pyroMaxMessageSize == 200000  # the broker's limit, below the daemons'
    for n in range(60):  # more than the window: the proxy waits for credit, nothing is lost
        vault.note(n)

    def noted() -> list[int]:
        return sorted(int(line.split()[2]) for w in workers for line in notes(w))

    pause = threading.Event()
    for _ in range(int(scaled(10) / 0.05)):  # bounded wait for the daemons' lines
        if len(noted()) >= 60:
            break
        pause.wait(0.05)
    assert noted() == list(range(60))
    vault._pyroRelease()


def test_a_oneway_call_refused_at_the_gate_gets_a_notice_and_its_credit_back(
    guarded: Any,
) -> None:
    _, uri = guarded
    ser = get_serializer("serpent")
    sock = raw_dealer(uri.endpoint)
    try:
        payload, _ = ser.dumps([("wrong",), {}])  # a refused handshake
        sock.send_multipart(wire.encode(wire.CALL, wire.FLAG_HANDSHAKE, 1, 1, "vault", "", payload))
        assert wire.decode(sock.recv_multipart()).kind == wire.ERROR
        payload, _ = ser.dumps([(), {}])
        flags = wire.FLAG_ONEWAY | wire.FLAG_CREDIT
        sock.send_multipart(wire.encode(wire.CALL, flags, 1, 5, "vault", "open", payload))
        notice = wire.decode(sock.recv_multipart())  # (the socket has a receive timeout)
        assert (notice.kind, notice.flags, notice.call_id) == (wire.ERROR, wire.FLAG_ONEWAY, 5)
        error = Pyro4.errors.payload_to_exception(ser.loads(notice.payload))
        assert isinstance(error, Pyro4.errors.HandshakeError) and "open" in str(error)
        credit = wire.decode(sock.recv_multipart())  # the flush gives the one credit back
        assert (credit.kind, bytes(credit.payload)) == (wire.CREDIT, b"1")
    finally:
        sock.close(linger=0)


# -- refused, never accepted and ignored ----------------------------------------------------------


def test_hmac_keys_are_refused_pointing_to_curve() -> None:
    proxy = Pyro4.Proxy("PYRO:x@127.0.0.1:1")
    with pytest.raises(Pyro4.errors.SecurityError, match="CURVE"):
        proxy._pyroHmacKey = b"secret"
    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        with pytest.raises(Pyro4.errors.SecurityError, match="CURVE"):
            daemon._pyroHmacKey = b"secret"
        with pytest.raises(AttributeError, match="refused"):
            daemon._pyroSomethingElse = 1
    with pytest.raises(Pyro4.errors.SecurityError, match="zpyro-keygen"):
        Pyro4.locateNS("127.0.0.1", 1, hmac_key=b"secret")
    with pytest.raises(Pyro4.errors.SecurityError, match="CURVE"):
        Pyro4.resolve("PYRONAME:x@127.0.0.1:1", hmac_key=b"secret")


@pytest.mark.parametrize("item", ["SSL", "SSL_SERVERCERT", "SSL_CACERTS"])
def test_ssl_is_refused_pointing_to_curve(item: str) -> None:
    with pytest.raises(ValueError, match=f"{item}.*CURVE"):
        setattr(Pyro4.config, item, True if item == "SSL" else "cert.pem")
    assert not getattr(Pyro4.config, item)  # nothing to be ignored later


def test_refused_clients_do_not_disturb_the_others(guarded: Any) -> None:
    _, uri = guarded
    good = Pyro4.Proxy(uri)
    good._pyroHandshake = SECRET
    for _ in range(3):
        with pytest.raises(Pyro4.errors.HandshakeError):
            Pyro4.Proxy(uri).open()
        assert good.open() == "open"
    good._pyroRelease()


def test_an_asyncio_proxy_makes_the_handshake_too(guarded: Any) -> None:
    async def connect(handshake: Any) -> str:
        vault = aio.Proxy(guarded[1])
        if handshake is not None:
            vault._pyroHandshake = handshake
        async with vault:
            return str(await vault.open())

    with pytest.raises(Pyro4.errors.HandshakeError):
        asyncio.run(connect(None))
    assert asyncio.run(connect(SECRET)) == "open"


def test_a_malformed_handshake_is_refused_and_a_goodbye_always_passes(guarded: Any) -> None:
    daemon, uri = guarded
    ser = get_serializer("serpent")
    sock = raw_dealer(uri.endpoint)
    try:
        payload, _ = ser.dumps([("one", "two"), {}])  # a handshake has one argument
        flags = wire.FLAG_HANDSHAKE
        sock.send_multipart(
            wire.encode(wire.CALL, flags, ser.serializer_id, 5, "vault", "", payload)
        )
        reply = wire.decode(sock.recv_multipart())
        error = Pyro4.errors.payload_to_exception(ser.loads(reply.payload))
        assert reply.kind == wire.ERROR and isinstance(error, Pyro4.errors.ProtocolError)
        # refused: its calls are refused, but its goodbye passes (oneway: nothing comes back)
        payload, _ = ser.dumps([(), {}])
        goodbye = wire.encode(
            wire.CALL, wire.FLAG_ONEWAY, ser.serializer_id, 6, wire.DAEMON_OBJECT_ID,
            wire.RELEASE_SESSION, payload,
        )  # fmt: skip
        sock.send_multipart(goodbye)
        sock.send_multipart(
            wire.encode(wire.CALL, 0, ser.serializer_id, 7, "vault", "open", payload)
        )
        reply = wire.decode(sock.recv_multipart())
        assert reply.call_id == 7 and reply.kind == wire.ERROR
    finally:
        sock.close(linger=0)
    assert daemon.gone == []  # never admitted: no clientDisconnect for it


def test_the_context_travels_to_a_thread_with_to_global() -> None:
    seen: list[Any] = []

    @Pyro4.expose
    class Spawner:
        def spawn(self) -> int:
            values = Pyro4.current_context.to_global()

            def worker() -> None:
                Pyro4.current_context.from_global(values)
                seen.append(Pyro4.current_context.seq)

            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
            return int(Pyro4.current_context.seq)

    with Pyro4.Daemon(host="127.0.0.1") as daemon:
        served = ServedDaemon(daemon)
        try:
            assert seen == [] and Pyro4.Proxy(daemon.register(Spawner())).spawn() == seen[0]
        finally:
            served.stop()
