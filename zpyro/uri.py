"""Object addresses: `PYRO:`, `PYRONAME:` and `PYROMETA:` URIs <-> ZeroMQ endpoints. Pure.

====================================  ==========================  =========================
URI                                   location                    zmq endpoint
====================================  ==========================  =========================
``PYRO:obj@127.0.0.1:5555``           ``127.0.0.1:5555``          ``tcp://127.0.0.1:5555``
``PYRO:obj@[::1]:5555``               ``[::1]:5555``              ``tcp://[::1]:5555``
``PYRO:obj@./u:/tmp/g.sock``          ``./u:/tmp/g.sock``         ``ipc:///tmp/g.sock``
``PYRO:obj@./u:\0name`` (abstract)    ``./u:\0name``              ``ipc://@name``
``PYRO:obj@./inproc:name``            ``./inproc:name``           ``inproc://name``
``PYRONAME:example.greeting``         (configured name server)    None
``PYROMETA:tag1,tag2@host:9090``      ``host:9090``               ``tcp://host:9090``
``PYRO:obj@h1:9090,h2:9090``          ``h1:9090,h2:9090``         ``tcp://h1:9090`` (first)
====================================  ==========================  =========================

Object ids and locations contain no whitespace; object ids contain no '@' (the text is split on
the first '@', so an ipc path may contain one). A location may list several tcp addresses,
comma-separated: the brokers of a pair (docs/BROKER.md, "Broker pair"), which serve the same
objects; a client uses whichever of them is active. ``host``/``port``/``endpoint`` are the first
one's, ``locations``/``endpoints`` list them all. A unix socket name
that starts with a NUL byte is in Linux's abstract namespace, as in Pyro; ZeroMQ spells it with
a leading '@'.
"""

from __future__ import annotations

import builtins
from typing import Any

from .errors import ZPyroError

__all__ = ["URI", "PROTOCOLS", "endpoint_to_location", "host_port", "ipc_endpoint", "make_uri"]

PROTOCOLS = ("PYRO", "PYRONAME", "PYROMETA")
_IPC = "./u:"
_INPROC = "./inproc:"


def _bad(text: str, why: str) -> ZPyroError:
    return ZPyroError(f"invalid URI {text!r}: {why}")


def _parse_port(text: str, port: str) -> int:
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise _bad(text, f"port must be 1..65535, not {port!r}")
    return int(port)


def _parse_location(
    text: str, location: str
) -> tuple[str | None, int | None, str | None, str | None]:
    """(host, port, sockpath, inproc) from a location; `text` is only for error messages."""
    if location.startswith(_IPC):
        path = location[len(_IPC) :]
        if not path:
            raise _bad(text, "empty socket path")
        return None, None, path, None
    if location.startswith(_INPROC):
        name = location[len(_INPROC) :]
        if not name:
            raise _bad(text, "empty inproc name")
        return None, None, None, name
    if location.startswith("["):
        host, sep, port = location[1:].partition("]:")
        if not sep or ":" not in host or "]" in host or "[" in host:
            raise _bad(text, "expected [ipv6-address]:port")
        return host, _parse_port(text, port), None, None
    host, sep, port = location.rpartition(":")
    if not sep or not host:
        raise _bad(text, "expected host:port, ./u:path or ./inproc:name")
    if any(c in host for c in ":[]/@"):
        raise _bad(text, f"bad host {host!r} (IPv6 addresses go in brackets)")
    return host, _parse_port(text, port), None, None


def _parse_locations(text: str, location: str) -> tuple[str, ...]:
    """The canonical text of each address in a comma-separated list (tcp only, no repeats)."""
    found: list[str] = []
    for part in location.split(","):
        host, port, sockpath, inproc = _parse_location(text, part)
        if host is None or port is None:
            raise _bad(text, "only tcp addresses (host:port) can be listed with commas")
        canonical = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if canonical in found:
            raise _bad(text, f"address {canonical} is listed twice")
        found.append(canonical)
    return tuple(found)


class URI:
    """A parsed, immutable object address; compares and hashes by its canonical text."""

    __slots__ = ("protocol", "object", "host", "port", "sockpath", "inproc", "locations", "_text")

    protocol: str
    object: str
    host: str | None
    port: int | None
    sockpath: str | None
    inproc: str | None
    locations: tuple[str, ...]  # every address of the location (several: a broker pair)
    _text: str

    def __init__(self, text_or_uri: str | URI) -> None:
        if isinstance(text_or_uri, URI):
            for name in URI.__slots__:
                object.__setattr__(self, name, getattr(text_or_uri, name))
            return
        if not isinstance(text_or_uri, str):
            raise TypeError(f"URI needs a str or URI, not {type(text_or_uri).__name__}")
        text = text_or_uri.strip()
        protocol, sep, rest = text.partition(":")
        protocol = protocol.upper()
        if not sep or protocol not in PROTOCOLS:
            raise _bad(text, "expected PYRO:, PYRONAME: or PYROMETA:")
        if any(c.isspace() for c in rest):
            raise _bad(text, "contains whitespace")
        obj, at, location = rest.partition("@")
        if not obj:
            raise _bad(text, "empty object id")
        if protocol == "PYROMETA" and not any(tag.strip() for tag in obj.split(",")):
            raise _bad(text, "no metadata tags")
        listed: tuple[str, ...] = ()
        if at and "," in location and not location.startswith("./"):
            listed = _parse_locations(text, location)
            host, port, sockpath, inproc = _parse_location(text, listed[0])
        elif at:
            host, port, sockpath, inproc = _parse_location(text, location)
        elif protocol == "PYRO":
            raise _bad(text, "PYRO: needs a location (@host:port, @./u:path or @./inproc:name)")
        else:  # location-less PYRONAME/PYROMETA: the configured name server
            host = port = sockpath = inproc = None
        values = (protocol, obj, host, port, sockpath, inproc, ())
        for name, value in zip(URI.__slots__[:7], values, strict=True):
            object.__setattr__(self, name, value)
        first = self._first_location()
        object.__setattr__(self, "locations", listed or ((first,) if first else ()))
        loc = self.location
        object.__setattr__(self, "_text", f"{protocol}:{obj}@{loc}" if loc else f"{protocol}:{obj}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("URI is immutable")

    def _first_location(self) -> str | None:
        if self.sockpath is not None:
            return _IPC + self.sockpath
        if self.inproc is not None:
            return _INPROC + self.inproc
        if self.host is None:
            return None
        return f"[{self.host}]:{self.port}" if self.is_ipv6 else f"{self.host}:{self.port}"

    @property
    def location(self) -> str | None:
        """`host:port`, `[ipv6]:port`, `./u:path`, `./inproc:name`, several tcp ones joined by
        commas (a broker pair), or None (use the name server)."""
        return ",".join(self.locations) or None

    @property
    def endpoint(self) -> str | None:
        """The ZeroMQ endpoint to connect to (the first, for a list), or None for a location-less
        name."""
        if self.sockpath is not None:
            return ipc_endpoint(self.sockpath)
        if self.inproc is not None:
            return f"inproc://{self.inproc}"
        if self.host is None:
            return None
        return f"tcp://{self.locations[0]}"

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The ZeroMQ endpoint of every address of the location."""
        if len(self.locations) < 2:
            return (self.endpoint,) if self.endpoint else ()
        return tuple(f"tcp://{location}" for location in self.locations)

    @property
    def is_ipv6(self) -> bool:
        return self.host is not None and ":" in self.host

    @property
    def metadata(self) -> frozenset[str]:
        """The tags of a PYROMETA URI (empty for the other protocols)."""
        if self.protocol != "PYROMETA":
            return frozenset()
        return frozenset(tag.strip() for tag in self.object.split(",") if tag.strip())

    @property
    def sockname(self) -> str | None:
        """Pyro4's name for the unix socket path."""
        return self.sockpath

    def asString(self) -> str:  # Pyro4 name
        return self._text

    @staticmethod
    def isUnixsockLocation(location: str) -> bool:  # noqa: N802 - Pyro's name
        """Whether a location is a unix socket's (``./u:PATH``)."""
        return location.startswith(_IPC)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"zpyro.URI({self._text!r})"

    def __eq__(self, other: builtins.object) -> bool:  # `object` is an attribute here
        if isinstance(other, URI):
            return self._text == other._text
        if isinstance(other, str):
            return self._text == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._text)  # same as the canonical str, so both find the same dict entry

    def __reduce__(self) -> tuple[Any, ...]:
        return (URI, (self._text,))  # pickle/copy: re-parse the text (slots refuse setattr)


def endpoint_to_location(endpoint: str) -> str:
    """A zmq endpoint (e.g. a socket's LAST_ENDPOINT) as a URI location."""
    scheme, sep, address = endpoint.partition("://")
    if sep and address:
        if scheme == "ipc":
            if address.startswith("@"):  # Linux's abstract namespace
                address = "\0" + address[1:]
            elif address.startswith("./@"):  # a file named "@...", as ipc_endpoint spells it
                address = address[2:]
            location = _IPC + address
        elif scheme == "inproc":
            location = _INPROC + address
        elif scheme == "tcp":
            host, _, port = address.rpartition(":")
            location = host_port(host, port)
        else:
            location = ""
        if location:
            return URI(f"PYRO:x@{location}").location or location
    raise ZPyroError(f"cannot turn zmq endpoint {endpoint!r} into a URI location")


def ipc_endpoint(path: str) -> str:
    """The zmq endpoint of a unix socket; a name starting with NUL is an abstract one (ZeroMQ
    spells it with '@', so a relative path starting with '@' is spelt "./@...")."""
    if path.startswith("\0"):
        return f"ipc://@{path[1:]}"
    return f"ipc://./{path}" if path.startswith("@") else f"ipc://{path}"


def host_port(host: str, port: int | str) -> str:
    """``host:port`` as URIs and tcp endpoints spell it: an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def make_uri(object_id: str, location: str, protocol: str = "PYRO") -> URI:
    """The URI of `object_id` at `location` (as returned by `endpoint_to_location`)."""
    return URI(f"{protocol}:{object_id}@{location}")
