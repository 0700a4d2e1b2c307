"""Pyro's ``socketutil`` helpers that ported programs call: address lookups and free ports.

Pyro4 names (``getIpAddress``, ``getInterfaceAddress``, ``getIpVersion``,
``findProbablyUnusedPort``, ``bindOnUnusedPort``) and Pyro5 names (``get_ip_address``,
``get_interface``, ``find_probably_unused_port``, ``bind_unused_port``). Nothing here sends a
packet: finding the interface towards an address connects a UDP socket, which only asks the
routing table. Pyro's socket layer itself (``createSocket``, ``SocketConnection``, ...) has no
counterpart: zpyro talks ZeroMQ, and those names raise an AttributeError that says so.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from .config import config
from .errors import CommunicationError

__all__ = [
    "getIpAddress",
    "getIpVersion",
    "getInterfaceAddress",
    "findProbablyUnusedPort",
    "bindOnUnusedPort",
    "get_ip_address",
    "get_interface",
    "find_probably_unused_port",
    "bind_unused_port",
]

_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6, 0: socket.AF_UNSPEC}
# what "the interface that reaches the outside" is found with (no packet is sent to it)
_OUTSIDE = {4: "4.2.2.2", 6: "2001:4860:4860::8888"}


def getIpAddress(  # noqa: N802 (Pyro4 name)
    hostname: str | None,
    workaround127: bool = False,
    ipVersion: int | None = None,  # noqa: N803
) -> str:
    """The IP address (text) of `hostname` (None or "": this machine). `ipVersion` 4, 6, or 0
    (the OS decides); None: config.PREFER_IP_VERSION, or 0 for a name with a ':' in it.
    `workaround127`: for a loopback answer, the address of the interface towards the outside."""
    if hostname and ":" in hostname and ipVersion is None:
        ipVersion = 0
    version = config.PREFER_IP_VERSION if ipVersion is None else ipVersion
    if version not in _FAMILIES:
        raise ValueError(f"unknown IP version {version!r} (4, 6 or 0)")
    try:
        ip = _lookup(hostname, _FAMILIES[version])
    except socket.gaierror:
        if version == 6:
            raise OSError(f"unable to determine an IPv6 address for {hostname!r}") from None
        ip = _lookup(hostname, socket.AF_UNSPEC)
    if workaround127 and (ip.startswith("127.") or ip in ("0.0.0.0", "::1")):
        ip = getInterfaceAddress(_OUTSIDE[6 if ":" in ip else 4])
    return ip


def _lookup(hostname: str | None, family: int) -> str:
    found = socket.getaddrinfo(
        hostname or socket.gethostname(), 80, family, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    return str(found[0][4][0])


def getIpVersion(hostnameOrAddress: str) -> int:  # noqa: N802, N803 (Pyro4 names)
    """4 or 6: the IP version of the address `hostnameOrAddress` resolves to."""
    address = getIpAddress(hostnameOrAddress)
    if ":" in address:
        return 6
    if "." in address:
        return 4
    raise CommunicationError(f"unknown IP address format: {address}")


def getInterfaceAddress(ip_address: str) -> str:  # noqa: N802 (Pyro4 name)
    """The address of the local interface that connects to `ip_address` (a UDP socket is
    connected to ask the routing table; nothing is sent)."""
    family = socket.AF_INET6 if getIpVersion(ip_address) == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((ip_address, 53))
        return str(sock.getsockname()[0])


def bindOnUnusedPort(sock: socket.socket, host: str = "localhost") -> int:  # noqa: N802
    """Bind `sock` to a free port of `host` (localhost: the loopback address); the port."""
    if sock.family == socket.AF_INET:
        sock.bind(("127.0.0.1" if host == "localhost" else host, 0))
    elif sock.family == socket.AF_INET6:
        sock.bind(("::1" if host == "localhost" else host, 0, 0, 0))
    else:
        raise CommunicationError(f"unsupported socket family: {sock.family!r}")
    return int(sock.getsockname()[1])


def findProbablyUnusedPort(  # noqa: N802 (Pyro4 name)
    family: int = socket.AF_INET, socktype: int = socket.SOCK_STREAM
) -> int:
    """A port free on the loopback address right now (another process may take it before you:
    binding port 0 is the safe way)."""
    with socket.socket(family, socktype) as sock:
        return bindOnUnusedPort(sock)


# -- Pyro5's names ---------------------------------------------------------------------------------


def get_ip_address(
    hostname: str | None, workaround127: bool = False, version: int | None = None
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not workaround127 and hostname:
        try:
            return ipaddress.ip_address(hostname)
        except ValueError:
            pass
    return ipaddress.ip_address(getIpAddress(hostname, workaround127, version))


def get_interface(
    ip_address: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(getInterfaceAddress(str(ip_address)))


find_probably_unused_port = findProbablyUnusedPort
bind_unused_port = bindOnUnusedPort

_NO_SOCKET_LAYER = (
    "zpyro has no socket layer of its own (it talks ZeroMQ): Daemon.sockets/events integrate a "
    "daemon with another loop; there is no broadcast"
)
_REFUSED = {
    name: _NO_SOCKET_LAYER
    for name in (
        "createSocket",
        "createBroadcastSocket",
        "SocketConnection",
        "receiveData",
        "sendData",
        "interruptSocket",
        "setReuseAddr",
        "setNoDelay",
        "setKeepalive",
        "setNoInherit",
        "triggerSocket",
        "create_socket",
        "create_bc_socket",
        "receive_data",
        "send_data",
        "interrupt_socket",
        "set_reuseaddr",
        "set_nodelay",
        "set_keepalive",
    )
}
_REFUSED["getSSLcontext"] = _REFUSED["get_ssl_context"] = (
    "zpyro has no TLS: use CURVE (README, 'Security')"
)


def __getattr__(name: str) -> Any:
    why = _REFUSED.get(name)
    if why is not None:
        raise AttributeError(f"zpyro.socketutil.{name} is not supported: {why}")
    raise AttributeError(f"module 'zpyro.socketutil' has no attribute {name!r}")
