"""Socket settings shared by daemons and proxies: one context, heartbeats, monitor events."""

from __future__ import annotations

import threading
from typing import Any, cast

import zmq

from .config import config

# Monitor events a proxy reacts to.
MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CLOSED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
)


_context: zmq.Context | None = None
_context_lock = threading.Lock()


def context() -> zmq.Context:
    """The process-wide context: inproc endpoints only connect within one context.

    libzmq's default of 1023 sockets per context would cap a process at ~340 proxies (each has a
    DEALER plus the two PAIR sockets of its monitor), so the cap is raised to the process's file
    limit. That only takes effect before the context's first socket, hence doing it here.
    """
    global _context
    if _context is None:
        with _context_lock:
            if _context is None:
                ctx: zmq.Context = zmq.Context.instance()
                try:
                    ctx.max_sockets = max(ctx.max_sockets, _max_sockets())
                except zmq.ZMQError:
                    pass
                _context = ctx
    return _context


def _max_sockets() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 4096
    if soft == resource.RLIM_INFINITY:
        return 65536
    return max(1024, min(soft, 65536))


# The hot paths below call pyzmq's compiled socket methods directly, with plain int constants:
# its Python-level wrappers (send_multipart, recv_multipart, flag enums) cost a few µs a message.
_SEND = zmq.backend.Socket.send
_RECV = zmq.backend.Socket.recv
_GET = zmq.backend.Socket.get
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def can_read(sock: zmq.Socket) -> bool:
    """True when a message is waiting on `sock` (cheaper than catching zmq.Again)."""
    return bool(cast(int, _GET(sock, _EVENTS)) & _POLLIN)


def recv_frames(sock: zmq.Socket, flags: int = 0) -> list[bytes]:
    """``sock.recv_multipart(flags)``, as bytes, without the wrapper's overhead."""
    frames = [_RECV(sock, flags)]
    while _GET(sock, _RCVMORE):
        frames.append(_RECV(sock, flags))  # the rest of a message is there already
    return frames


def send_frames(sock: zmq.Socket, frames: list[Any], copy: bool = True) -> None:
    """``sock.send_multipart(frames, copy=copy)`` without the wrapper's overhead.

    Every frame must be bytes, a zmq.Frame or support the buffer protocol (ours always do).
    """
    last = len(frames) - 1
    for i in range(last):
        _SEND(sock, frames[i], _SNDMORE, copy)
    _SEND(sock, frames[last], 0, copy)


def apply_heartbeat(sock: zmq.Socket) -> None:
    """ZMTP heartbeats, so a dead or unreachable peer is disconnected (and noticed) in time."""
    interval = config.HEARTBEAT_INTERVAL
    if interval <= 0:
        return
    sock.heartbeat_ivl = int(interval * 1000)
    sock.heartbeat_timeout = int(config.HEARTBEAT_TIMEOUT * 1000)
    sock.heartbeat_ttl = int(config.HEARTBEAT_TIMEOUT * 1000)
