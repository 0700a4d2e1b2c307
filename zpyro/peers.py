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
stale and ignored. An inproc peer has no descriptor: it is known (``-1``) until released.
"""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from .sockets import can_read

NO_FD = -1  # an inproc peer: no descriptor, no address, never reported gone by the monitor

_RECV = zmq.backend.Socket.recv
_GET = zmq.backend.Socket.get
_RCVMORE = int(zmq.RCVMORE)
_NOBLOCK = int(zmq.NOBLOCK)


def recv_noting_new(sock: zmq.Socket[bytes], known: dict[bytes, Any]) -> tuple[list[bytes], Any]:
    """One message from a ROUTER as bytes; and, when its peer is not in `known`, its last frame
    as a ``zmq.Frame`` (whose metadata tells the connection), else None."""
    frames = [_RECV(sock, _NOBLOCK)]
    if frames[0] in known:
        while _GET(sock, _RCVMORE):
            frames.append(_RECV(sock, 0))
        return frames, None
    last = None
    while _GET(sock, _RCVMORE):
        last = _RECV(sock, 0, False)
        frames.append(last.bytes)
    return frames, last


def peer_address(fd: int) -> Any:
    """What ``getpeername()`` says of a connection's descriptor (None if it cannot tell)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        return sock.getpeername()
    except OSError:
        return None
    finally:
        sock.detach()  # the descriptor stays libzmq's


class PeerWatch:
    def __init__(self, router: zmq.Socket[bytes]) -> None:
        self.monitor = router.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._router = router
        self.known: dict[bytes, int] = {}  # peer -> fd (NO_FD for inproc)
        self._fd_peer: dict[int, bytes] = {}
        self._address: dict[bytes, Any] = {}
        self._stale: Counter[int] = Counter()  # disconnect events still due for reused fds

    def note(self, peer: bytes, frame: Any) -> list[bytes]:
        """Record the connection of a peer's first message; peers known to be gone because of
        it (their descriptor came back for this one)."""
        if peer in self.known:
            return []
        try:
            fd = int(frame.get(zmq.SRCFD))
        except (zmq.ZMQError, TypeError, ValueError, AttributeError):
            fd = NO_FD
        if fd < 0:
            self.known[peer] = NO_FD
            return []
        gone = []
        old = self._fd_peer.get(fd)
        if old is not None:  # that connection closed and its fd was reused
            gone.append(old)
            self._forget(old)
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

    def drop(self, peer: bytes) -> bool:
        """Close a peer's connection under libzmq's feet (shut its socket down): libzmq sees the
        end of the stream and disconnects it, and the monitor then reports it gone. False when
        the peer has no descriptor (inproc) or is unknown."""
        fd = self.known.get(peer, NO_FD)
        if fd < 0:
            return False
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            return False
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        finally:
            sock.detach()
        return True

    def gone(self) -> list[bytes]:
        """Peers whose connections closed since the last look (drains the monitor)."""
        peers = []
        while can_read(self.monitor):
            event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
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
        if fd >= 0 and self._fd_peer.get(fd) == peer:
            del self._fd_peer[fd]

    def __del__(self) -> None:  # see Connection.__del__: the monitor stops first
        try:
            self.close()
        except Exception:  # at interpreter exit pyzmq itself may be half gone: nothing to do
            pass

    def close(self) -> None:
        if self.monitor.closed:
            return
        try:
            self._router.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(linger=0)
