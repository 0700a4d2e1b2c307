"""Waking a thread that owns sockets, from any other thread (zmq sockets are not thread-safe).

``Waker``: a file descriptor another thread can make readable, for a thread blocked in zmq poll
(which polls plain file descriptors next to sockets). ``BackDoor``: a message into a ROUTER, for
a thread blocked in a plain receive on it.
"""

from __future__ import annotations

import os
import threading

import zmq


class Waker:
    def __init__(self) -> None:
        if hasattr(os, "eventfd"):
            self._read_fd = self._write_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - non-Linux fallback
            self._read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._read_fd, False)
            os.set_blocking(self._write_fd, False)
        self.closed = False

    def fileno(self) -> int:
        return self._read_fd

    def wake(self) -> None:
        if self.closed:  # never write to a closed (maybe already reused) descriptor
            return
        try:
            os.write(self._write_fd, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except (BlockingIOError, OSError):
            pass  # already readable (counter full) or closed: the waiter wakes either way

    def drain(self) -> None:
        try:
            os.read(self._read_fd, 4096)
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        os.close(self._read_fd)
        if self._write_fd != self._read_fd:
            os.close(self._write_fd)


class BackDoor:
    """A way into a ROUTER from other threads of the process: an inproc DEALER connected to it.

    A thread that owns a ROUTER can then block in a plain receive on it -- cheaper than a poll
    of the ROUTER plus a ``Waker`` -- and still be woken: ``wake()`` (any thread) makes the
    owner's receive return a message ``[identity, b""]``. Wakes coalesce: after the first, none
    is sent until the owner has called ``woken()``. The identity is random (a remote peer
    cannot guess it), and the DEALER connects before the ROUTER is served.
    """

    def __init__(self, router: zmq.Socket[bytes], context: zmq.Context[zmq.Socket[bytes]]) -> None:
        self.identity = b"\0zpyro-backdoor-" + os.urandom(16)
        endpoint = f"inproc://zpyro-backdoor-{os.urandom(12).hex()}"
        router.bind(endpoint)
        sock = context.socket(zmq.DEALER)
        sock.linger = 0
        sock.sndhwm = 0
        sock.routing_id = self.identity
        sock.connect(endpoint)
        self._sock: zmq.Socket[bytes] | None = sock
        self._lock = threading.Lock()
        self._armed = False  # a wake is on its way

    def wake(self, blocking: bool = True) -> None:
        """Wake the owner (any thread). Not `blocking`: give up if another thread is waking
        it right now (for a signal handler, which must not wait for a lock)."""
        if self._armed:
            return
        if not self._lock.acquire(blocking):
            return
        try:
            if self._armed or self._sock is None:
                return
            self._armed = True
            try:
                self._sock.send(b"", zmq.NOBLOCK)
            except zmq.ZMQError:  # (closing)
                self._armed = False
        finally:
            self._lock.release()

    def woken(self) -> None:
        """The owner got the wake message: the next wake() sends again. Call it before looking
        at what the wake was about, so that nothing queued after that look goes unnoticed."""
        self._armed = False

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close(linger=0)
                self._sock = None
