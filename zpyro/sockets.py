"""Socket settings shared by daemons and proxies: one context, heartbeats, monitor events."""

from __future__ import annotations

import threading
from typing import cast

import zmq

from .config import config

# Monitor events a proxy reacts to.
MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_CLOSED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
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


def can_read(sock: zmq.Socket) -> bool:
    """True when a message is waiting on `sock` (cheaper than catching zmq.Again)."""
    return bool(cast(int, sock.get(zmq.EVENTS)) & zmq.POLLIN)


def apply_heartbeat(sock: zmq.Socket) -> None:
    """ZMTP heartbeats, so a dead or unreachable peer is disconnected (and noticed) in time."""
    interval = config.HEARTBEAT_INTERVAL
    if interval <= 0:
        return
    sock.heartbeat_ivl = int(interval * 1000)
    sock.heartbeat_timeout = int(config.HEARTBEAT_TIMEOUT * 1000)
    sock.heartbeat_ttl = int(config.HEARTBEAT_TIMEOUT * 1000)
