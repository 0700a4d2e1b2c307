"""A file descriptor another thread can make readable, to wake a thread blocked in zmq poll.

zmq.Poller polls plain file descriptors next to sockets, so a thread that owns sockets can be
woken by any other thread without that thread touching the sockets (they are not thread-safe).
"""

from __future__ import annotations

import os


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
