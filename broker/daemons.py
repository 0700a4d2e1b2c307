"""The broker's daemons (broker/service.py): what they tell it, what it tells them, their going.

``Broker`` mixes this in. A brokered daemon's DEALER (zpyro/brokerlink.py) sends READY to
attach (its objects open or join pools), PING as its heartbeat, the replies (and DONEs) of the
calls it ran, and BYE. The broker answers READY and PING with a PONG that carries its epoch, the
pair's state and the terms callers get (:meth:`BrokeredDaemons._terms`), names the objects a
daemon lists, forwards it calls (a caller's handshake first where its pool validates them), and
when a daemon goes (BYE, or silent past the heartbeat timeout) fails or runs elsewhere what it
held (:meth:`BrokeredDaemons._rescue`). Which daemon gets a call, and what a departure leaves
behind, is decided in ``broker/pools.py``; this module turns it into frames. See docs/BROKER.md
for the messages.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from zpyro import announce, errors, wire
from zpyro.config import NO_SIZE_LIMIT
from zpyro.credit import CreditLedger
from zpyro.wire import DAEMON_OBJECT_ID, JSON_ID, NAMESERVER_ID

from .announcer import Announcer
from .callers import Callers
from .nameserver import NameServer
from .paired import Takeover
from .pools import AttachedDaemon, Call, Pool, Pools
from .registry import check_name

__all__ = ["BrokeredDaemons"]

log = logging.getLogger("zpyro.broker")


class BrokeredDaemons:
    """The daemons' part of ``Broker`` (a mixin: the attributes below are the broker's)."""

    max_message_size: int
    nameserver: NameServer
    pools: Pools
    announcer: Announcer
    credit: CreditLedger
    callers: Callers
    _takeover: Takeover

    if TYPE_CHECKING:  # the pair's (broker/paired.py), the callers' side's (broker/callerside.py)
        # and the broker's: declared for mypy only, so that no order of the broker's bases can
        # hide them behind a stub here

        @property
        def lease_location(self) -> str: ...

        def _daemon_pong(self, known: bool, now: float) -> dict[str, Any]: ...

        def _from_caller(self, client: bytes, body: list[bytes]) -> None: ...

        def _fail(self, call: Call, exc: BaseException) -> None: ...

        def _credit_back(self, call: Call) -> None: ...

        def _caller(self, route: bytes) -> bytes: ...

        def _send(self, frames: list[Any]) -> None: ...

    def _from_daemon(self, ident: bytes, route: bytes, body: list[bytes]) -> None:
        header = body[1]
        kind = header[0] if header else 0
        now = time.monotonic()
        if route:  # a reply (or DONE) for a caller
            known = self.pools.seen(ident, now)
            call = self.pools.finished(ident, route, wire.peek_call_id(body))
            if call is None:
                log.debug("late or unknown reply from daemon %s dropped", ident.hex())
            else:
                if kind != wire.DONE:  # (for a oneway call: a notice, e.g. refused at a gate)
                    self._send([self._caller(route), *body])
                if call.credited:  # its end, either way
                    self._credit_back(call)
            if known:
                for queued in self.pools.fill(ident):
                    self._forward(ident, queued)
            return
        if kind == wire.PING:
            known = self.pools.seen(ident, now)
            self._control(ident, wire.PONG, {**self._daemon_pong(known, now), **self._terms()})
        elif kind == wire.READY:
            self._attach(ident, body, now)
        elif kind == wire.BYE:
            self._drop_daemon(ident, "closed")
        else:
            log.warning("unexpected control message kind %d from daemon %s", kind, ident.hex())

    def _attach(self, ident: bytes, body: list[bytes], now: float) -> None:
        try:
            info = json.loads(bytes(body[2]))
            objects = info["objects"]
            if not isinstance(objects, dict) or not all(
                isinstance(k, str) and isinstance(v, dict) for k, v in objects.items()
            ):
                raise ValueError("objects must map object ids to metadata")
            for object_id, meta in objects.items():
                _check_pooled(object_id, meta)
            capacity = int(info.get("capacity", 1))
            listed = [check_name(x) for x in info.get("listed", ())]  # as ns.register does
            tags = {str(k): [str(t) for t in v] for k, v in dict(info.get("tags", {})).items()}
            pid = int(info.get("pid", 0))
            modes = {
                str(k): str(v) for k, v in dict(info.get(wire.READY_INSTANCE_MODES, {})).items()
            }
        except Exception as exc:
            log.warning("malformed READY from daemon %s ignored: %s", ident.hex(), exc)
            return
        before = self.pools.daemons.get(ident)
        old_listed = set(before.listed) if before is not None else set()
        new, opened, closed = self.pools.attach(
            ident, now, capacity, objects, listed, tags, pid, modes
        )
        daemon = self.pools.daemons[ident]
        for object_id in sorted(daemon.listed - old_listed):
            try:
                self.nameserver.add_lease(
                    object_id,
                    f"PYRO:{object_id}@{self.lease_location}",
                    daemon.tags.get(object_id, frozenset()),
                )
            except errors.ZPyroError as exc:  # e.g. an id that is no valid name: still routable
                log.warning(
                    "daemon %s: %r not named in the name server: %s", ident.hex(), object_id, exc
                )
        self._close_pools(closed, "its daemon stopped serving it")
        if new:
            log.info(
                "daemon %s (pid %d) joined: %s, capacity %d",
                ident.hex(),
                pid,
                ", ".join(sorted(objects)),
                capacity,
            )
            self.announcer.publish(
                announce.DAEMON_JOINED,
                {"daemon": ident.hex(), "names": sorted(objects), "capacity": daemon.capacity},
            )
        self._control(ident, wire.PONG, {**self._daemon_pong(True, now), **self._terms()})
        del opened  # pools opened need nothing more: their first calls simply arrive
        for queued in self.pools.fill(ident):
            self._forward(ident, queued)
        for client, held in self._takeover.release():
            self._from_caller(client, held)  # calls that waited for a pool after a takeover

    def _expire_daemons(self, now: float) -> None:
        """Daemons silent past the heartbeat timeout are dropped as if they had said BYE."""
        for ident in self.pools.expired(now):
            log.warning(
                "daemon %s silent for over %.1f s: declared dead",
                ident.hex(),
                self.pools.heartbeat_timeout,
            )
            self._drop_daemon(ident, "no heartbeat")

    def _drop_daemon(self, ident: bytes, reason: str) -> None:
        daemon, closed, orphans = self.pools.detach(ident, f"went away ({reason})")
        if daemon is None:
            return
        log.info("daemon %s left (%s)", ident.hex(), reason)
        self.announcer.publish(
            announce.DAEMON_LEFT,
            {"daemon": ident.hex(), "names": sorted(daemon.objects), "reason": reason},
        )
        self._close_pools(closed, f"its last daemon went away ({reason})")
        for call in orphans:
            self._rescue(daemon, call, reason)
        for call in daemon.pinned:  # session calls that waited for it: they never ran
            self._fail(
                call,
                errors.ConnectionClosedError(
                    f"the session of this proxy with {call.object_id!r} is lost: daemon "
                    f"{ident.hex()}, which held it, went away ({reason}); the call did not run"
                ),
            )
        daemon.pinned.clear()

    def _rescue(self, daemon: AttachedDaemon, call: Call, reason: str) -> None:
        """A call in flight on a daemon that went away: run it elsewhere only if idempotent
        (and not bound to a session, which went with the daemon)."""
        meta = daemon.objects.get(call.object_id) or {}
        if call.session:
            self._fail(
                call,
                errors.ConnectionClosedError(
                    f"the session of this proxy with {call.object_id!r} is lost: daemon "
                    f"{daemon.ident.hex()}, which held it, went away ({reason}) while running "
                    f"{call.method}; the call may or may not have run"
                ),
            )
            return
        if call.retry and call.method in meta.get("idempotent", ()):
            try:
                target = self.pools.requeue(call)
            except errors.ZPyroError as exc:
                self._fail(call, exc)
                return
            log.info("re-dispatching idempotent %s.%s", call.object_id, call.method)
            if target is not None:
                self._forward(target.ident, call)
            return
        self._fail(
            call,
            errors.ConnectionClosedError(
                f"the daemon running {call.object_id}.{call.method} went away ({reason}); "
                "the call may or may not have run"
            ),
        )

    def _close_pools(self, closed: list[Pool], why: str) -> None:
        for pool in closed:
            self.nameserver.drop_lease(pool.object_id)
            for call in pool.queue:
                self._fail(
                    call, errors.CommunicationError(f"no daemon serves {pool.object_id!r}: {why}")
                )
            pool.queue.clear()

    def _forward(self, daemon: bytes, call: Call) -> None:
        if self.callers.handshakes:  # the caller's handshake goes first where it has not been
            replay = self.callers.handshakes.replay(call.client, daemon, call.call_id)
            if replay is not None:
                self._send([daemon, call.client, *replay])
        self._send([daemon, call.client, *call.frames])

    def _terms(self) -> dict[str, Any]:
        """What a daemon's PONG tells it of the terms callers get through us: a daemon answering
        a handshake itself answers with the metadata we would give (zpyro/brokerlink.py)."""
        limit = self.max_message_size
        return {
            wire.META_CREDIT: self.credit.window,
            "max_message_size": limit if limit < NO_SIZE_LIMIT else 0,
        }

    def _control(self, daemon: bytes, kind: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self._send([daemon, b"", *wire.encode(kind, 0, JSON_ID, 0, "", "", payload)])


def _check_pooled(object_id: str, meta: dict[str, Any]) -> None:
    """What a READY may offer (ValueError if not): an id that can travel (no lone surrogate) and
    is not the broker's own -- a pool named Pyro.NameServer would take the name server's name
    away when it closed -- and an idempotent list the broker can read when the daemon dies."""
    object_id.encode()  # UnicodeEncodeError is a ValueError
    if object_id == NAMESERVER_ID or object_id.partition(":")[0] == DAEMON_OBJECT_ID:
        raise ValueError(f"{object_id!r} is the broker's own object")
    idempotent = meta.get("idempotent", [])
    if not isinstance(idempotent, list) or not all(isinstance(m, str) for m in idempotent):
        raise ValueError(f"{object_id!r}: idempotent must be a list of method names")
