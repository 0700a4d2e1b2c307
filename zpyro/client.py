"""Proxy: call methods of a remote object as if it were local.

A proxy holds one :class:`~zpyro.connection.Connection` (one DEALER), made on first use. Many
threads may call through one proxy at once; their calls are pipelined on that connection.
Metadata (which names are methods, oneway methods or properties) comes from the daemon on
connect, or from the process-wide cache of it (:mod:`zpyro.metadata`).

This module is the proxy's call path: attribute access, connecting, invoking, building a CALL
and decoding its reply. The rest of ``Proxy`` is mixed in from modules of their own (all of it
stays the proxy's own methods, for subclasses to override as in Pyro): the handshake and the
metadata (:mod:`zpyro.proxyhandshake`), retries, reconnecting and following a broker pair
(:mod:`zpyro.proxyrecovery`), futures, callbacks, batches and annotations
(:mod:`zpyro.proxystyles`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import errors, failover, metadata, wire
from .classdicts import register_proxy_class
from .config import config, size_limit
from .connection import Connection, StaleConnection
from .context import _current as _current_call
from .context import note_response_annotations
from .proxybase import DEFAULT_HANDSHAKE, Deliver, RemoteMethod
from .proxyhandshake import ProxyHandshake
from .proxyrecovery import ProxyRecovery, following
from .proxystyles import ProxyCallStyles
from .proxystyles import asyncproxy as asyncproxy  # (zpyro.client.asyncproxy, as before)
from .security import hmac_refusal, server_public
from .serializers import BY_ID
from .socketpump import ProxyPump
from .sockets import MAXMSGSIZE_MARGIN
from .streams import RemoteIterator
from .uri import URI
from .wire import DAEMON_OBJECT_ID, GETATTR, JSON_ID, RELEASE_SESSION, SETATTR

# Pyro proxy attributes zpyro has no counterpart for: why, when a program reads one
_NO_SUCH_PROXY_ATTRIBUTE = {
    "_pyroSeq": "_pyroSeq: zpyro pipelines calls by call id; there is no one sequence number",
    "_pyroRawWireResponse": "_pyroRawWireResponse: zpyro does not hand out raw wire messages",
    "_pyroLocalSocket": "_pyroLocalSocket: zpyro's connection is a ZeroMQ socket, not a BSD one",
    "_pyroInvokeBatch": "_pyroInvokeBatch: Pyro's batch internals; use batch(p) or p._pyroBatch()",
}


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


# How a PYRONAME:/PYROMETA: URI becomes the PYRO: URI to connect to. The naming layer sits above
# this one and installs it (set_resolver) when imported, which ``import zpyro`` always does.
_resolver: Callable[[URI], URI] | None = None


def set_resolver(resolve: Callable[[URI], URI]) -> None:
    global _resolver
    _resolver = resolve


_NO_ARGUMENTS: dict[int, bytes] = {}  # serializer id -> payload of [(), {}]
_URIS: dict[str, URI] = {}  # URI text -> URI (immutable: one parse serves every new proxy)
_URIS_MAX = 1024


def _parsed_uri(text: str) -> URI:
    uri = _URIS.get(text)
    if uri is None:
        uri = URI(text)
        if len(_URIS) >= _URIS_MAX:
            _URIS.clear()
        _URIS[text] = uri
    return uri


def _no_arguments(serializer: Any) -> bytes:
    payload = _NO_ARGUMENTS.get(serializer.serializer_id)
    if payload is None:
        payload = _NO_ARGUMENTS[serializer.serializer_id] = serializer.dumps([(), {}])[0]
    return payload


class Proxy(ProxyHandshake, ProxyRecovery, ProxyCallStyles):
    """A local stand-in for a remote object at `uri` (``PYRO:obj@host:port``).

    With `connected_socket` (Pyro's), `uri` is the object id and the calls go over that
    already connected socket, to a ``Daemon(connected_socket=...)`` at its other end.
    """

    def __init__(self, uri: str | URI, connected_socket: Any = None) -> None:
        if connected_socket is not None:
            pump = ProxyPump(connected_socket)
            object.__setattr__(self, "_pyroPump", pump)
            uri = URI(f"PYRO:{uri}@./u:{pump.path}")
        elif not isinstance(uri, URI):
            uri = _parsed_uri(uri)
        # (straight into the instance dict: each attribute set through __setattr__ costs a
        # Python call, and a new proxy per call is a common way to use them)
        self.__dict__.update(
            _pyroUri=uri,
            # the PYRO: URI actually connected to: the same, or what a PYRONAME:/PYROMETA:
            # resolved to
            _pyroTarget=uri,
            _pyroTimeout=config.COMMTIMEOUT or None,
            _pyroSerializer=config.SERIALIZER,
            # set on this proxy (binding) or the default (a preference the daemon may overrule)
            _pyroSerializerSet=False,
            _pyroAccepted=None,  # what the daemon said it accepts
            _pyroOneway=set(),
            _pyroMethods=set(),
            _pyroAttrs=set(),
            _pyroIdempotent=frozenset(),  # sent again after a failover
            _pyroPaired=False,  # the target lists several addresses (a broker pair)
            _pyroMaxRetries=config.MAX_RETRIES,
            _pyroConnection=None,
            # what a call may weigh: this client's own MAX_MESSAGE_SIZE, and its daemon's when
            # known
            _pyroMaxMessageSize=size_limit(config.MAX_MESSAGE_SIZE),
            _pyroMetaFresh=False,
            _pyroMetaFromCache=False,
            _pyroCreditWindow=None,  # the daemon's credit for oneway calls
            # the daemon may hold state for this proxy's connection (a session instance, a
            # stream, Pyro's conn record): releasing the proxy tells it to let go (metadata
            # without "sessions": assume so)
            _pyroSessions=True,
            _pyroStreamed=False,
            _pyroAsyncMode=False,
            # CURVE: the server's public key (z85 or key file); None: CURVE_SERVER_PUBLIC_KEY
            _pyroCurveServerKey=None,
            # Pyro's connection handshake data, sent when connecting (daemon's validateHandshake)
            _pyroHandshake=DEFAULT_HANDSHAKE,
            _Proxy__lock=threading.RLock(),
            _Proxy__serializer=None,  # the Serializer for _pyroSerializer, looked up once
        )
        # (declared in zpyro.proxybase.ProxyBase; for the type checker, the private two by
        # the names they have here)
        self.__lock: threading.RLock
        self.__serializer: Any

    # -- attribute access -----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            if _is_dunder(name) and name in self.__dict__.get("_pyroMethods", ()):
                # an exposed dunder of the remote object, called by name (p.__len__()), as in
                # Pyro; only once the metadata is known: copy, pickle and friends probe dunders
                # on any object, and a probe must never connect
                return RemoteMethod(self, name)
            raise AttributeError(_NO_SUCH_PROXY_ATTRIBUTE.get(name, name))
        if not (self._pyroMethods or self._pyroAttrs):
            self._pyroGetMetadata()
        if name in self._pyroAttrs:
            return self._pyroInvoke(GETATTR, (name,), {})
        if name not in self._pyroMethods and self._pyroMetaFromCache:
            with self.__lock:
                if self._pyroConnection is not None:
                    self._pyroFetchMetadata(self._pyroConnection)
            if name in self._pyroAttrs:
                return self._pyroInvoke(GETATTR, (name,), {})
        if name in self._pyroMethods:
            # kept in the instance dict: later lookups skip __getattr__ (dropped if metadata changes)
            stub = RemoteMethod(self, name)
            object.__setattr__(self, name, stub)
            return stub
        raise AttributeError(
            f"remote object '{self._pyroUri}' has no exposed attribute or method '{name}'"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or hasattr(type(self), name):
            if name == "_pyroHmacKey":
                raise errors.SecurityError(hmac_refusal("Proxy._pyroHmacKey"))
            object.__setattr__(self, name, value)  # the proxy's own (or its subclass's)
            if name == "_pyroSerializer":
                object.__setattr__(self, "_pyroSerializerSet", True)
            return
        if not (self._pyroMethods or self._pyroAttrs):
            self._pyroGetMetadata()
        if name not in self._pyroAttrs and self._pyroMetaFromCache:
            with self.__lock:
                if self._pyroConnection is not None:
                    self._pyroFetchMetadata(self._pyroConnection)
        if name not in self._pyroAttrs:
            # as in Pyro: a misspelt remote property must not quietly become a local attribute
            raise AttributeError(
                f"remote object '{self._pyroUri}' has no exposed attribute '{name}'"
            )
        self._pyroInvoke(SETATTR, (name, value), {})

    # -- connection management ------------------------------------------------------------------

    def _pyroBind(self) -> bool:
        """Connect now and fetch fresh metadata. Returns True."""
        with self.__lock:
            self._pyroConnect(force_metadata=True)
        return True

    def _pyroRelease(self) -> None:
        """Close the connection (the daemon drops this proxy's session); the next call connects
        again."""
        with self.__lock:
            conn = self._pyroConnection
            if conn is not None and not conn.closed and self._pyroSaysGoodbye(conn):
                try:
                    self._pyroDaemonCall(RELEASE_SESSION, oneway=True)
                except errors.ZPyroError:
                    pass
            self._pyroConnection = None
        if conn is not None:
            conn.close("proxy released", flush=True)

    def _pyroSaysGoodbye(self, conn: Connection) -> bool:
        """Whether releasing this proxy must tell the daemon (release_session): when it may
        hold state for the connection -- a session instance, a stream -- or a CURVE key."""
        return self._pyroSessions or self._pyroStreamed or conn.secure

    def _pyroGetMetadata(self) -> None:
        with self.__lock:
            if self._pyroConnection is None:
                self._pyroConnect()
            elif not (self._pyroMethods or self._pyroAttrs):
                self._pyroFetchMetadata(self._pyroConnection)

    def _pyroConnect(self, force_metadata: bool = False) -> Any:
        """Make the connection (lock held). Uses cached metadata when allowed."""
        if self._pyroConnection is not None and not force_metadata:
            return self._pyroConnection
        uri = self._pyroResolve()
        endpoint = uri.endpoint
        assert endpoint is not None  # _pyroResolve gives a PYRO: URI with a location
        if self._pyroConnection is not None and self._pyroConnection.closed:
            self._pyroConnection = None  # lost or refused: a connection is never reopened
        fresh = self._pyroConnection is None  # a new connection: it makes the handshake
        conn = self._pyroConnection
        if conn is None:
            key = server_public(self._pyroCurveServerKey)
            if self._pyroPaired:  # a broker pair: the active one
                conn = failover.find_active(uri.locations, key)[1]
            else:
                conn = Connection(endpoint, config.CONNECT_TIMEOUT, key)
        cached = None if force_metadata else metadata.recall(str(uri))
        try:
            if cached is not None and not (fresh and self._pyroWantsHandshake(cached[0])):
                self._pyroApplyMetadata(cached[0], fresh=cached[1], from_cache=True)
            else:
                self._pyroFetchMetadata(conn, handshake=fresh)
        except StaleConnection as exc:  # refused before the fetch waited: refused
            conn.close()
            raise errors.CommunicationError(str(exc)) from None
        except BaseException:
            conn.close()
            raise
        conn.set_credit_window(self._pyroCreditWindow)
        self._pyroConnection = conn
        return conn

    def _pyroResolve(self) -> URI:
        """The PYRO: URI to connect to; a PYRONAME:/PYROMETA: one asks the name server (again at
        every new connection, so a name that moved is followed)."""
        uri = self._pyroUri
        if uri.protocol != "PYRO":
            if _resolver is None:
                raise errors.NamingError(f"cannot resolve {uri}: zpyro.naming is not imported")
            uri = _resolver(uri)
        self._pyroTarget = uri
        self._pyroPaired = len(uri.locations) > 1
        return uri

    # -- calling --------------------------------------------------------------------------------

    def _pyroInvoke(
        self,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any] | None,
        flags: int = 0,
        objectId: str | None = None,  # noqa: N803 (Pyro's name)
    ) -> Any:
        """Call `method` remotely (used by the method stubs; also usable directly, or
        overridden, as in Pyro)."""
        if self._pyroAsyncMode:
            return self._pyroCallAsync(method, args, kwargs or {}, flags)
        try:
            return self._pyroCall(method, args, kwargs or {}, objectId, flags)
        except errors.CommunicationError as exc:
            return self._pyroRecover(exc, method, args, kwargs or {}, objectId, flags)

    def _pyroCall(
        self,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        object_id: str | None = None,
        flags: int = 0,
        deliver: Deliver | None = None,
        follow: bool = True,
    ) -> Any:
        """Call `method` and return its result; with `deliver`, return None at once and hand the
        outcome to ``deliver(value, error)`` later (see _pyroSubmit).

        A connection that was never made (refused while no call waited: StaleConnection)
        sent nothing of this call, so it is sent once more, on a new connection. A connection
        that was made and is lost fails the call with ConnectionClosedError, as in Pyro: what
        the daemon held for this proxy (a session instance, streams) is gone with it.
        """
        if deliver is not None and self._pyroPaired and follow:
            deliver = following(self, method, args, kwargs, flags, deliver)
        for retry in (False, True):
            try:
                conn, frames, call_id, serializer, oneway = self._pyroPrepare(
                    method, args, kwargs, object_id, flags
                )
                if oneway:
                    # a call of the user's needs room (zpyro.credit); the proxy's own do not
                    conn.send_oneway(frames, object_id is None, self._pyroTimeout)
                    if deliver is not None:
                        deliver(None, None)
                    return None
                if deliver is None:
                    reply = conn.call(frames, call_id, self.__dict__["_pyroTimeout"])
                    break
                conn.submit(
                    frames, call_id, self._pyroTimeout, _decoding(self, serializer, deliver)
                )
                return None
            except StaleConnection as exc:
                if retry:  # (never the internal subclass: what connecting anew said)
                    raise errors.CommunicationError(str(exc)) from None
        return self._pyroDecode(reply, serializer, True)

    def _pyroPrepare(
        self,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        object_id: str | None,
        flags: int,
    ) -> tuple[Any, list[Any], int, Any, bool]:
        """Connect if needed and build a CALL: (connection, frames, call id, serializer, oneway).

        (Its state is read from the instance dict: attribute access on a class with
        __getattr__ takes a slow path, and this runs for every call.)"""
        d = self.__dict__
        conn = d["_pyroConnection"]
        if conn is None or conn._closed is not None:
            with self.__lock:
                old = self._pyroConnection
                if old is not None and old.closed:
                    self._pyroConnection = None
                    notice = old.take_notice()  # oneway calls lost with it: say so, once
                    if notice is not None:
                        raise notice
                conn = self._pyroConnect()
        credit = conn.credit
        if credit.attention and object_id is None:  # a oneway call sent earlier was not run
            notice = conn.take_notice()
            if notice is not None:
                if isinstance(notice, errors.HandshakeError):  # refused at a daemon's gate
                    self._pyroHandshakeLost()
                raise notice
        serializer = d["_Proxy__serializer"]
        if serializer is None or serializer.name != d["_pyroSerializer"]:
            serializer = self.__serializer = self._pyroAcceptedSerializer(conn)
        annotations = self._pyroCallAnnotations()
        if annotations:
            flags |= wire.FLAG_ANNOTATED
            payload, buffers = serializer.dumps([args, kwargs, annotations], config.OOB_THRESHOLD)
        elif args or kwargs:
            payload, buffers = serializer.dumps_call(args, kwargs, config.OOB_THRESHOLD)
        else:  # a call without arguments: the same few bytes every time
            payload, buffers = _no_arguments(serializer), []
        if config.COMPRESSION:  # (both ways: big calls compressed, compressed replies taken)
            flags |= wire.FLAG_INFLATES
            if len(payload) >= wire.COMPRESS_MIN:
                compressed = wire.compress(payload)
                if compressed is not None:
                    payload = compressed
                    flags |= wire.FLAG_COMPRESSED
        if flags & wire.FLAG_ONEWAY or (object_id is None and method in d["_pyroOneway"]):
            oneway = True
            flags |= wire.FLAG_ONEWAY
            if object_id is None and credit.window is not None:
                flags |= wire.FLAG_CREDIT  # the daemon gives the credit back once it has run
        else:
            oneway = False
            if not d["_pyroMetaFresh"] and object_id is None:
                # cached metadata: have it confirmed with this reply (a oneway call never waits)
                flags |= wire.FLAG_META
        call_id = next(conn._ids) & wire.MAX_CALL_ID or conn.next_call_id()
        if not object_id:
            object_id = d["_pyroTarget"].object
        if buffers:
            frames = wire.encode(
                wire.CALL,
                flags,
                serializer.serializer_id,
                call_id,
                object_id,
                method,
                payload,
                buffers,
            )
        else:
            frames = wire.call_frames(
                flags, serializer.serializer_id, call_id, object_id, method, payload
            )
        limit = d["_pyroMaxMessageSize"]
        if buffers or len(payload) > min(limit // 2, MAXMSGSIZE_MARGIN):
            size = wire.message_size(frames)
            if size > MAXMSGSIZE_MARGIN and self._pyroMetaFromCache:
                # a frame far over a smaller limit makes that daemon's libzmq drop the
                # connection (ConnectionClosedError instead of this error): a big call is worth
                # one round trip to learn this daemon's own limit
                self._pyroConfirmCachedMetadata(conn)
                limit = self._pyroMaxMessageSize
            if size > limit:
                whose = (
                    "this client's MAX_MESSAGE_SIZE"
                    if limit == size_limit(config.MAX_MESSAGE_SIZE)
                    else "the daemon's limit"
                )
                raise errors.MessageTooLargeError(
                    f"call of {size} bytes exceeds {whose} of {limit} bytes"
                )
        return conn, frames, call_id, serializer, oneway

    def _pyroDecode(self, reply: wire.Message, serializer: Any, in_caller: bool = False) -> Any:
        """A reply's value (or its error, raised). `in_caller`: this runs in the calling thread,
        whose current_context gets the reply's response annotations (as in Pyro)."""
        ser_id = reply.serializer_id
        if ser_id != serializer.serializer_id and ser_id != JSON_ID:
            raise errors.ProtocolError(
                f"reply uses serializer id {ser_id}, which was not asked for"
            )
        decoder = BY_ID[ser_id]
        payload = reply.payload
        flags = reply.flags
        if flags & wire.FLAG_COMPRESSED:
            payload = wire.decompress(payload, size_limit(config.MAX_MESSAGE_SIZE))
        if reply.kind == wire.ERROR:
            exc = errors.payload_to_exception(decoder.loads(payload))
            if isinstance(exc, errors.HandshakeError):
                self._pyroHandshakeLost()
            raise exc
        if reply.kind != wire.RESULT:
            raise errors.ProtocolError(f"unexpected reply kind {reply.kind}")
        value = decoder.loads(payload, reply.buffers)
        if flags & wire.FLAG_ANNOTATED:
            value, annotations = value
            if in_caller:
                note_response_annotations(annotations)
            self._pyroResponseAnnotations(annotations, wire.RESULT)
        elif in_caller and _current_call.get() is not None:  # (a plain client: no call)
            note_response_annotations(None)
        if flags & wire.FLAG_META:
            value, meta = value
            self._pyroApplyMetadata(meta, fresh=True)
            metadata.remember(str(self._pyroTarget), meta)
        if flags & wire.FLAG_STREAM:
            self._pyroStreamed = True  # the daemon keeps this stream for us
            stream_id, items, finished, error = value
            return RemoteIterator(self, stream_id, items, finished, error)
        return value

    def _pyroDaemonCall(
        self, method: str, *args: Any, oneway: bool = False, object_id: str = DAEMON_OBJECT_ID
    ) -> Any:
        """Call the daemon's own object over this proxy's connection (streams, sessions)."""
        flags = wire.FLAG_ONEWAY if oneway else 0
        return self._pyroCall(method, args, {}, object_id, flags)

    # -- the rest of the Python object protocol ---------------------------------------------------

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pyroRelease()

    def __del__(self) -> None:
        try:
            conn = self._pyroConnection
            if conn is not None:
                if not conn.closed and self._pyroSaysGoodbye(conn):  # as _pyroRelease
                    self._pyroDaemonCall(RELEASE_SESSION, oneway=True)
                conn.close("proxy garbage collected", flush=True)
        except Exception:
            pass

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and other._pyroUri == self._pyroUri

    def __hash__(self) -> int:
        return hash(self._pyroUri)

    def __repr__(self) -> str:
        state = "connected" if self._pyroConnection is not None else "not connected"
        return f"<zpyro.Proxy at {id(self):#x}; {state}; for {self._pyroUri}>"

    __str__ = __repr__

    def __copy__(self) -> Proxy:
        twin = Proxy(self._pyroUri)
        twin._pyroTimeout = self._pyroTimeout
        twin._pyroSerializer = self._pyroSerializer
        twin._pyroSerializerSet = self._pyroSerializerSet
        twin._pyroOneway = set(self._pyroOneway)
        twin._pyroMaxRetries = self._pyroMaxRetries
        twin._pyroCurveServerKey = self._pyroCurveServerKey
        twin._pyroHandshake = self._pyroHandshake
        return twin

    def __reduce__(self) -> tuple[Any, ...]:
        return (Proxy, (str(self._pyroUri),))

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | self._pyroMethods | self._pyroAttrs)


def _decoding(proxy: Proxy, serializer: Any, deliver: Deliver) -> Callable[[Any, Any], None]:
    """The connection's callback for a submitted call: decode the reply, then deliver."""
    decode = proxy._pyroDecode

    def done(reply: Any, error: BaseException | None) -> None:
        if error is None:
            try:
                value = decode(reply, serializer)
            except BaseException as exc:
                deliver(None, exc)
                return
            deliver(value, None)
        else:
            deliver(None, error)

    return done


register_proxy_class(Proxy)  # proxies travel as their URI and arrive as proxies
