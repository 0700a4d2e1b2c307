"""Sockets as daemons, brokers and proxies set them up: one context, lean send/receive,
heartbeats, binding, connecting a DEALER, monitor events."""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import zmq

from . import errors
from .config import config
from .security import apply_client
from .speedups import accelerator
from .uri import host_port

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


# A daemon's or broker's libzmq drops a connection that sends a single frame over its
# MAX_MESSAGE_SIZE + this (MAXMSGSIZE, a backstop); anything up to that reaches its front door,
# which answers MessageTooLargeError. So a message of at most this many bytes, whatever the
# receiver's limit, gets an answer rather than a dropped connection.
MAXMSGSIZE_MARGIN = 65536

_context: zmq.Context[zmq.Socket[bytes]] | None = None
_context_lock = threading.Lock()


def context() -> zmq.Context[zmq.Socket[bytes]]:
    """The process-wide context: inproc endpoints only connect within one context.

    libzmq's default of 1023 sockets per context would cap a process at ~340 proxies (each has a
    DEALER plus the two PAIR sockets of its monitor), so the cap is raised to the process's file
    limit. That only takes effect before the context's first socket, hence doing it here.
    """
    global _context
    if _context is None:
        with _context_lock:
            if _context is None:
                ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
                try:
                    ctx.max_sockets = max(ctx.max_sockets, _max_sockets())
                except zmq.ZMQError:
                    pass
                _context = ctx
    return _context


_flush_deadline = 0.0  # until when a closed socket may still be sending (see flush_before_exit)


def flush_before_exit(seconds: float) -> None:
    """A socket was just closed with `seconds` of linger (a daemon's last replies, say, to the
    call that asked it to stop): if the process exits before then, it first lets libzmq send
    them. Otherwise its I/O thread dies with the process and a caller waits in vain.

    At exit this terminates the context (which waits exactly for the lingering messages), in a
    thread given only the time left: sockets other threads still hold would keep it waiting."""
    global _flush_deadline
    with _context_lock:
        if not _flush_deadline:
            atexit.register(_flush_at_exit)
        _flush_deadline = max(_flush_deadline, time.monotonic() + seconds)


def _flush_at_exit() -> None:
    left = _flush_deadline - time.monotonic()
    if left <= 0 or _context is None:
        return
    ending = threading.Thread(target=_context.term, name="zpyro-flush", daemon=True)
    ending.start()
    ending.join(left)


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
_POLL = zmq.backend.zmq_poll
_SET = zmq.backend.Socket.set
_CONNECT = zmq.backend.Socket.connect
_LINGER = int(zmq.LINGER)
_SNDHWM = int(zmq.SNDHWM)
_RCVHWM = int(zmq.RCVHWM)
_HEARTBEAT_IVL = int(zmq.HEARTBEAT_IVL)
_HEARTBEAT_TIMEOUT = int(zmq.HEARTBEAT_TIMEOUT)
_HEARTBEAT_TTL = int(zmq.HEARTBEAT_TTL)
_INT_OPTIONS = {  # the int options our sockets are given by name
    name: int(getattr(zmq, name.upper()))
    for name in ("rcvtimeo", "sndtimeo", "reconnect_ivl", "immediate", "linger")
}
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def poll(items: list[tuple[Any, int]], timeout_ms: int) -> list[tuple[Any, int]]:
    """``zmq.Poller().poll`` without the Poller: ``items`` are (socket or fd, events) pairs;
    the ready ones come back as (the same object, events), in the order of ``items``."""
    return cast("list[tuple[Any, int]]", _POLL(items, timeout_ms))


def can_read(sock: zmq.Socket[bytes]) -> bool:
    """True when a message is waiting on `sock` (cheaper than catching zmq.Again)."""
    return bool(cast(int, _GET(sock, _EVENTS)) & _POLLIN)


def _recv_frames(sock: zmq.Socket[bytes], flags: int = 0) -> list[bytes]:
    """``sock.recv_multipart(flags)``, as bytes, without the wrapper's overhead."""
    frames = [_RECV(sock, flags)]
    while _GET(sock, _RCVMORE):
        frames.append(_RECV(sock, flags))  # the rest of a message is there already
    return frames


def _send_frames(
    sock: zmq.Socket[bytes], frames: list[Any], copy: bool = True, flags: int = 0
) -> None:
    """``sock.send_multipart(frames, flags, copy=copy)`` without the wrapper's overhead.

    Every frame must be bytes, a zmq.Frame or support the buffer protocol (ours always do).
    """
    last = len(frames) - 1
    more = _SNDMORE | flags
    for i in range(last):
        _SEND(sock, frames[i], more, copy)
    _SEND(sock, frames[last], flags, copy)


def _bound_speedups() -> Any:
    """zpyro._speedups bound to the libzmq pyzmq uses, or None (pure Python: not built, not
    wanted -- ZPYRO_PURE_PYTHON=1 -- or libzmq's functions not found)."""
    if accelerator is None:
        return None
    try:
        import ctypes

        from zmq.backend.cython import _zmq

        # dlsym through pyzmq's backend module finds the functions of the libzmq it loaded
        lib = ctypes.CDLL(_zmq.__file__)
        names = ["msg_init", "msg_recv", "msg_close", "msg_data", "msg_size", "msg_more"]
        names += ["send", "errno"]
        addresses = [ctypes.cast(getattr(lib, "zmq_" + n), ctypes.c_void_p).value for n in names]
        accelerator.bind(*addresses, zmq.ZMQError, zmq.Again, _send_frames)
        if hasattr(accelerator, "bind_msg_get"):  # (recv_noting: a peer's connection)
            get = ctypes.cast(lib.zmq_msg_get, ctypes.c_void_p).value
            accelerator.bind_msg_get(get)
    except (ImportError, OSError, AttributeError, ValueError, TypeError):
        return None
    return accelerator


speedups = _bound_speedups()

# The whole message in one C call when the accelerator is there (used directly, no wrapper:
# these run a few times per call). Frames the C send does not take (not bytes, or copy=False)
# go to the pure-Python send.
recv_frames: Callable[..., list[bytes]] = _recv_frames
send_frames: Callable[..., None] = _send_frames
if speedups is not None:
    recv_frames = speedups.recv_frames
    send_frames = speedups.send_frames


def recv_noting(sock: zmq.Socket[bytes], flags: int = 0) -> tuple[list[bytes], zmq.Frame]:
    """One message as bytes, and its last frame: that frame's metadata tells the peer's CURVE
    key (``security.client_key_of``) and the connection it came on (``peers.PeerWatch``)."""
    frames = sock.recv_multipart(flags, copy=False)
    return [f.bytes for f in frames], frames[-1]


def apply_heartbeat(sock: zmq.Socket[bytes]) -> None:
    """ZMTP heartbeats, so a dead or unreachable peer is disconnected (and noticed) in time."""
    interval = config.HEARTBEAT_INTERVAL
    if interval <= 0:
        return
    _SET(sock, _HEARTBEAT_IVL, int(interval * 1000))
    _SET(sock, _HEARTBEAT_TIMEOUT, int(config.HEARTBEAT_TIMEOUT * 1000))
    _SET(sock, _HEARTBEAT_TTL, int(config.HEARTBEAT_TIMEOUT * 1000))


def tcp_endpoint(host: str, port: int) -> str:
    """``tcp://host:port``, an IPv6 address in brackets; port 0 asks for a free port."""
    return f"tcp://{host_port(host, port or '*')}"


def bind(
    sock: zmq.Socket[bytes], endpoint: str, error: type[errors.ZPyroError], retries: int = 0
) -> str:
    """Bind `sock`; returns the endpoint bound: for tcp, the host as given (a name stays a
    name) with the port the OS picked. `retries`: tries 50 ms apart while the port is busy."""
    if endpoint.startswith("tcp://["):
        sock.ipv6 = 1
    for attempt in range(retries + 1):
        try:
            sock.bind(endpoint)
            break
        except zmq.ZMQError as exc:
            # libzmq closes a listener asynchronously: a port that a socket of this same process
            # just closed can stay busy for a moment
            if exc.errno == zmq.EADDRINUSE and attempt < retries:
                time.sleep(0.05)
                continue
            raise error(f"cannot bind {endpoint}: {exc}") from None
    bound = cast(bytes, sock.last_endpoint).decode()
    if not endpoint.startswith("tcp://"):
        return bound
    return endpoint.rsplit(":", 1)[0] + ":" + bound.rsplit(":", 1)[1]


def connect(sock: zmq.Socket[bytes], endpoint: str) -> None:
    """``sock.connect(endpoint)``, with IPv6 switched on for a bracketed address."""
    if endpoint.startswith("tcp://["):
        sock.ipv6 = 1
    _CONNECT(sock, endpoint)  # (pyzmq's wrapper parses the endpoint again, for nothing here)


def dealer(
    endpoint: str,
    server_key: bytes | None,
    error: type[errors.ZPyroError],
    monitor_events: int = 0,
    **options: Any,
) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes] | None]:
    """A DEALER connected to `endpoint`, and its monitor socket when `monitor_events` are asked.

    No linger; no high-water marks (what waits is bounded by its callers, not by silent
    blocking or dropping); ZMTP heartbeats; a CURVE client of the server with public key
    `server_key`, if given; then the socket `options` (``routing_id=...``). A failure closes the
    socket and raises `error`.
    """
    sock = context().socket(zmq.DEALER)
    monitor = None
    try:
        # (the compiled setter with int constants: sock.linger = 0 costs ~3 µs through pyzmq's
        # attribute layer, and a new proxy sets a dozen options)
        _SET(sock, _LINGER, 0)
        _SET(sock, _SNDHWM, 0)
        _SET(sock, _RCVHWM, 0)
        apply_heartbeat(sock)
        if server_key is not None:  # CURVE: only that server, and encrypted
            apply_client(sock, server_key)
        for name, value in options.items():
            option = _INT_OPTIONS.get(name)
            if option is not None:
                _SET(sock, option, value)
            else:
                setattr(sock, name, value)
        if monitor_events:
            monitor = sock.get_monitor_socket(monitor_events)
        connect(sock, endpoint)
    except zmq.ZMQError as exc:
        if monitor is not None:
            sock.disable_monitor()
            monitor.close(linger=0)
        sock.close(linger=0)
        raise error(f"cannot connect to {endpoint}: {exc}") from None
    return sock, monitor
