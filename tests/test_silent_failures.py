"""Every way ZeroMQ can fail silently shows up as an explicit error or a recovery.

ZeroMQ's defaults hide failures: a frame over ZMQ_MAXMSGSIZE just drops the link, a ROUTER
throws away replies to a peer that has gone, a PUB throws away what a slow subscriber cannot
take, a DEALER queues calls for a peer that is not there and delivers them whenever it comes.
And a default server must never unpickle what a stranger sent. One test (or pair) each.
"""

from __future__ import annotations

import logging
import marshal
import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import (
    PYTHON,
    BrokerProcess,
    ServedDaemon,
    eventually,
    raw_dealer,
    scaled,
    serving,
)

import zpyro
from zpyro import errors, wire
from zpyro.namewatch import NameWatcher
from zpyro.serializers import BY_ID, get_serializer

pytestmark = pytest.mark.timeout(60)

LIMIT = 100_000  # MAX_MESSAGE_SIZE of the daemons and brokers here
BACKSTOP = LIMIT + 65536  # ZMQ_MAXMSGSIZE: libzmq drops the link for a frame bigger than this


@zpyro.expose
class Recorder:
    """Records what it is called with; `hold` blocks until the test lets it go."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.arrived = threading.Event()
        self.started = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()

    def record(self, value: Any) -> int:
        self.seen.append(value)
        self.arrived.set()
        return len(self.seen)

    def echo(self, value: Any) -> Any:
        return value

    def hold(self, tag: Any) -> Any:
        self.started.set()
        try:
            assert self.release.wait(scaled(30)), "never released"
            return tag
        finally:
            self.returned.set()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.release.set()  # never leave a served thread blocked


def reply_error(sock: zmq.Socket) -> BaseException:
    msg = wire.decode(sock.recv_multipart())  # bounded by raw_dealer's receive timeout
    assert msg.kind == wire.ERROR, msg
    return errors.payload_to_exception(BY_ID[msg.serializer_id].loads(msg.payload))


# -- ZMQ_MAXMSGSIZE ---------------------------------------------------------------------------------


def _oversize_checks(
    uri: str, echo: str, unwrap: Any, pending: tuple[str, tuple[Any, ...]]
) -> None:
    """Over the limit within the backstop: an error reply. Far over: the link drops and every
    call pending on that connection fails with ConnectionClosedError, promptly.

    `echo` names a method whose result, through `unwrap`, is its argument; `pending` is a
    (method, args) call that runs a few seconds."""
    p = zpyro.Proxy(uri)
    p._pyroTimeout = scaled(20)  # a hang would end as TimeoutError: the test would fail
    try:
        p._pyroBind()
        assert p._pyroMaxMessageSize == LIMIT  # learned when connecting
        p._pyroMaxMessageSize = 10 * LIMIT  # skip the local check, as a peer ignoring it would
        with pytest.raises(errors.MessageTooLargeError, match=str(LIMIT)):
            getattr(p, echo)(b"x" * (LIMIT + 1000))
        assert unwrap(getattr(p, echo)("still there")) == "still there"  # the link is intact

        p._pyroAsync(True)  # calls return futures, all on this one connection
        held = [getattr(p, pending[0])(*pending[1]) for _ in range(2)]
        started = time.monotonic()
        huge = getattr(p, echo)(b"x" * (3 * BACKSTOP))  # libzmq drops the link for it
        for f in [huge, *held]:
            with pytest.raises(errors.ConnectionClosedError):
                f.result(scaled(10))
        assert time.monotonic() - started < scaled(2.5), "noticed, but not promptly"
        p._pyroAsync(False)
        assert unwrap(getattr(p, echo)("again")) == "again"  # the proxy connects anew
    finally:
        p._pyroRelease()


def test_maxmsgsize_daemon_error_reply_or_dropped_link_never_a_hang(recorder: Recorder) -> None:
    with serving(max_message_size=LIMIT) as served:
        try:
            uri = str(served.register(recorder, "rec"))
            _oversize_checks(uri, "echo", lambda v: v, ("hold", ("pending",)))
            with zpyro.Proxy(uri) as other:  # the daemon goes on serving everyone
                assert other.record("after") == 1
        finally:
            recorder.release.set()  # before the daemon stops: its held calls end


def test_maxmsgsize_broker_error_reply_or_dropped_link_never_a_hang(
    start_broker: Any, start_worker: Any
) -> None:
    broker = start_broker(env={"ZPYRO_MAX_MESSAGE_SIZE": str(LIMIT)})  # the worker's is 1 GiB
    worker = start_worker(broker, "jobs", 4)
    jobs = f"PYRO:jobs@{broker.location}"
    _oversize_checks(jobs, "work", lambda v: v[1], ("work", ("pending", 3.0)))
    with zpyro.Proxy(jobs) as other, zpyro.Proxy(broker.uri) as ns:  # the broker goes on
        assert other.square(7) == [worker.pid, 49]
        ns.ping()


# -- ROUTER_MANDATORY: a reply to a client that has gone ---------------------------------------------


def test_reply_to_a_departed_client_is_logged_and_the_daemon_goes_on(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zpyro")
    daemon = zpyro.Daemon(host="127.0.0.1")
    router = daemon.sockets[0]
    monitor = router.get_monitor_socket(zmq.EVENT_DISCONNECTED)  # before its loop owns it
    served = ServedDaemon(daemon)
    try:
        uri = served.register(recorder, "rec")
        client = raw_dealer(daemon.endpoint)
        payload, _ = get_serializer("serpent").dumps([("late",), {}])
        client.send_multipart(wire.encode(wire.CALL, 0, 1, 5, "rec", "hold", payload))
        assert recorder.started.wait(scaled(5))
        client.close()  # mid-call
        assert monitor.poll(int(scaled(5) * 1000)), "the daemon never saw the client go"
        monitor.recv_multipart()
        with zpyro.Proxy(uri) as p:  # a round trip: the daemon's loop has run since
            assert p.echo(1) == 1
        recorder.release.set()

        def logged() -> bool:
            return any(
                "reply to departed client" in r.getMessage() and "dropped" in r.getMessage()
                for r in caplog.records
                if r.name == "zpyro.server" and r.levelno == logging.INFO
            )

        eventually(logged, 5, "the dropped reply is logged")
        with zpyro.Proxy(uri) as p:
            assert p.record("after") == 1
        assert served.thread.is_alive()
    finally:
        recorder.release.set()
        served.stop()  # (the router's monitor ends with it; no other thread touches the router)
        monitor.close(linger=0)


# -- PUB high-water mark: a slow subscriber misses announcements ---------------------------------


class TinyBufferWatcher(NameWatcher):
    """A NameWatcher whose SUB holds one message and a 4 KiB kernel buffer: easy to overflow."""

    def _connect_sub(self, sub: zmq.Socket) -> None:
        sub.rcvhwm = 1
        sub.rcvbuf = 4096
        super()._connect_sub(sub)


def test_a_slow_subscriber_sees_the_gap_and_recovers_with_a_snapshot(broker: BrokerProcess) -> None:
    release = threading.Event()

    def slow(_announcement: Any) -> None:
        release.wait(scaled(30))  # a subscriber stuck in its own work

    ns = zpyro.Proxy(broker.uri)
    watcher = TinyBufferWatcher("127.0.0.1", broker.port, broker.pub_port, on_event=slow)
    try:
        watcher.start()
        assert watcher.snapshots == 1
        seq_before = watcher.seq
        count = 20_000
        for start in range(0, count, 1000):  # ~30k announcements as fast as the broker goes
            b = zpyro.BatchProxy(ns)
            for i in range(start, start + 1000):
                b.register(f"flood.{i}", f"PYRO:obj{i}@127.0.0.1:1")
            list(b())
        removed = ns.remove(prefix="flood.1")
        assert removed == 11_111  # flood.1, .10-.19, .100-.199, .1000-.1999, .10000-.19999
        expected = {n: (u, set(t)) for n, (u, t) in ns.list(return_metadata=True).items()}
        assert len(expected) == count - removed + 1  # and Pyro.NameServer
        last = ns.snapshot()["seq"]
        assert last >= seq_before + count + removed
        release.set()
        # (polled: a wait_for predicate would copy 20k names at each of 30k announcements)
        eventually(lambda: watcher.seq >= last, 20, "the subscriber catches up")
        assert watcher.names() == expected
        assert watcher.snapshots >= 2, "nothing was dropped: the test did not test the gap"
    finally:
        release.set()
        watcher.close()
        ns._pyroRelease()


# -- DEALER queuing for a peer that is not there -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_call_to_an_absent_daemon_fails_fast_and_never_runs_later() -> None:
    port = _free_port()
    first, second = Recorder(), Recorder()
    with serving(port=port) as served:
        uri = str(served.register(first, "rec"))
        with zpyro.Proxy(uri) as p:
            assert p.record("warm-up") == 1  # the metadata of uri is cached now
    p = zpyro.Proxy(uri)  # a new proxy sends its call right away: no metadata round trip
    started = time.monotonic()
    # refused; or, as the old listener is still going away, a handshake cut short
    with pytest.raises(errors.CommunicationError) as info:
        p.record("early")
    assert not isinstance(info.value, errors.TimeoutError)
    assert time.monotonic() - started < scaled(3), "failing took too long"
    with serving(port=port) as served:  # a daemon comes to that address after all
        served.register(second, "rec")
        # the same proxy connects anew; "late" is the first call this daemon ever runs...
        assert p.record("late") == 1
        # ...and the early call was kept nowhere, to be delivered now: it never arrives
        second.arrived.clear()
        assert not second.arrived.wait(scaled(1.0))  # well past a reconnect interval (100 ms)
        assert second.seen == ["late"]
    p._pyroRelease()
    assert first.seen == ["warm-up"]


def _hang_up_listener(times: int) -> socket.socket:
    """A TCP listener that accepts `times` connections and closes each at once: the ZMTP
    handshake never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(times)

    def hang_up() -> None:
        for _ in range(times):
            try:
                peer, _ = listener.accept()
            except OSError:  # the test closed the listener
                return
            peer.close()

    threading.Thread(target=hang_up, daemon=True).start()
    return listener


def test_a_send_after_libzmq_dropped_the_connection_does_not_block() -> None:
    """A connection that is made and then dropped, maybe before the leader has read
    the monitor event that says so; a DEALER with no peer at all would block a plain send for
    good. Every send must either queue or report the connection closed, and the connection
    ends with the monitor's reason."""
    from zpyro.connection import Connection

    listener = _hang_up_listener(1)
    conn = Connection(f"tcp://127.0.0.1:{listener.getsockname()[1]}", scaled(5))
    try:
        frames = wire.encode(wire.PING, 0, 0, 1, "", "")
        outcome: list[bool] = []

        def a_send_fails() -> bool:  # queued while the pipe lasts; then the news, no hang
            outcome.clear()
            sender = threading.Thread(target=lambda: outcome.append(conn._send(frames)))
            sender.start()
            sender.join(scaled(5))
            assert outcome, "a send on a dropped connection blocked"
            assert conn._monitor is not None
            if conn._monitor.poll(10):  # (waits for libzmq's news, 10 ms at most)
                conn._drain_monitor()
            return conn.closed or not outcome[-1]

        eventually(a_send_fails, 5, "a send on the dropped connection fails", pause=0)
        assert conn.closed
        with pytest.raises(errors.CommunicationError, match="handshake"):
            conn.call(frames, 1, scaled(5))
    finally:
        conn.close()
        listener.close()


def test_a_future_sent_after_its_peer_is_gone_fails_as_never_sent() -> None:
    """A future in flight when the peer goes fails as lost (ConnectionClosedError); one sent
    after that fails as a call never sent -- on a broker pair's connection StaleConnection,
    which the proxy sends again to the broker that took over -- not as one lost in flight (the
    soak's futures after a failover)."""
    from zpyro.connection import Connection
    from zpyro.linkstate import StaleConnection
    from zpyro.sockets import context

    router = context().socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    conn = Connection(f"tcp://127.0.0.1:{port}", scaled(5))
    conn.resend_unsent = True  # (as for a broker pair)
    try:
        lost: list[BaseException | None] = []
        conn.submit(
            wire.encode(wire.PING, 0, 0, 1, "", ""), 1, scaled(5), lambda r, e: lost.append(e)
        )
        router.recv_multipart()  # the connection is made: the ping came
        router.close()
        eventually(lambda: lost, 5, "the future in flight failed")
        assert isinstance(lost[0], errors.ConnectionClosedError), lost
        assert not isinstance(lost[0], StaleConnection), lost
        got: list[BaseException | None] = []
        frames = wire.encode(wire.PING, 0, 0, 2, "", "")
        try:
            conn.submit(frames, 2, scaled(5), lambda r, e: got.append(e))
        except StaleConnection as exc:  # (found closed before it was registered: as good)
            got.append(exc)
        eventually(lambda: got, 5, "the future failed")
        assert isinstance(got[0], StaleConnection), got
    finally:
        conn.close()


SLOW_SERVER = """
import sys, time
import zpyro

@zpyro.expose
class Slow:
    def slow(self):
        print("SLOW STARTED", flush=True)
        time.sleep(60)

daemon = zpyro.Daemon(host="127.0.0.1")
print("READY", daemon.register(Slow(), "slow"), flush=True)
daemon.request_loop()
"""


def test_a_daemon_dying_mid_call_fails_the_call_with_connection_closed(spawn: Any) -> None:
    proc = spawn([PYTHON, "-c", SLOW_SERVER])
    uri = proc.wait_for("READY").split()[1]
    p = zpyro.asyncproxy(zpyro.Proxy(uri))
    try:
        future = p.slow()
        proc.wait_for("SLOW STARTED")
        started = time.monotonic()
        proc.kill()  # by its pid
        with pytest.raises(errors.ConnectionClosedError):
            future.result(scaled(10))
        assert time.monotonic() - started < scaled(3)
    finally:
        p._pyroRelease()


@pytest.fixture
def brokered(recorder: Recorder) -> Iterator[Any]:
    """start(broker) -> a brokered daemon in a thread serving `recorder` as "rec"."""
    started: list[ServedDaemon] = []

    def start(broker: BrokerProcess) -> ServedDaemon:
        zpyro.config.HEARTBEAT_INTERVAL = 0.2  # as the broker's: it notices a new one quickly
        zpyro.config.HEARTBEAT_TIMEOUT = 2.0
        daemon = zpyro.Daemon(broker=broker.endpoint, capacity=4)
        served = ServedDaemon(daemon)
        started.append(served)
        served.register(recorder, "rec")
        assert daemon.wait_attached(scaled(10))
        return served

    yield start
    recorder.release.set()
    for served in started:
        served.stop()


def test_a_reply_held_while_the_broker_is_frozen_is_delivered_after(
    broker: BrokerProcess, brokered: Any, recorder: Recorder
) -> None:
    brokered(broker)
    p = zpyro.asyncproxy(zpyro.Proxy(f"PYRO:rec@{broker.location}"))
    try:
        future = p.hold("held")
        assert recorder.started.wait(scaled(5))
        os.kill(broker.pid, signal.SIGSTOP)  # the broker is away (frozen, its sockets open)
        try:
            recorder.release.set()
            assert recorder.returned.wait(scaled(5))  # the daemon has its reply ready...
            assert not future.done()  # ...and nobody to take it: held
            threading.Event().wait(0.3)  # the broker stays away a while (scenario, not a wait)
            assert not future.done()
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        assert future.result(scaled(10)) == "held"  # delivered once it is back
    finally:
        p._pyroRelease()


def test_a_reply_held_while_the_broker_restarts_is_dropped_and_logged(
    start_broker: Any, brokered: Any, recorder: Recorder
) -> None:
    broker = start_broker()
    brokered(broker)
    uri = f"PYRO:rec@{broker.location}"
    p = zpyro.asyncproxy(zpyro.Proxy(uri))
    try:
        future = p.hold("held")
        assert recorder.started.wait(scaled(5))
        broker.spawned.kill()  # gone, with what it knew of the call
        with pytest.raises(errors.ConnectionClosedError):
            future.result(scaled(10))  # the caller is told, not left waiting
        recorder.release.set()
        assert recorder.returned.wait(scaled(5))  # the reply waits in the daemon's DEALER
        again = start_broker("-v", port=broker.port, pub_port=broker.pub_port)
        # the daemon reconnects and hands its old reply over: the new broker drops it, saying so
        line = again.spawned.wait_for("late or unknown reply from daemon")
        assert "dropped" in line
        with zpyro.Proxy(uri) as fresh:  # and the daemon registered again by itself

            def served() -> bool:
                try:
                    return fresh.record("after restart") >= 1
                except errors.DaemonError:  # not re-registered yet
                    return False

            eventually(served, 10, "the daemon comes back to the new broker")
    finally:
        p._pyroRelease()


# -- pickle and marshal: never loaded by a default server ----------------------------------------


class Evil:
    """Unpickling this creates a file: proof that pickle.loads ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def _pickle_call(path: Path, object_id: str = "rec", method: str = "record") -> list[bytes]:
    payload = pickle.dumps([(Evil(path),), {}], protocol=5)
    ser_id = get_serializer("pickle").serializer_id
    return wire.encode(wire.CALL, 0, ser_id, 11, object_id, method, payload)


MARSHAL_MARK = "marshal ran"


def _marshal_call(object_id: str = "rec", method: str = "record") -> list[bytes]:
    payload = marshal.dumps([(MARSHAL_MARK,), {}])  # loading it would run record()
    ser_id = get_serializer("marshal").serializer_id
    return wire.encode(wire.CALL, 0, ser_id, 12, object_id, method, payload)


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts pickle.loads and marshal.loads of the test's payloads in this process (and still
    does them). Only those payloads: importing a module also runs marshal.loads."""
    counts = {"pickle": 0, "marshal": 0}
    real_pickle, real_marshal = pickle.loads, marshal.loads

    def pickle_loads(data: Any, *args: Any, **kwargs: Any) -> Any:
        counts["pickle"] += b"pwned" in bytes(data)
        return real_pickle(data, *args, **kwargs)

    def marshal_loads(data: Any, *args: Any, **kwargs: Any) -> Any:
        counts["marshal"] += MARSHAL_MARK.encode() in bytes(data)
        return real_marshal(data, *args, **kwargs)

    monkeypatch.setattr(pickle, "loads", pickle_loads)
    monkeypatch.setattr(marshal, "loads", marshal_loads)
    return counts


def test_a_default_daemon_never_loads_pickle_or_marshal(
    tmp_path: Path, recorder: Recorder, spies: dict[str, int]
) -> None:
    target = tmp_path / "pwned"
    with serving() as served:
        served.register(recorder, "rec")
        sock = raw_dealer(served.daemon.endpoint)
        try:
            sock.send_multipart(_pickle_call(target))
            exc = reply_error(sock)
            assert isinstance(exc, errors.SerializeError) and "pickle" in str(exc)
            sock.send_multipart(_marshal_call())
            exc = reply_error(sock)
            assert isinstance(exc, errors.SerializeError) and "marshal" in str(exc)
        finally:
            sock.close()
    assert not target.exists()
    assert recorder.seen == []
    assert spies == {"pickle": 0, "marshal": 0}


def test_a_daemon_that_opted_in_does_load_them(
    tmp_path: Path, recorder: Recorder, spies: dict[str, int]
) -> None:
    """The same bytes, to a daemon that accepts pickle and marshal: they are loaded (so the
    test above would fail if the default daemon loaded them)."""
    target = tmp_path / "pwned"
    with serving(serializers_accepted={"serpent", "json", "pickle", "marshal"}) as served:
        served.register(recorder, "rec")
        sock = raw_dealer(served.daemon.endpoint)
        try:
            sock.send_multipart(_pickle_call(target))
            sock.recv_multipart()
            sock.send_multipart(_marshal_call())
            sock.recv_multipart()
        finally:
            sock.close()
    assert target.exists()
    assert MARSHAL_MARK in recorder.seen
    assert spies["pickle"] >= 1 and spies["marshal"] >= 1


def test_the_broker_and_its_default_daemons_never_load_pickle_or_marshal(
    tmp_path: Path, broker: BrokerProcess, start_worker: Any
) -> None:
    start_worker(broker, "jobs", 2)
    target = tmp_path / "pwned"
    sock = raw_dealer(broker.endpoint)
    try:
        # the broker's own object, and one it forwards to a (default) daemon
        for object_id in ("Pyro.NameServer", "jobs"):
            sock.send_multipart(_pickle_call(target, object_id, "count"))
            exc = reply_error(sock)
            assert isinstance(exc, errors.SerializeError) and "pickle" in str(exc), exc
            sock.send_multipart(_marshal_call(object_id, "count"))
            exc = reply_error(sock)
            assert isinstance(exc, errors.SerializeError) and "marshal" in str(exc), exc
    finally:
        sock.close()
    assert not target.exists()


def test_a_reply_that_came_just_before_the_peer_closed_is_delivered() -> None:
    """A daemon that answers and closes at once (stopped by the call it answers, as Pyro
    programs do): the reply reaches the caller, even when the caller reads it only after the
    connection is gone. (libzmq drops a connection's pipe, with a reply still unread in it, when
    the socket will not reconnect or queues only to live connections: neither may be set.)"""
    import sys

    from zpyro.connection import FAST_WAIT_MS, Connection
    from zpyro.sockets import context

    router = context().socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    conn = Connection(f"tcp://127.0.0.1:{port}", scaled(5))
    outcome: list[Any] = []
    caller = threading.Thread(
        target=lambda: outcome.append(
            _reply_or_error(conn, wire.encode(wire.PING, 0, 0, 1, "", ""))
        )
    )
    switch = sys.getswitchinterval()
    try:
        caller.start()
        ident, *_ = router.recv_multipart()
        time.sleep(3 * FAST_WAIT_MS / 1000)  # the caller now waits in a poll, not in a receive
        sys.setswitchinterval(30)  # the caller cannot take the GIL back until we let it
        try:
            router.send_multipart([ident, *wire.encode(wire.PONG, 0, 0, 1, "", "")])
            router.close(linger=1000)  # the reply, then the connection's end
            until = time.monotonic() + 0.5  # libzmq's threads (no GIL) take in both meanwhile
            while time.monotonic() < until:
                pass
        finally:
            sys.setswitchinterval(switch)
        caller.join(scaled(10))
        assert outcome and isinstance(outcome[0], wire.Message), outcome
        assert outcome[0].kind == wire.PONG
    finally:
        sys.setswitchinterval(switch)
        conn.close()


def _reply_or_error(conn: Any, frames: list[Any]) -> Any:
    try:
        return conn.call(frames, 1, scaled(5))
    except errors.ZPyroError as exc:
        return exc
