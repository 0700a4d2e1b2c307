"""What a connection's socket monitor says, turned into the error its calls get. Pure.

No sockets and no clock of its own (``now`` is passed in): the connection reads the monitor
events and hands them to :meth:`LinkState.on_event`, which keeps track of the connection (made?
handshake done?) and answers with the error to fail the waiting calls with, and close the
connection for, or None. A connection that was refused while no call waited ends with
:class:`StaleConnection`, which the proxy answers by retrying on a new connection.
"""

from __future__ import annotations

from typing import Any

import zmq

from . import errors

_HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


class StaleConnection(errors.ConnectionClosedError):
    """The connection was refused before any call waited on it: nothing of the call that finds
    it went out, so the proxy retries that call once on a new connection (the caller never sees
    this class; a connection that was made and then lost is a ConnectionClosedError)."""


class LinkState:
    def __init__(self, endpoint: str, connect_timeout: float, curve: bool, now: float) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.curve = curve
        self.connected = False  # per the monitor
        self.handshaken = False  # the ZMTP (and CURVE) handshake completed
        self.connect_deadline: float | None = now + connect_timeout
        # a handshake that failed before any call waited: the next call fails with it at once
        self.handshake_failure: errors.ZPyroError | None = None
        if endpoint.startswith("inproc://"):
            # inproc has no connection to make and its monitor reports nothing: it is there
            # (a call that takes longer than connect_timeout is not a failed connect)
            self.connected = self.handshaken = True
            self.connect_deadline = None

    def sending(self, now: float) -> None:
        """A call goes out: if not connected, it waits at most connect_timeout from now."""
        if not self.connected and self.connect_deadline is None:
            self.connect_deadline = now + self.connect_timeout

    def on_event(self, event: int, value: Any, waiting: bool) -> errors.ZPyroError | None:
        """A monitor event; the error to close with, if it ends the connection. `waiting`: calls
        are pending."""
        if event == zmq.EVENT_CONNECTED:
            self.connected = True
            self.connect_deadline = None
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.handshaken = True
        elif event == zmq.EVENT_DISCONNECTED:
            self.connected = False
            if self.handshaken:
                return errors.ConnectionClosedError(f"connection to {self.endpoint} lost")
            return self._handshake_error(None)  # dropped during the handshake: refused us
        elif event == zmq.EVENT_CLOSED and not self.connected:
            # the connect attempt failed (refused); libzmq will not try again
            refused = f"cannot connect to {self.endpoint}: refused"
            if waiting:
                return errors.CommunicationError(refused)
            return StaleConnection(refused)  # nobody waited: the next call tries anew
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return errors.SecurityError(f"{self.endpoint} refused our credentials")
        elif event & _HANDSHAKE_FAILED:
            failure = self._handshake_error(value)
            if waiting:
                return failure
            self.handshake_failure = failure
        return None

    def overdue(self, now: float, waiting: bool) -> errors.ZPyroError | None:
        """The error for calls waiting on a connection never made, if it is time to give up."""
        if not waiting or self.connected:
            return None
        if self.handshake_failure is not None:
            return self.handshake_failure
        if self.connect_deadline is not None and now > self.connect_deadline:
            return errors.CommunicationError(
                f"cannot connect to {self.endpoint} within {self.connect_timeout} s"
            )
        return None

    def _handshake_error(self, value: Any) -> errors.ZPyroError:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return errors.SecurityError(
                f"{self.endpoint} uses another security mechanism (CURVE on one side only? "
                "set CURVE_SERVER_PUBLIC_KEY to the server's public key)"
            )
        if self.curve:
            return errors.SecurityError(
                f"CURVE handshake with {self.endpoint} failed (wrong server public key?)"
            )
        # e.g. the peer closed mid-handshake: a listener going away, or one that wants CURVE
        return errors.CommunicationError(
            f"handshake with {self.endpoint} failed (is it going away, or does it require CURVE?)"
        )
