"""What a proxy learns from its daemon beside the calls: the handshake and the metadata.

A new connection makes Pyro's connection handshake (``_pyroHandshake`` out, the daemon's answer
to ``_pyroValidateHandshake``) together with the metadata fetch, unless metadata from the
process-wide cache (:mod:`zpyro.metadata`) will do. The metadata says which names are methods,
oneway methods or properties, how big a call may be, how much credit oneway calls get, and
which serializers the daemon accepts (serializer agreement). ``Proxy`` mixes this in.
"""

from __future__ import annotations

import logging
from typing import Any

from . import errors, metadata, wire
from .config import config, size_limit
from .proxybase import DEFAULT_HANDSHAKE, ProxyBase, RemoteMethod
from .serializers import get_serializer

log = logging.getLogger("zpyro.client")  # (the proxy's log)


class ProxyHandshake(ProxyBase):
    """The handshake and metadata part of ``Proxy`` (a mixin)."""

    def _pyroWantsHandshake(self, meta: Any) -> bool:
        """Whether a new connection must make the handshake exchange although the metadata is
        known: the daemon validates handshakes, or this proxy has one to send or check."""
        return (
            (isinstance(meta, dict) and bool(meta.get("handshake")))
            or self._pyroHandshake != DEFAULT_HANDSHAKE
            or type(self)._pyroValidateHandshake is not ProxyHandshake._pyroValidateHandshake
        )

    def _pyroFetchMetadata(self, conn: Any, handshake: bool = False) -> None:
        """Ask for fresh metadata; on a new connection (`handshake`) with the connection
        handshake, whose answer goes to _pyroValidateHandshake."""
        timeout = config.CONNECT_TIMEOUT
        if self._pyroTimeout:
            timeout = min(timeout, self._pyroTimeout)
        target = self._pyroTarget
        ser, decode = self._pyroSerializer, self._pyroDecode
        if handshake:
            meta, response = metadata.connect(
                conn, target.object, ser, timeout, decode, self._pyroHandshake
            )
        else:
            meta = metadata.fetch(conn, target.object, ser, timeout, decode)
        self._pyroApplyMetadata(meta, fresh=True)
        metadata.remember(str(target), meta)
        if handshake:
            self._pyroValidateHandshake(response)

    def _pyroValidateHandshake(self, response: Any) -> None:
        """Override to check the daemon's answer to this proxy's handshake (what its
        validateHandshake returned): raise to refuse the daemon (the connection closes, the
        exception reaches the caller)."""

    def _pyroApplyMetadata(self, meta: Any, fresh: bool, from_cache: bool = False) -> None:
        if not isinstance(meta, dict):
            raise errors.ProtocolError("daemon sent malformed metadata")
        methods = set(meta.get("methods", ()))
        for name in self._pyroMethods - methods:
            if isinstance(self.__dict__.get(name), RemoteMethod):
                del self.__dict__[name]
        self._pyroMethods = methods
        self._pyroAttrs = set(meta.get("attrs", ()))
        self._pyroOneway = set(self._pyroOneway) | set(meta.get("oneway", ()))
        self._pyroIdempotent = frozenset(meta.get("idempotent", ()))
        self._pyroMaxMessageSize = min(
            size_limit(config.MAX_MESSAGE_SIZE), size_limit(int(meta.get("max_message_size", 0)))
        )
        self._pyroSessions = bool(meta.get("sessions", True))
        window = meta.get(wire.META_CREDIT)
        self._pyroCreditWindow = window if type(window) is int and window > 0 else None
        if self._pyroConnection is not None:  # (fresh metadata confirmed by a reply)
            self._pyroConnection.set_credit_window(self._pyroCreditWindow)
        accepted = metadata.accepted_serializers(meta)
        if accepted is not None:
            self._pyroAgree(accepted)
        self._pyroMetaFresh = fresh  # no need to have it confirmed by the daemon
        self._pyroMetaFromCache = from_cache  # a missing name is re-checked with the daemon

    def _pyroAgree(self, accepted: tuple[str, ...]) -> None:
        """Serializer agreement (docs/PROTOCOL.md, zpyro.metadata.agree). The serializer is
        looked up (and checked against `accepted`) again at the next call."""
        # a serializer set on this proxy, or a changed config.SERIALIZER, is the user's choice
        chosen = self._pyroSerializerSet or self._pyroSerializer != "serpent"
        name = metadata.agree(self._pyroSerializer, chosen, accepted)
        if name != self._pyroSerializer:
            log.info("%s does not accept serpent: this proxy uses %s", self._pyroTarget, name)
            object.__setattr__(self, "_pyroSerializer", name)
        self._pyroAccepted = frozenset(accepted)
        self._Proxy__serializer = None

    def _pyroConfirmCachedMetadata(self, conn: Any) -> None:
        """Metadata from the cache may be another daemon's (a reused address, perhaps with
        another size limit or serializers): fetch this daemon's own."""
        with self._Proxy__lock:
            self._pyroFetchMetadata(conn)

    def _pyroAcceptedSerializer(self, conn: Any) -> Any:
        """The Serializer for _pyroSerializer, if the daemon accepts it: a refused one fails the
        call before it is sent, never silently (a oneway call would get no error back)."""
        serializer = get_serializer(self._pyroSerializer)
        accepted = self._pyroAccepted
        if accepted is not None and serializer.name not in accepted and self._pyroMetaFromCache:
            self._pyroConfirmCachedMetadata(conn)  # (before refusing)
            serializer = get_serializer(self._pyroSerializer)
            accepted = self._pyroAccepted
        if accepted is not None and serializer.name not in accepted:
            raise errors.SerializeError(
                f"{self._pyroTarget} does not accept serializer {serializer.name} "
                f"(it accepts {', '.join(sorted(accepted))})"
            )
        return serializer

    def _pyroHandshakeLost(self) -> None:
        """The daemon wants a handshake this connection did not make (it started validating,
        or a broker forgot ours): the next call connects again, with the handshake."""
        metadata.forget(str(self._pyroTarget))
        conn = self._pyroConnection
        if conn is not None:
            conn.close("the daemon refused this connection's handshake")
