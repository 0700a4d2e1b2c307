"""What the broker does with its callers' messages (broker/service.py): calls and handshakes in,
failures and credit out.

``Broker`` mixes this in. A caller's message passes the front door (zpyro/admission.py), then is
a connection handshake (:meth:`CallerSide._handshake`: passed on where the pool's daemons
validate handshakes, else answered here), a call for the broker's own objects (served inline by
its ``Dispatcher``), or a call for a pooled object (:meth:`CallerSide._submit`: to a daemon of
its pool, or queued for one). A call that fails is answered here (:meth:`CallerSide._fail`), and
a oneway caller's credit given back (:meth:`CallerSide._credit_back`). ``_route``/``_caller``
turn a caller's identity into what its daemons see and back.

Not to be confused with ``broker/callers.py``: that one keeps what outlives a message (the
handshakes kept for daemons, a caller's going and what is released then); this one handles each
message as it comes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zpyro import errors, wire
from zpyro.credit import CreditLedger, RefusalLog
from zpyro.dispatch import Dispatcher
from zpyro.gatekeeper import answer_handshake
from zpyro.security import ROUTE_KEY_MARK
from zpyro.wire import DAEMON_OBJECT_ID, JSON_ID, NAMESERVER_ID, RELEASE_SESSION

from .callers import Callers, replay_frames
from .pair import BrokerPair
from .paired import Takeover
from .pools import Call, Pools

__all__ = ["CallerSide"]

log = logging.getLogger("zpyro.broker")


class CallerSide:
    """The callers' part of ``Broker`` (a mixin: the attributes below are the broker's)."""

    secure: bool
    dispatcher: Dispatcher
    pools: Pools
    credit: CreditLedger
    callers: Callers
    pair: BrokerPair | None
    _admit: Callable[[bytes, list[bytes]], wire.Message | None]
    _takeover: Takeover
    _refusals: RefusalLog
    _last_key: bytes | None

    if TYPE_CHECKING:  # the broker's, the pair's (broker/paired.py) and the daemons' side's
        # (broker/daemons.py): declared for mypy only, so that no order of the broker's bases
        # can hide them behind a stub here

        def metadata(self, object_id: str) -> dict[str, Any]: ...

        def _send(self, frames: list[Any]) -> None: ...

        def _error_to(
            self, client: bytes, call_id: int, exc: BaseException, serializer_id: int = JSON_ID
        ) -> None: ...

        def _held_by_pair(
            self, client: bytes, body: list[bytes], msg: wire.Message, reply: list[Any] | None
        ) -> bool: ...

        def _forward(self, daemon: bytes, call: Call) -> None: ...

    def _from_caller(self, client: bytes, body: list[bytes]) -> None:
        msg = self._admit(client, body)
        if msg is None:  # answered at the door
            return
        if msg.flags & wire.FLAG_HANDSHAKE:
            self._handshake(client, body, msg)
            return
        if msg.object_id == DAEMON_OBJECT_ID and msg.method == RELEASE_SESSION:
            # the proxy is gone: every daemon drops the session instances and streams it held
            self.callers.release(self._route(client))
        if msg.object_id in (NAMESERVER_ID, DAEMON_OBJECT_ID):
            handled = self.dispatcher.handle(client, msg)
            reply = handled if isinstance(handled, list) else None
            if self.pair is not None and self._held_by_pair(client, body, msg, reply):
                return
            if reply is not None:
                self._send([client, *reply])
            return
        self._submit(client, body, msg)

    def _handshake(self, client: bytes, body: list[bytes], msg: wire.Message) -> None:
        """A caller's connection handshake: a pool whose daemons validate handshakes gets it
        (and each of its daemons will, see broker/handshakes.py); else it is answered here."""
        object_id = msg.object_id
        own = object_id in (NAMESERVER_ID, DAEMON_OBJECT_ID)
        meta = None if own else self.pools.metadata(object_id)
        if meta is not None and meta.get("handshake"):
            route = self._route(client)
            self.callers.handshakes.remember(route, replay_frames(body, msg), msg.call_id)
            self._submit(client, body, msg)
            return
        if meta is None and not own and self._takeover.hold(client, body, True, time.monotonic()):
            return  # just took over (a pair): the pool's daemons may not have come yet
        reply = answer_handshake(self.dispatcher, msg, self.metadata)
        if reply is not None:
            self._send([client, *reply])

    def _submit(self, client: bytes, body: list[bytes], msg: wire.Message) -> None:
        """A call for a pooled object: to a daemon of its pool, or queued for one."""
        oneway = bool(msg.flags & wire.FLAG_ONEWAY) and not msg.flags & wire.FLAG_META
        call = Call(
            self._route(client),
            msg.call_id,
            msg.object_id,
            msg.method,
            body,
            oneway=oneway,
            retry=not msg.flags & wire.FLAG_BATCH,
            credited=oneway and bool(msg.flags & wire.FLAG_CREDIT),
        )
        try:
            daemon = self.pools.submit(call)
        except errors.ZPyroError as exc:
            unserved = msg.object_id not in self.pools.pools
            if self._takeover.hold(client, body, unserved, time.monotonic()):
                return  # just took over: its daemons may not have come yet
            what = f"call {msg.object_id}.{msg.method} from {client.hex()}"
            self._refusals.refused(time.monotonic(), what, exc)
            self._fail(call, exc)
            return
        if daemon is not None:
            self._forward(daemon.ident, call)

    def _fail(self, call: Call, exc: BaseException) -> None:
        """Tell the caller its call failed. A oneway call with credit gets its credit back and
        a notice (an ERROR flagged ONEWAY: the proxy's next call raises it); one without (an
        old proxy's) can only be logged."""
        caller = self._caller(call.client)
        if not call.oneway:
            self._error_to(caller, call.call_id, exc, wire.peek_serializer_id(call.frames))
            return
        log.warning("oneway call %s.%s failed: %s", call.object_id, call.method, exc)
        if call.credited:
            told = type(exc)(f"oneway call {call.object_id}.{call.method}: {exc}")
            notice = self.dispatcher.error_reply(
                call.call_id, told, wire.peek_serializer_id(call.frames), wire.FLAG_ONEWAY
            )
            self._send([caller, *notice])
            self._credit_back(call)

    def _credit_back(self, call: Call) -> None:
        """A oneway call with credit finished (or failed): its caller has room for one more."""
        caller = self._caller(call.client)
        count = self.credit.ran(caller)
        if count:
            self._send([caller, *wire.credit_frames(count)])

    def _route(self, client: bytes) -> bytes:
        """What a daemon sees as the caller: its identity, led by its CURVE key when secure
        (docs/BROKER.md), so the daemon's current_context knows who is calling."""
        if not self.secure:
            return client
        return ROUTE_KEY_MARK + (self._last_key or b"\0" * 40) + client

    def _caller(self, route: bytes) -> bytes:
        return route[41:] if self.secure else route
