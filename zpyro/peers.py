"""A daemon's client connections as the operating system sees them: when one went away, which
address it comes from, and closing one the daemon wants gone.

A ROUTER tells nothing when a peer disconnects. Its socket monitor does report
``EVENT_DISCONNECTED`` with the connection's file descriptor, and every received message can
tell the descriptor it came on (``ZMQ_SRCFD``). So the first message of each peer records
peer -> fd (and the peer's address, read from that descriptor once), and a disconnect of that
fd names the peer whose state (sessions, streams, Pyro's ``clientDisconnect``) can go. Only a
peer's first message is received as ``zmq.Frame`` objects to read the descriptor: every later
one costs a dict lookup (:func:`recv_noting_new`).

Descriptors are reused: a new peer arriving on the fd of an old one means the old connection is
closed (its state is released right away) and its disconnect event, if it comes later, is
stale and ignored. So the peers noted are bounded by the process's descriptors, also without
the monitor (a daemon that only needs addresses). An inproc peer has no descriptor: it is known
(``-1``) until released, or until MAX_INPROC newer ones pushed it out.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from .sockets import can_read, speedups

NO_FD = -1  # an inproc peer: no descriptor, no address, never reported gone by the monitor
MAX_INPROC = 4096  # inproc peers remembered (the rest are noted again when they call)

_RECV = zmq.backend.Socket.recv
_GET = zmq.backend.Socket.get
_RCVMORE = int(zmq.RCVMORE)
_NOBLOCK = int(zmq.NOBLOCK)


def recv_noting_new(
    sock: zmq.Socket[bytes], known: dict[bytes, Any], flags: int = _NOBLOCK
) -> tuple[list[bytes], Any]:
    """One message from a ROUTER as bytes; and, when its peer is not in `known`, its last frame
    as a ``zmq.Frame`` (whose metadata tells the connection), else None."""
    frames = [_RECV(sock, flags)]
    if frames[0] in known:
        while _GET(sock, _RCVMORE):
            frames.append(_RECV(sock, 0))
        return frames, None
    last = None
    while _GET(sock, _RCVMORE):
        last = _RECV(sock, 0, False)
        frames.append(last.bytes)
    return frames, last


def _recv_new_fd(
    sock: zmq.Socket[bytes], known: dict[bytes, Any], flags: int = _NOBLOCK
) -> tuple[list[bytes], int | None]:
    """One message from a ROUTER as bytes; and, when its peer is not in `known`, the descriptor
    of the connection it came on (NO_FD: none), else None."""
    frames, last = recv_noting_new(sock, known, flags)
    return frames, None if last is None else fd_of(last)


def fd_of(frame: Any) -> int:
    """The descriptor of the connection a received ``zmq.Frame`` came on (NO_FD: none)."""
    try:
        fd = int(frame.get(zmq.SRCFD))
    except (zmq.ZMQError, TypeError, ValueError, AttributeError):
        return NO_FD
    return fd if fd >= 0 else NO_FD


# the C accelerator's one-call receive when there (see zpyro/_speedups.c), else pure Python
recv_new_fd: Callable[..., tuple[list[bytes], int | None]] = _recv_new_fd
if speedups is not None and hasattr(speedups, "recv_noting"):
    recv_new_fd = speedups.recv_noting


def _on_descriptor(fd: int, act: Callable[[socket.socket], Any]) -> Any:
    """`act` on a socket object borrowed for libzmq's descriptor `fd` (which stays libzmq's:
    detached, never closed here); None when the descriptor or `act` fails."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        return act(sock)
    except OSError:
        return None
    finally:
        sock.detach()


def peer_address(fd: int) -> Any:
    """What ``getpeername()`` says of a connection's descriptor (None if it cannot tell)."""
    return _on_descriptor(fd, socket.socket.getpeername)


def _shut_down(sock: socket.socket) -> bool:
    sock.shutdown(socket.SHUT_RDWR)
    return True


class PeerWatch:
    """A ROUTER's peers by the connection each came on; with `monitored` (or once
    :meth:`start_monitor` ran, on the thread that owns the ROUTER) also told when one goes."""

    def __init__(self, router: zmq.Socket[bytes], monitored: bool = True) -> None:
        self.monitor: zmq.Socket[bytes] | None = None
        self._router = router
        if monitored:
            self.start_monitor()
        self.known: dict[bytes, int] = {}  # peer -> fd (NO_FD for inproc)
        self._fd_peer: dict[int, bytes] = {}
        self._address: dict[bytes, Any] = {}
        self._inproc: dict[bytes, None] = {}  # the inproc peers in `known`, oldest first
        self._stale: Counter[int] = Counter()  # disconnect events still due for reused fds

    def start_monitor(self) -> None:
        """Be told of disconnects from now on (peers noted before are covered too)."""
        if self.monitor is None:
            self.monitor = self._router.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    def note(self, peer: bytes, frame: Any) -> list[bytes]:
        """Record the connection of a peer's first message (its last ``zmq.Frame``); peers
        known to be gone because of it (their descriptor came back for this one)."""
        return [] if peer in self.known else self.note_fd(peer, fd_of(frame))

    def note_fd(self, peer: bytes, fd: int) -> list[bytes]:
        """As note(), with the descriptor already read (NO_FD: none)."""
        if peer in self.known:
            return []
        if fd < 0:
            # bounded: an inproc peer forgotten here is just noted again at its next message
            if len(self._inproc) >= MAX_INPROC:
                oldest = next(iter(self._inproc))
                del self._inproc[oldest]
                self.known.pop(oldest, None)
            self._inproc[peer] = None
            self.known[peer] = NO_FD
            return []
        gone = []
        old = self._fd_peer.get(fd)
        if old is not None:  # that connection closed and its fd was reused
            gone.append(old)
            self._forget(old)
            if self.monitor is not None:  # its disconnect event is still to come
                self._stale[fd] += 1
        self._fd_peer[fd] = peer
        self.known[peer] = fd
        self._address[peer] = peer_address(fd)
        return gone

    def address(self, peer: bytes) -> Any:
        """The peer's address: (host, port) for tcp, a path or '' for ipc, None if unknown."""
        return self._address.get(peer)

    def released(self, peer: bytes) -> None:
        """The peer said goodbye. A connection with a descriptor stays known until its
        disconnect (a new peer on a reused fd must not be taken for it); an inproc one goes."""
        if self.known.get(peer) == NO_FD:
            del self.known[peer]
            self._inproc.pop(peer, None)

    def drop(self, peer: bytes) -> bool:
        """Close a peer's connection under libzmq's feet (shut its socket down): libzmq sees the
        end of the stream and disconnects it, and the monitor then reports it gone. False when
        the peer has no descriptor (inproc) or is unknown."""
        fd = self.known.get(peer, NO_FD)
        return fd >= 0 and bool(_on_descriptor(fd, _shut_down))

    def gone(self) -> list[bytes]:
        """Peers whose connections closed since the last look (drains the monitor)."""
        peers: list[bytes] = []
        monitor = self.monitor
        if monitor is None:
            return peers
        while can_read(monitor):
            event = recv_monitor_message(monitor, zmq.NOBLOCK)
            if event["event"] != zmq.EVENT_DISCONNECTED:
                continue
            fd = int(event["value"])
            if self._stale[fd]:
                self._stale[fd] -= 1
                continue
            peer = self._fd_peer.get(fd)
            if peer is not None:
                self._forget(peer)
                peers.append(peer)
        return peers

    def _forget(self, peer: bytes) -> None:
        fd = self.known.pop(peer, NO_FD)
        self._address.pop(peer, None)
        self._inproc.pop(peer, None)
        if fd >= 0 and self._fd_peer.get(fd) == peer:
            del self._fd_peer[fd]

    def __del__(self) -> None:  # see Connection.__del__: the monitor stops first
        try:
            self.close()
        except Exception:  # at interpreter exit pyzmq itself may be half gone: nothing to do
            pass

    def close(self) -> None:
        if self.monitor is None or self.monitor.closed:
            return
        try:
            self._router.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(linger=0)
