"""The connection handshake on a daemon's side (Pyro's ``validateHandshake``), and the gate that
keeps a client's calls out until its handshake passed.

A proxy's first message on a new connection is a handshake (a CALL with ``FLAG_HANDSHAKE``,
docs/PROTOCOL.md): its data is Pyro's ``_pyroHandshake``, its answer the object's metadata and
the daemon's handshake response. A daemon without ``validateHandshake`` answers it at once
("hello", as Pyro). One with it is *gated*: the hook runs on a worker (it is user code), its
client's calls are held meanwhile (through a broker they may come right behind it), and a
refused client's calls are refused, never run. The broker answers and forwards handshakes with
:func:`handshake_data` and :func:`handshake_reply` too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import errors, wire
from .clients import PARKED, ClientConnection, Clients
from .dispatch import Dispatcher
from .serializers import BY_ID
from .wire import DAEMON_OBJECT_ID, RELEASE_SESSION

log = logging.getLogger("zpyro.server")

HELLO = "hello"  # Pyro's handshake response of a daemon that does not validate handshakes

Validate = Callable[[ClientConnection, Any], Any]  # Pyro's Daemon.validateHandshake(conn, data)
Reply = Callable[[bytes, list[Any]], None]


def handshake_data(dispatcher: Dispatcher, msg: wire.Message) -> Any:
    """The data a handshake carries (its one argument); SerializeError/ProtocolError when it
    cannot be read."""
    if msg.serializer_id not in dispatcher.accepted_ids:
        known = BY_ID.get(msg.serializer_id)
        name = known.name if known else f"id {msg.serializer_id}"
        raise errors.SerializeError(f"serializer {name} is not accepted by this daemon")
    args, _, _ = dispatcher.unpack_call(BY_ID[msg.serializer_id], msg)
    if len(args) != 1:
        raise errors.ProtocolError("a handshake carries one argument: its data")
    return args[0]


def handshake_reply(
    dispatcher: Dispatcher,
    msg: wire.Message,
    response: Any,
    refusal: BaseException | None,
    metadata: Callable[[str], dict[str, Any]] | None = None,
) -> list[Any] | None:
    """The answer to a handshake: ERROR `refusal`, or RESULT ``{"handshake": response, "meta":
    the object's metadata}``. None for a handshake a broker passed on (FLAG_ONEWAY): its caller
    was answered already."""
    if msg.flags & wire.FLAG_ONEWAY:
        return None
    ser_id = msg.serializer_id
    if refusal is None:
        try:
            meta = (metadata or dispatcher.metadata)(msg.object_id)
            payload, _ = BY_ID[ser_id].dumps({"handshake": response, "meta": meta})
        except Exception as exc:  # an unknown object, an unserializable response
            refusal = exc
        else:
            return wire.encode(wire.RESULT, 0, ser_id, msg.call_id, "", "", payload)
    return dispatcher.error_reply(msg.call_id, refusal, ser_id)


def answer_handshake(
    dispatcher: Dispatcher,
    msg: wire.Message,
    metadata: Callable[[str], dict[str, Any]] | None = None,
) -> list[Any] | None:
    """A handshake answered without validation: "hello" and the metadata (or why not)."""
    refusal = None
    try:
        handshake_data(dispatcher, msg)
    except Exception as exc:
        refusal = exc
    return handshake_reply(dispatcher, msg, HELLO, refusal, metadata)


class Gatekeeper:
    """One daemon's handshakes and gate. `reply` sends (owner thread), `queue_reply` hands a
    reply to the owner (any thread), `submit` runs a job on the worker pool (False: full),
    `resume` hands held calls back to the owner to serve."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        validate: Validate | None,
        reply: Reply,
        queue_reply: Reply,
        submit: Callable[..., bool],
        resume: Callable[[list[list[Any]]], None],
    ) -> None:
        self.dispatcher = dispatcher
        self.clients: Clients = dispatcher.clients
        self._validate = validate
        self._reply = reply
        self._queue_reply = queue_reply
        self._submit = submit
        self._resume = resume
        # an object's metadata as a handshake's answer carries it: a brokered daemon's with the
        # broker's terms (brokerlink.py); None: the dispatcher's
        self.metadata: Callable[[str], dict[str, Any]] | None = None

    def handshake(self, ident: bytes, msg: wire.Message) -> None:
        """Owner thread: a handshake came."""
        validate = self._validate
        if validate is None:
            if self.clients.hooked:
                self.clients.connection(ident)
            reply = answer_handshake(self.dispatcher, msg, self.metadata)
            if reply is not None:
                self._reply(ident, reply)
            return
        conn = self.clients.begin_handshake(ident)
        if not self._submit(self._run_validation, ident, msg, conn, validate):
            busy = errors.DaemonError("daemon busy: too many calls waiting for a worker")
            self._settle(ident, msg, conn, None, busy)

    def keeps_out(self, ident: bytes, frames: list[Any], msg: wire.Message) -> bool:
        """Owner thread, hooked daemons: False to serve the call; True when it is held for its
        client's handshake or was refused (answered here)."""
        verdict = self.clients.admit(ident, frames)
        if verdict is None:
            return False
        if verdict is PARKED:
            return True
        if msg.method == RELEASE_SESSION and msg.object_id.startswith(DAEMON_OBJECT_ID):
            return False  # a goodbye: whatever the client's state, what it held may go
        assert isinstance(verdict, BaseException)
        log.warning(
            "call %s.%s from %s refused: %s", msg.object_id, msg.method, ident.hex(), verdict
        )
        if msg.flags & wire.FLAG_ONEWAY and not msg.flags & wire.FLAG_META:
            if msg.flags & wire.FLAG_CREDIT:  # a notice, for the proxy's next call to raise
                notice = errors.HandshakeError(
                    f"oneway call {msg.object_id}.{msg.method}: {verdict}"
                )
                self._reply(
                    ident,
                    self.dispatcher.error_reply(
                        msg.call_id, notice, msg.serializer_id, wire.FLAG_ONEWAY
                    ),
                )
            quiet = self.dispatcher.quiet_reply  # (its credit back, or a broker's DONE)
            reply = None if quiet is None else quiet(ident, msg)
        else:
            reply = self.dispatcher.error_reply(msg.call_id, verdict, msg.serializer_id)
        if reply is not None:
            self._reply(ident, reply)
        return True

    def _run_validation(
        self, ident: bytes, msg: wire.Message, conn: ClientConnection, validate: Validate
    ) -> None:
        """A worker: validateHandshake(conn, data); raising refuses the connection."""
        response = refusal = None
        try:
            data = handshake_data(self.dispatcher, msg)
        except Exception as exc:  # unreadable: refused, with the reason the caller can act on
            refusal = exc
        else:
            try:
                response = validate(conn, data)
            except Exception as exc:
                refusal = errors.HandshakeError(f"connection rejected: {exc}")
        if refusal is not None:
            log.warning("connection %s refused: %s", ident.hex(), refusal)
        self._settle(ident, msg, conn, response, refusal)

    def _settle(
        self,
        ident: bytes,
        msg: wire.Message,
        conn: ClientConnection,
        response: Any,
        refusal: BaseException | None,
    ) -> None:
        held = self.clients.settle(conn, refusal)
        reply = handshake_reply(self.dispatcher, msg, response, refusal, self.metadata)
        if reply is not None:
            self._queue_reply(ident, reply)
        if held:
            self._resume(held)
