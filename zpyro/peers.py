"""Noticing that a daemon's client went away without saying goodbye.

A ROUTER tells nothing when a peer disconnects. Its socket monitor does report
``EVENT_DISCONNECTED`` with the connection's file descriptor, and every received message can
tell the descriptor it came on (``ZMQ_SRCFD``). So the first message of each peer records
fd -> peer, and a disconnect of that fd names the peer whose session instances and streams can
go. Used only while something per-client is worth releasing (session-mode classes), because
reading the descriptor means receiving frames as ``zmq.Frame`` objects.

Descriptors are reused: a new peer arriving on the fd of an old one means the old connection is
closed (its state is released right away) and its disconnect event, if it comes later, is
stale and ignored.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from .sockets import can_read


class PeerWatch:
    def __init__(self, router: zmq.Socket[bytes]) -> None:
        self.monitor = router.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._router = router
        self._peer_fd: dict[bytes, int] = {}
        self._fd_peer: dict[int, bytes] = {}
        self._stale: Counter[int] = Counter()  # disconnect events still due for reused fds

    def note(self, peer: bytes, frame: Any) -> list[bytes]:
        """Record the connection of a message's peer; peers known to be gone because of it."""
        if peer in self._peer_fd:
            return []
        try:
            fd = int(frame.get(zmq.SRCFD))
        except (zmq.ZMQError, TypeError, ValueError):
            return []
        gone = []
        old = self._fd_peer.get(fd)
        if old is not None:  # that connection closed and its fd was reused
            gone.append(old)
            del self._peer_fd[old]
            self._stale[fd] += 1
        self._fd_peer[fd] = peer
        self._peer_fd[peer] = fd
        return gone

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
            peer = self._fd_peer.pop(fd, None)
            if peer is not None:
                del self._peer_fd[peer]
                peers.append(peer)
        return peers

    def __del__(self) -> None:  # see Connection.__del__: the monitor stops first
        self.close()

    def close(self) -> None:
        if self.monitor.closed:
            return
        try:
            self._router.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(linger=0)
