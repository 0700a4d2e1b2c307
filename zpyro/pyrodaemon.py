"""The part of ``Daemon`` that is Pyro's API: hooks a Pyro program overrides, Pyro's spellings,
and the Pyro attributes zpyro refuses (with the reason, never accepted and ignored).

A hook left as it is costs nothing: the daemon asks :func:`overridden` once, when it is made,
and wires up only the hooks a subclass (or an assignment) replaced.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from . import errors, exposure, metadata
from .clients import ClientConnection
from .config import config
from .security import hmac_refusal

log = logging.getLogger("zpyro.server")

# Pyro Daemon attributes zpyro has no counterpart for, and why (what to use instead)
_NO_SOCKET_LAYER = (
    "zpyro has no BSD socket layer under its daemon (ZeroMQ owns the sockets); use "
    "daemon.sockets and daemon.events(ready) to serve from your own loop"
)
REFUSED_ATTRIBUTES = {
    "sock": _NO_SOCKET_LAYER,
    "selector": _NO_SOCKET_LAYER,
    "transportServer": _NO_SOCKET_LAYER,
    "handleRequest": "zpyro has no per-connection request handler to override; " + _NO_SOCKET_LAYER,
}


def _refused(name: str) -> property:
    def get(self: Any) -> NoReturn:
        raise AttributeError(f"Daemon.{name} is not supported: {REFUSED_ATTRIBUTES[name]}")

    return property(get)


def _default_methodcall_error_handler(*_args: Any) -> None:
    """Pyro5's default: nothing more than zpyro's own log line of the error."""


class PyroDaemonAPI:
    """Pyro's daemon hooks and names; mixed into zpyro.Daemon."""

    # -- hooks a Pyro program overrides ---------------------------------------------------------

    def validateHandshake(self, conn: ClientConnection, data: Any) -> Any:  # noqa: N802
        """Override to check each client connection's handshake data (the proxy's
        ``_pyroHandshake``): raise to refuse the connection (every call on it is refused,
        with your exception's text); the return value goes to the proxy's
        ``_pyroValidateHandshake``. Runs on a worker thread."""
        return "hello"

    def clientDisconnect(self, conn: ClientConnection) -> None:  # noqa: N802
        """Override to act when a client connection goes (released, closed, or its process
        gone); `conn` is the object validateHandshake and current_context.client saw."""

    def housekeeping(self) -> None:
        """Override for periodic work: called about once a second while the loop runs."""

    def annotations(self) -> dict[str, Any]:
        """Override to add annotations to every reply (a method's own
        current_context.response_annotations win on equal keys)."""
        return {}

    @property
    def methodcall_error_handler(self) -> Callable[..., None]:
        """Pyro5: called as ``handler(daemon, client_sock_addr, method, args, kwargs, exc)``
        when a served method raises (then the caller gets the exception as always)."""
        handler: Callable[..., None] = self.__dict__.get(
            "_error_handler", _default_methodcall_error_handler
        )
        return handler

    @methodcall_error_handler.setter
    def methodcall_error_handler(self, handler: Callable[..., None]) -> None:
        if not callable(handler):
            raise TypeError("methodcall_error_handler must be callable")
        self.__dict__["_error_handler"] = handler
        dispatcher = self.__dict__["dispatcher"]
        if handler is _default_methodcall_error_handler:
            dispatcher.error_handler = None
        else:

            def report(address: Any, method: Any, args: Any, kwargs: Any, exc: Any) -> None:
                handler(self, address, method, args, kwargs, exc)

            dispatcher.error_handler = report

    def overridden(self, name: str) -> bool:
        """Whether a hook was replaced by a subclass."""
        return getattr(type(self), name) is not getattr(PyroDaemonAPI, name)

    def forget_pyro_attributes(self, obj: Any) -> None:
        """Take _pyroId/_pyroDaemon away again (unless another daemon set them since)."""
        if "_pyroDaemon" in getattr(obj, "__dict__", ()) and obj._pyroDaemon is self:
            try:
                del obj._pyroId
                del obj._pyroDaemon
            except (AttributeError, TypeError):
                pass

    # -- Pyro's other names ---------------------------------------------------------------------

    @property
    def objectsById(self) -> Mapping[str, Any]:  # noqa: N802
        """Object id -> the registered object (or class): a read-only snapshot."""
        registry = self.__dict__["registry"]
        return types.MappingProxyType(registry.snapshot())

    def resetMetadataCache(self, objectOrId: Any, nat: bool = True) -> None:  # noqa: N802, N803
        """Forget what was learnt about an object's members (after methods were added to its
        class at run time): this daemon looks again; proxies made from now on see the change."""
        uri = self.uri_for(objectOrId, nat)  # type: ignore[attr-defined]
        cls = self.__dict__["registry"].target_class(uri.object)
        if cls is not None:
            exposure.forget(cls)
        metadata.forget(str(uri))

    sock = _refused("sock")
    selector = _refused("selector")
    transportServer = _refused("transportServer")  # noqa: N815
    handleRequest = _refused("handleRequest")  # noqa: N815

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_pyro"):
            if name == "_pyroHmacKey":
                raise errors.SecurityError(hmac_refusal("Daemon._pyroHmacKey"))
            raise AttributeError(
                f"Daemon.{name}: not a Pyro daemon attribute zpyro knows (refused rather "
                "than kept and ignored)"
            )
        object.__setattr__(self, name, value)

    def __getstate__(self) -> NoReturn:
        raise errors.ZPyroError("a Daemon cannot be serialized or copied")

    def __reduce__(self) -> NoReturn:
        raise errors.ZPyroError("a Daemon cannot be serialized or copied")


def idle_limit(broker: Any, inproc: str | None) -> float:
    """Pyro's COMMTIMEOUT on a daemon (clients idle that long are dropped), where it applies."""
    limit = config.COMMTIMEOUT
    if limit > 0 and (broker or inproc):
        where = (
            "a brokered daemon's callers are connected to the broker"
            if broker
            else ("an inproc connection has no socket to close")
        )
        log.warning("COMMTIMEOUT %.3g s: idle clients are not dropped here (%s)", limit, where)
        return 0.0
    return limit


def nat_address(
    nathost: str | None,
    natport: int | None,
    unixsocket: str | None,
    inproc: str | None,
    broker: Any,
    connected_socket: Any,
) -> tuple[str | None, int | None]:
    """Pyro's rules for the advertised address: arguments, else config NATHOST/NATPORT."""
    if connected_socket is not None:
        return None, None
    if nathost is None:
        nathost = config.NATHOST or None
        if nathost is not None and natport is None:
            natport = config.NATPORT
    if not nathost:
        if natport:
            raise ValueError("must provide natport with nathost")
        return None, None
    if natport is None:
        raise ValueError("must provide natport with nathost")
    if unixsocket or inproc:
        raise ValueError("cannot use nathost together with unixsocket or inproc")
    if broker:
        raise ValueError("a brokered daemon's URIs name its broker: nathost does not apply")
    return nathost, natport
