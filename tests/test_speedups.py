"""zpyro's optional C accelerator (``zpyro/_speedups.c``) against the pure-Python path it stands in
for: whole messages received and sent, the same frames, the same errors.

``make test`` runs the suite twice: once as installed (with the accelerator, which the first
test insists on, so a build that failed silently is noticed) and once, the fast tests, with
``ZPYRO_PURE_PYTHON=1`` (the pure-Python path everywhere).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq
from conftest import scaled

from zpyro import peers, sockets

PURE = bool(os.environ.get("ZPYRO_PURE_PYTHON"))

Recv = Callable[..., list[bytes]]
Send = Callable[..., None]

IMPLEMENTATIONS: list[tuple[str, Recv, Send]] = [
    ("pure", sockets._recv_frames, sockets._send_frames)
]
if sockets.speedups is not None:
    IMPLEMENTATIONS.append(("C", sockets.speedups.recv_frames, sockets.speedups.send_frames))


def test_the_accelerator_is_in_use_unless_pure_python_is_asked_for() -> None:
    if PURE:
        assert sockets.speedups is None
        assert sockets.recv_frames is sockets._recv_frames
    else:
        assert sockets.speedups is not None, (
            "zpyro._speedups was not built or does not load (a C compiler and Python's headers "
            "are all it needs: `make venv` builds it); ZPYRO_PURE_PYTHON=1 runs without it"
        )
        assert sockets.recv_frames is not sockets._recv_frames


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]]:
    ctx = sockets.context()
    router = ctx.socket(zmq.ROUTER)
    dealer = ctx.socket(zmq.DEALER)
    endpoint = f"inproc://speedups-{os.urandom(8).hex()}"
    router.bind(endpoint)
    dealer.connect(endpoint)
    router.rcvtimeo = int(scaled(5) * 1000)
    dealer.rcvtimeo = int(scaled(5) * 1000)
    yield router, dealer
    dealer.close(linger=0)
    router.close(linger=0)


def ids(impls: list[tuple[str, Recv, Send]]) -> list[str]:
    return [name for name, _, _ in impls]


MESSAGES = [
    [b"one"],
    [b"ZPY\x01", b"\x01" * 12 + b"objmeth", b"payload"],
    [b"", b"", b""],
    [b"ZPY\x01", b"h" * 12, b"x" * 1_000_000, b"buffer" * 10_000, b""],
]


@pytest.mark.parametrize("recv_name", ids(IMPLEMENTATIONS))
@pytest.mark.parametrize("send_name", ids(IMPLEMENTATIONS))
@pytest.mark.parametrize("message", MESSAGES, ids=["1 frame", "call", "empty frames", "big"])
def test_a_message_arrives_whole_whichever_side_is_compiled(
    pair: Any, recv_name: str, send_name: str, message: list[bytes]
) -> None:
    router, dealer = pair
    recv = dict((n, r) for n, r, _ in IMPLEMENTATIONS)[recv_name]
    send = dict((n, s) for n, _, s in IMPLEMENTATIONS)[send_name]
    send(dealer, list(message), True, 0)
    send(dealer, [b"next"], True, 0)  # the message after: never mixed into the first
    ident, *frames = recv(router, 0)
    assert frames == message
    assert recv(router, 0)[1:] == [b"next"]
    send(router, [ident, *message], True, 0)  # and back, through the ROUTER
    assert recv(dealer, 0) == message


@pytest.mark.parametrize("name,recv,send", IMPLEMENTATIONS, ids=ids(IMPLEMENTATIONS))
def test_nothing_there_is_zmq_again(pair: Any, name: str, recv: Recv, send: Send) -> None:
    router, _ = pair
    with pytest.raises(zmq.Again):
        recv(router, zmq.NOBLOCK)
    router.rcvtimeo = 20  # a blocking receive that times out: the same
    started = time.monotonic()
    with pytest.raises(zmq.Again):
        recv(router, 0)
    assert time.monotonic() - started >= 0.015


@pytest.mark.parametrize("name,recv,send", IMPLEMENTATIONS, ids=ids(IMPLEMENTATIONS))
def test_a_send_with_no_peer_is_zmq_again_and_sends_nothing(
    name: str, recv: Recv, send: Send
) -> None:
    lonely = sockets.context().socket(zmq.DEALER)
    try:
        with pytest.raises(zmq.Again):
            send(lonely, [b"a", b"b"], True, zmq.NOBLOCK)
    finally:
        lonely.close(linger=0)


@pytest.mark.parametrize("name,recv,send", IMPLEMENTATIONS, ids=ids(IMPLEMENTATIONS))
def test_a_closed_socket_is_a_zmq_error_not_a_crash(name: str, recv: Recv, send: Send) -> None:
    closed = sockets.context().socket(zmq.DEALER)
    closed.close()
    with pytest.raises(zmq.ZMQError) as info:
        recv(closed, zmq.NOBLOCK)
    assert info.value.errno == zmq.ENOTSOCK
    with pytest.raises(zmq.ZMQError):
        send(closed, [b"x"], True, zmq.NOBLOCK)


@pytest.mark.parametrize("copy", [True, False])
def test_frames_that_are_not_bytes_or_not_copied_are_sent_by_pyzmq(pair: Any, copy: bool) -> None:
    """The compiled send copies bytes frames; anything else it hands to the pure-Python send."""
    router, dealer = pair
    big = b"x" * 100_000
    sockets.send_frames(dealer, [b"a", memoryview(b"b"), bytearray(b"c"), big], copy)
    assert sockets.recv_frames(router)[1:] == [b"a", b"b", b"c", big]
    sockets.send_frames(dealer, [b"a", big], copy)  # bytes only, not to be copied
    assert sockets.recv_frames(router)[1:] == [b"a", big]


@pytest.mark.parametrize("name,recv,send", IMPLEMENTATIONS, ids=ids(IMPLEMENTATIONS))
def test_a_signal_reaches_a_thread_blocked_in_a_receive(
    pair: Any, name: str, recv: Recv, send: Send
) -> None:
    """The GIL is let go while libzmq waits, and a signal's Python handler still runs: its
    exception ends the receive (as Ctrl-C must end a daemon's request loop)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread")
    router, _ = pair

    class Interrupted(Exception):
        pass

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        started = time.monotonic()
        with pytest.raises(Interrupted):
            recv(router, 0)  # RCVTIMEO is 5 s
        assert time.monotonic() - started < scaled(2)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_other_threads_run_while_one_waits_in_a_receive(pair: Any) -> None:
    router, dealer = pair
    ran = threading.Event()
    waiter = threading.Thread(target=lambda: ran.set())
    results: list[list[bytes]] = []
    receiver = threading.Thread(target=lambda: results.append(sockets.recv_frames(router)))
    receiver.start()
    waiter.start()
    assert ran.wait(scaled(2)), "a thread blocked in a receive holds the GIL"
    sockets.send_frames(dealer, [b"done"])
    receiver.join(scaled(5))
    assert results and results[0][1:] == [b"done"]


NOTING = [("pure", peers._recv_new_fd)]
if sockets.speedups is not None:
    NOTING.append(("C", sockets.speedups.recv_noting))


@pytest.mark.parametrize("name,recv", NOTING, ids=[n for n, _ in NOTING])
@pytest.mark.parametrize("message", MESSAGES[:3], ids=["1 frame", "call", "empty frames"])
def test_a_new_peers_message_tells_its_connection_a_known_ones_does_not(
    name: str, recv: Callable[..., Any], message: list[bytes]
) -> None:
    # over tcp: the descriptor is the connection's (getpeername() of it is the dealer's
    # address); once the peer is known, only the frames (flags, e.g. 0x10, passed untouched)
    ctx = sockets.context()
    router = ctx.socket(zmq.ROUTER)
    dealer = ctx.socket(zmq.DEALER)
    try:
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.connect(f"tcp://127.0.0.1:{port}")
        router.rcvtimeo = int(scaled(5) * 1000)
        dealer.send_multipart(message)
        frames, fd = recv(router, {}, 0)
        assert frames[1:] == message and fd is not None and fd >= 0
        host, _ = peers.peer_address(fd)
        assert host == "127.0.0.1"
        dealer.send_multipart(message)
        again, fd2 = recv(router, {frames[0]: fd}, 0)
        assert again == frames and fd2 is None
    finally:
        dealer.close(linger=0)
        router.close(linger=0)


@pytest.mark.parametrize("name,recv", NOTING, ids=[n for n, _ in NOTING])
def test_an_inproc_peer_has_no_descriptor(pair: Any, name: str, recv: Callable[..., Any]) -> None:
    router, dealer = pair
    dealer.send_multipart([b"ZPY\x01", b"x"])
    frames, fd = recv(router, {}, 0)
    assert frames[1:] == [b"ZPY\x01", b"x"] and fd == peers.NO_FD
