"""Pyro's ``connected_socket``: zpyro over a connection someone else made.

``Daemon(connected_socket=s)`` and ``Proxy(object_id, connected_socket=s)`` serve and call over
one already connected stream socket: a ``socket.socketpair()`` between threads, or a socket a
parent process passed to its child. ZeroMQ cannot adopt such a socket, so a pump copies its bytes
to and from a unix socket in a private directory, where the daemon's ROUTER listens (or to which
the proxy's DEALER connects). ZeroMQ's own protocol runs end to end over the given connection:
both ends must be zpyro. As in Pyro, it is one connection: when it ends, the daemon's request
loop ends, and a proxy cannot connect again.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from typing import Any

CHUNK = 65536


def _copy(source: socket.socket, sink: socket.socket, done: Callable[[], None]) -> None:
    """Copy one direction until its end; then tell the sink no more comes."""
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        done()


class _Pump:
    """Copies bytes both ways between the given socket and a private unix socket."""

    def __init__(self, external: Any, role: str) -> None:
        if not isinstance(external, socket.socket):
            raise TypeError("connected_socket must be a connected socket.socket")
        if external.type != socket.SOCK_STREAM:
            raise ValueError("connected_socket must be a stream socket")
        external.setblocking(True)
        self.external = external
        self._dir = tempfile.mkdtemp(prefix="zpyro-pump-")  # mode 0700: ours only
        self.path = os.path.join(self._dir, role)
        self._internal: socket.socket | None = None
        self._lock = threading.Lock()
        self._open = 2  # directions still copying
        self._on_end: Callable[[], None] | None = None
        self.closed = threading.Event()

    def _run(self, internal: socket.socket) -> None:
        self._internal = internal
        for source, sink in ((self.external, internal), (internal, self.external)):
            threading.Thread(
                target=_copy, args=(source, sink, self._direction_done), daemon=True
            ).start()

    def _direction_done(self) -> None:
        with self._lock:
            self._open -= 1
            ended = self._open == 0
        if ended:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in (self._internal, self.external):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        if self._on_end is not None:
            self._on_end()


class DaemonPump(_Pump):
    """A daemon's side: the ROUTER binds ``ipc://<path>``; the pump connects to it."""

    def __init__(self, external: Any) -> None:
        super().__init__(external, "daemon")

    def start(self, endpoint: str, on_end: Callable[[], None]) -> None:
        """Connect to the bound ROUTER and start copying; `on_end()` when the connection ends."""
        self._on_end = on_end
        internal = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        internal.connect(self.path)
        self._run(internal)


class ProxyPump(_Pump):
    """A proxy's side: the pump listens on `path`; the proxy's DEALER connects there, once."""

    def __init__(self, external: Any) -> None:
        super().__init__(external, "proxy")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)
        threading.Thread(target=self._accept, name="zpyro-pump", daemon=True).start()

    def _accept(self) -> None:
        try:
            internal, _ = self._listener.accept()
        except OSError:
            return
        finally:
            self._listener.close()  # one connection only: a second connect is refused
        self._run(internal)

    def close(self) -> None:
        self._listener.close()
        super().close()
