"""The broker's two sockets, set up and bound (broker/service.py serves them).

The ROUTER takes callers and daemons alike; it never drops a forwarded call or reply for a
high-water mark, and a reply to a peer that is gone raises (the broker logs it) instead of
vanishing. The PUB sends announcements. With CURVE both need the same server key: callers,
daemons and subscribers all connect with the broker's public key. The ROUTER's back door
(zpyro/waker.py) is connected before anyone else can, so other threads can wake the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

from zpyro import errors
from zpyro.config import NO_SIZE_LIMIT
from zpyro.security import Keys, apply_server, server_keys, warn_if_exposed
from zpyro.sockets import MAXMSGSIZE_MARGIN, apply_heartbeat, bind, context, tcp_endpoint
from zpyro.waker import BackDoor

__all__ = ["BrokerSockets", "bind_broker"]


@dataclass
class BrokerSockets:
    router: zmq.Socket[bytes]
    pub: zmq.Socket[bytes]
    door: BackDoor  # into the ROUTER, from other threads
    endpoint: str  # the ROUTER's, as bound (port 0: the port picked)
    pub_endpoint: str
    keys: Keys | None  # the CURVE server keys (a pair's link uses them too), or None

    def close(self) -> None:
        self.door.close()
        self.router.close(linger=0)
        self.pub.close(linger=0)


def bind_broker(
    host: str,
    port: int,
    pub_port: int,
    unixsocket: str | None,
    max_message_size: int,
    curve_secret_key: str | None,
    curve_allowed_clients: str | None,
) -> BrokerSockets:
    """The ROUTER and the PUB bound on tcp `host` (`port`, `pub_port`), or on ``ipc://PATH`` and
    ``ipc://PATH.pub`` for a `unixsocket`; nothing is left open if that fails."""
    ctx = context()
    router = ctx.socket(zmq.ROUTER)
    pub = ctx.socket(zmq.PUB)
    door: BackDoor | None = None
    try:
        router.linger = 0
        router.router_mandatory = 1  # a reply to a gone peer raises: we log it
        router.sndhwm = 0  # forwarded calls and replies are never dropped for HWM
        router.rcvhwm = 0
        apply_heartbeat(router)
        if max_message_size < NO_SIZE_LIMIT:
            router.maxmsgsize = max_message_size + MAXMSGSIZE_MARGIN
        pub.linger = 0
        keys = server_keys(curve_secret_key)
        if keys is not None:  # callers, daemons and subscribers all need our public key
            apply_server(router, ctx, keys, curve_allowed_clients)
            apply_server(pub, ctx, keys, curve_allowed_clients)
        door = BackDoor(router, ctx)  # (before anyone else can connect)
        if unixsocket:
            endpoints = (f"ipc://{unixsocket}", f"ipc://{unixsocket}.pub")
        else:
            warn_if_exposed(host, "broker", keys is not None)
            endpoints = (tcp_endpoint(host, port), tcp_endpoint(host, pub_port))
        endpoint = bind(router, endpoints[0], errors.CommunicationError)
        pub_endpoint = bind(pub, endpoints[1], errors.CommunicationError)
    except Exception:
        if door is not None:
            door.close()
        router.close(linger=0)
        pub.close(linger=0)
        raise
    return BrokerSockets(router, pub, door, endpoint, pub_endpoint, keys)
