"""One broker's side of a broker pair: Binary Star state, heartbeats, and the names kept equal.

The service (``broker/service.py``) owns the sockets' thread and calls in here: ``tick`` every
heartbeat interval, ``on_messages`` when the pair link has something, ``client_request`` when a
caller asks a broker that is not active, ``held`` after a name-server call. This class decides
(state in :class:`~zpyro.broker.binarystar.BinaryStar`, merging in ``replica``) and talks to
the peer over its own :class:`~zpyro.broker.pairlink.PairLink`; nothing here is on the path of
forwarded calls.

Names registered by hand reach the peer before ``register`` returns: the active broker sends
each stored change (``PAIR_CHANGE``) and holds the caller's reply until the peer's ``PAIR_ACK``
says it is stored there too -- or until the peer is lost, or does not confirm within the peer
timeout (then everything is sent again, ``PAIR_SYNC``). When the two meet (start, restart, a
cut healed) each sends the other all its records and both merge (``replica.merge``), so a broker
that was down catches up. See docs/BROKER.md, "Broker pair".
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from zpyro import wire
from zpyro.errors import ZPyroError

from .binarystar import ACTIVE, PRIMARY, BinaryStar
from .nameserver import NameServer
from .pairlink import PairLink
from .replica import Record, from_wire, to_wire

__all__ = ["BrokerPair"]

log = logging.getLogger("zpyro.broker.pair")

Reply = Callable[[bytes, list[Any]], None]  # reply(caller, frames)
LEAVING_LINGER_MS = 200  # a stopping broker's last word to its peer still gets out


class _Held:
    """A name-server reply waiting for the peer to confirm change `upto`."""

    __slots__ = ("caller", "frames", "upto", "deadline")

    def __init__(self, caller: bytes, frames: list[Any], upto: int, deadline: float) -> None:
        self.caller, self.frames, self.upto, self.deadline = caller, frames, upto, deadline


class BrokerPair:
    def __init__(
        self,
        role: str,
        link: PairLink,
        nameserver: NameServer,
        epoch: int,
        location: str,
        pub_location: str,
        timeout: float,
        now: float,
        reply: Reply,
        on_state: Callable[[str, str], None],
        on_peer_location: Callable[[], None],
    ) -> None:
        self.star = BinaryStar(role, timeout, now)
        self.link = link
        self.nameserver = nameserver
        self.epoch = epoch
        self.location = location
        self.pub_location = pub_location
        self._reply = reply
        self._on_state = on_state  # (old, new): the service mutes announcements, says it, ...
        self._on_peer_location = on_peer_location  # the service names its pools anew
        self.peer_location = ""  # the peer's call address, once heard
        self.peer_pub = ""
        self.peer_epoch: int | None = None
        self._ids = itertools.count(1)  # our PAIR_SYNC / PAIR_CHANGE messages, this epoch
        self._expect = 0  # the next id we expect from the peer (0: none yet)
        self._resync = False  # the peer may have missed a change: send it all again
        self._sent_change: int | None = None  # sent while serving the current call
        self._tombstones: dict[int, dict[str, int]] = {}  # message id -> tombstones it carried
        self._held: list[_Held] = []
        nameserver.keep_tombstones = True
        nameserver.on_change = self._changed

    # -- what the service asks ----------------------------------------------------------------

    @property
    def role(self) -> str:
        return self.star.role

    @property
    def state(self) -> str:
        return self.star.state

    @property
    def active(self) -> bool:
        return self.star.state == ACTIVE

    def locations(self) -> str:
        """The pair's call addresses, primary first (ours alone until the peer is heard): the
        location of every object the pair serves, the same whichever broker is active."""
        if not self.peer_location or self.peer_location == self.location:
            return self.location
        pair = (self.location, self.peer_location)
        return ",".join(pair if self.role == PRIMARY else reversed(pair))

    def info(self, now: float) -> dict[str, Any]:
        """What a PONG says about the pair (docs/BROKER.md): clients pick the active broker by it."""
        return {
            "role": self.role,
            "state": self.state,
            "active": self.active_location(),
            # whether it would refuse to take over now: it hears its peer, or waits for it
            "peer": now < self.star.peer_expiry,
            "locations": self.locations().split(","),
            "pub": self.pub_location,
        }

    def active_location(self) -> str:
        """Where calls go: ours when active, the peer's while we know it is active, else ""."""
        if self.active:
            return self.location
        return self.peer_location if self.star.peer_state == ACTIVE else ""

    def client_request(self, now: float) -> bool:
        """A caller asks this broker, which is not active: True when it takes over now."""
        before = self.state
        if not self.star.on_client(now):
            return False
        log.warning("%s: a client asks and the peer is lost: taking over", self.role)
        self._changed_state(before)
        return True

    def held(self, caller: bytes, frames: list[Any] | None, now: float) -> bool:
        """After a name-server call: True when its reply is held for the peer's confirmation
        (`frames` None: a oneway call, nothing to hold)."""
        upto, self._sent_change = self._sent_change, None
        if upto is None or frames is None or not self.star.peer_alive(now):
            return False
        self._held.append(_Held(caller, frames, upto, now + self.star.timeout))
        return True

    # -- time ---------------------------------------------------------------------------------

    def _say_state(self, leaving: bool = False) -> None:
        body = {
            "role": self.role,
            "state": self.state,
            "epoch": self.epoch,
            "location": self.location,
            "pub": self.pub_location,
        }
        self.link.send(wire.PAIR_STATE, {**body, "leaving": True} if leaving else body)

    def tick(self, now: float) -> None:
        """Every heartbeat interval: say our state, notice a lost peer, let go of what waits."""
        self._say_state()
        if self.star.tick(now):
            log.warning(
                "%s (%s): peer %s silent for %.1f s: lost",
                self.role,
                self.state,
                self.peer_location or self.link.peer,
                self.star.timeout,
            )
            self._release(lambda h: True)  # it cannot confirm: the replies go now
        late = [h for h in self._held if h.deadline <= now]
        if late:
            log.warning(
                "the peer did not confirm change %d in time: sending all names", late[0].upto
            )
            self._resync = True
            self._release(lambda h: h.deadline <= now)
        if self._resync and self.star.peer_alive(now):
            self._send_sync()

    # -- the peer's messages ------------------------------------------------------------------

    def on_messages(self, now: float, limit: int = 256) -> None:
        for _ in range(limit):
            msg = self.link.recv()
            if msg is None:
                return
            if not msg:
                continue  # malformed: logged by the link
            try:
                self._on_message(msg, now)
            except (KeyError, TypeError, ValueError, ZPyroError) as exc:
                log.warning("bad %s message from the peer ignored: %s", msg.get("kind"), exc)

    def _on_message(self, msg: dict[str, Any], now: float) -> None:
        kind = msg["kind"]
        if kind == wire.PAIR_STATE:
            self._on_state_message(msg, now)
        elif kind in (wire.PAIR_SYNC, wire.PAIR_CHANGE):
            self._on_records(kind, msg)
        elif kind == wire.PAIR_ACK:
            self._on_ack(msg)

    def _on_state_message(self, msg: dict[str, Any], now: float) -> None:
        role, state, epoch = msg["role"], msg["state"], int(msg["epoch"])
        if role == self.role:
            log.error(
                "both brokers of the pair say they are the %s: start one with --primary and the "
                "other with --backup (the peer at %s is ignored)",
                role,
                msg.get("location"),
            )
            return
        if msg.get("leaving"):  # stopping: lost now (the next tick says so and lets go)
            log.warning("%s (%s): peer %s is stopping", self.role, self.state, msg.get("location"))
            self.star.peer_left(now)
            self.tick(now)
            return
        met = self.star.peer_lost or epoch != self.peer_epoch
        location, pub = str(msg["location"]), str(msg["pub"])
        before = self.state
        self.star.on_peer(state, now)  # (ValueError for an unknown state: the message is bad)
        if met:
            log.warning(
                "%s (%s): peer %s heard (%s, %s)", self.role, self.state, location, role, state
            )
            self.peer_epoch = epoch
            self._expect = 0
            self._say_state()  # (the peer hears us before our names: met, then synced)
            self._send_sync()
        if location != self.peer_location or pub != self.peer_pub:
            self.peer_location, self.peer_pub = location, pub
            self._on_peer_location()
        if self.state != before:
            self._changed_state(before)

    def _on_records(self, kind: str, msg: dict[str, Any]) -> None:
        ident, epoch = int(msg["id"]), int(msg["epoch"])
        missed = kind == wire.PAIR_CHANGE and self._expect != 0 and ident > self._expect
        if kind == wire.PAIR_SYNC or epoch == self.peer_epoch:
            self._expect = max(self._expect, ident + 1)
        records = from_wire(msg["records"])
        won = self.nameserver.merge(records)  # (StorageError: not confirmed, sent again later)
        if won:
            log.info("%d names from the peer's %s %d", len(won), kind, ident)
        if kind == wire.PAIR_SYNC:
            log.info("%s (%s): names in step with the peer (sync %d)", self.role, self.state, ident)
        ack = {"id": ident, "to": epoch}
        if missed:
            ack["missed"] = True
            log.warning(
                "change %d from the peer came before %d: asking for all names", ident, self._expect
            )
        self.link.send(wire.PAIR_ACK, ack)

    def _on_ack(self, msg: dict[str, Any]) -> None:
        if int(msg["to"]) != self.epoch:
            return  # for an earlier process of ours
        upto = int(msg["id"])
        done = {i: t for i, t in self._tombstones.items() if i <= upto}
        for i in done:
            del self._tombstones[i]
        confirmed = {name: stamp for tombs in done.values() for name, stamp in tombs.items()}
        if confirmed:
            self.nameserver.purge(confirmed)
        self._release(lambda h: h.upto <= upto)
        if msg.get("missed"):
            self._send_sync()

    # -- sending ------------------------------------------------------------------------------

    def _changed(self, records: dict[str, Record]) -> None:
        """The name server stored a change (called inside its lock): the peer gets it now."""
        if not self.active:
            return  # a passive broker changes only what the peer sent: nothing to send back
        self._sent_change = self._send_records(wire.PAIR_CHANGE, records)

    def _send_sync(self) -> None:
        self._resync = False
        self._send_records(wire.PAIR_SYNC, self.nameserver.records())

    def _send_records(self, kind: str, records: dict[str, Record]) -> int:
        """Send; the message's id. Dropped (the link is not up again yet), all the names go
        again at the next tick: that sync's confirmation covers this id too (ids only grow)."""
        ident = next(self._ids)
        tombs = {name: r.stamp for name, r in records.items() if r.deleted}
        if tombs:
            self._tombstones[ident] = tombs
        body = {"id": ident, "epoch": self.epoch, "records": to_wire(records)}
        if not self.link.send(kind, body):
            self._resync = True
        return ident

    def _release(self, which: Callable[[_Held], bool]) -> None:
        keep = []
        for held in self._held:
            if which(held):
                self._reply(held.caller, held.frames)
            else:
                keep.append(held)
        self._held = keep

    def _changed_state(self, before: str) -> None:
        if self.state != before:
            self._on_state(before, self.state)

    def close(self) -> None:
        """Stopping: the peer is told (so it need not wait a timeout to take over)."""
        self._release(lambda h: True)
        self._say_state(leaving=True)
        self.link.close(linger_ms=LEAVING_LINGER_MS)
