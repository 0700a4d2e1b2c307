"""The front door of a daemon and of the broker: what a message meets before it is served.

One copy for both (the broker is a daemon that forwards): the size check (``MAX_MESSAGE_SIZE``,
answered with an error instead of libzmq's silent drop), decoding, a ``PING`` answered with
``PONG``, and any kind but ``CALL`` refused with an error. Whatever is refused gets an error
reply addressed to its call where one can be read, and a warning in the log; the caller's
neighbours are never disturbed. No sockets here: replies go out through the ``reply`` callable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import errors, wire

Reply = Callable[[bytes, list[Any]], None]  # reply(peer, frames)
ErrorReply = Callable[[int, BaseException], list[Any]]  # error_reply(call id, exc) -> frames


class FrontDoor:
    """``admit(peer, frames)``: the CALL to serve, or None when it was answered here."""

    __slots__ = ("max_size", "name", "_error_reply", "_reply", "_log", "_pong")

    def __init__(
        self,
        max_size: int,
        name: str,
        error_reply: ErrorReply,
        reply: Reply,
        log: logging.Logger,
        pong: Callable[[], bytes] | None = None,
    ) -> None:
        self.max_size = max_size
        self.name = name  # "this daemon", "the broker": for the error messages
        self._error_reply = error_reply
        self._reply = reply
        self._log = log
        self._pong = pong  # the JSON body of a PONG (a broker of a pair: its state), else empty

    def admit(self, peer: bytes, body: list[Any]) -> wire.Message | None:
        if sum(map(len, body)) > self.max_size:  # received frames are bytes
            exc = errors.MessageTooLargeError(
                f"message of {wire.message_size(body)} bytes exceeds {self.name}'s "
                f"MAX_MESSAGE_SIZE of {self.max_size}"
            )
            self._log.warning("refused message from %s: %s", peer.hex(), exc)
            self._reply(peer, self._error_reply(wire.peek_call_id(body), exc))
            return None
        try:
            msg = wire.decode(body)
        except errors.ProtocolError as exc:
            self._log.warning("bad message from %s: %s", peer.hex(), exc)
            self._reply(peer, self._error_reply(wire.peek_call_id(body), exc))
            return None
        kind = msg.kind
        if kind == wire.CALL:
            return msg
        if kind == wire.PING:
            state = b"" if self._pong is None else self._pong()
            serializer = wire.JSON_ID if state else 0
            self._reply(peer, wire.encode(wire.PONG, 0, serializer, msg.call_id, "", "", state))
            return None
        wrong = errors.ProtocolError(f"unexpected message kind {kind} sent to {self.name}")
        self._log.warning("bad message from %s: %s", peer.hex(), wrong)
        self._reply(peer, self._error_reply(msg.call_id, wrong))
        return None
