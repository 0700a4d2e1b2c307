"""What a broker pair adds to the broker's loop (broker/service.py), kept apart from it.

``Broker`` mixes this in. None of it is on the path of forwarded calls: a broker of a pair that
is not active swaps its callers' handler for ``_from_caller_inactive``; the rest runs on the
pair link's messages, the heartbeat tick, name-server calls and daemons' READY/PING. The pair's
decisions are made in ``broker/pair.py`` (and ``binarystar.py``, ``replica.py``); this module
turns them into what the broker does: refusing or serving callers, muting announcements,
naming pools with both addresses, telling daemons and clients how the pair stands, and holding
calls for a moment after a takeover (:class:`Takeover`). See docs/BROKER.md, "Broker pair".
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zpyro import errors, wire
from zpyro.config import config
from zpyro.wire import JSON_ID, NAMESERVER_ID

from .announcer import Announcer
from .nameserver import NameServer
from .pair import BrokerPair
from .pairlink import PairLink
from .pools import Pools

__all__ = ["PairedBroker", "Takeover"]

log = logging.getLogger("zpyro.broker")

_PING = bytes([wire.PING])  # the kind byte of a header
_ERROR = bytes([wire.ERROR])
_WAIT_FOR_DAEMONS = ("get_metadata", "lookup")  # failing just after a takeover: wait a while


class Takeover:
    """Right after a broker of a pair becomes active, calls for objects no daemon serves yet
    wait (until `until`) instead of failing: the daemons of the broker that went away are on
    their way (they notice its silence within a heartbeat timeout, as the broker does)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # (as a pool's queue: beyond it, the usual error at once)
        self.until = 0.0
        self.waiting: list[tuple[bytes, list[bytes]]] = []

    def start(self, until: float) -> None:
        self.until = until

    def hold(self, client: bytes, body: list[bytes], unserved: bool, now: float) -> bool:
        """Keep a message that failed for an object nobody serves (`unserved`), if in time."""
        if not unserved or now >= self.until or len(self.waiting) >= self.limit:
            return False
        self.waiting.append((client, body))
        return True

    def release(self) -> list[tuple[bytes, list[bytes]]]:
        """Everything waiting, to be tried again (a daemon came)."""
        waiting, self.waiting = self.waiting, []
        return waiting

    def expired(self, now: float) -> list[tuple[bytes, list[bytes]]]:
        """At the end of the window: everything waiting, to be answered as usual."""
        if not self.until or now < self.until:
            return []
        self.until = 0.0
        return self.release()


class PairedBroker:
    """The pair's part of ``Broker`` (a mixin: the attributes below are the broker's)."""

    location: str
    pub_location: str
    epoch: int
    nameserver: NameServer
    pools: Pools
    announcer: Announcer
    pair: BrokerPair | None
    _takeover: Takeover
    _on_caller: Callable[[bytes, list[bytes]], None]

    if TYPE_CHECKING:  # the callers' side's (broker/callerside.py): declared for mypy only, so
        # that no order of the broker's bases can hide it behind a stub here

        def _from_caller(self, client: bytes, body: list[bytes]) -> None: ...

    @property
    def advertised(self) -> str:
        raise NotImplementedError  # the broker's

    def _reply(self, peer: bytes, frames: list[Any]) -> None:
        raise NotImplementedError  # the broker's

    def _error_to(
        self, client: bytes, call_id: int, exc: BaseException, serializer_id: int = JSON_ID
    ) -> None:
        raise NotImplementedError  # the broker's

    def _join_pair(
        self, role: str, peer: str | None, listen: str, keys: tuple[bytes, bytes] | None
    ) -> None:
        if not peer:
            raise errors.CommunicationError(
                f"--{role} needs --peer: where the other broker listens"
            )
        link = PairLink(listen, peer, keys)
        try:
            self.pair = BrokerPair(
                role,
                link,
                self.nameserver,
                self.epoch,
                self.location,
                self.pub_location,
                config.HEARTBEAT_TIMEOUT,
                time.monotonic(),
                self._reply,
                self._pair_state_changed,
                self._rename_leases,
            )
        except BaseException:
            link.close()
            raise

    @property
    def lease_location(self) -> str:
        """Where the objects this broker routes live: the pair's addresses, or its own."""
        return self.advertised if self.pair is None else self.pair.locations()

    def _from_caller_inactive(self, client: bytes, body: list[bytes]) -> None:
        """A caller's message while this broker of a pair is not active: a PING is answered
        (with the pair's state); a call makes it take over if its peer is lost (the Binary Star
        rule), else is refused naming the active broker."""
        assert self.pair is not None
        header = body[1] if len(body) > 1 else b""
        if header[:1] == _PING or self.pair.client_request(time.monotonic()):
            self._from_caller(client, body)
            return
        active = self.pair.active_location()
        where = f"the active one is {active}" if active else "none is active yet: ask again"
        refused = errors.NotActiveError(
            f"broker {self.location} is the {self.pair.role} of a pair and {self.pair.state}: "
            f"{where}",
            active,
        )
        if len(header) > 1 and header[1] & wire.FLAG_ONEWAY:
            log.warning("oneway call refused (%s)", refused)
        self._error_to(client, wire.peek_call_id(body), refused, wire.peek_serializer_id(body))

    def _pair_state_changed(self, before: str, now_state: str) -> None:
        assert self.pair is not None
        active = self.pair.active
        log.warning("pair: %s now %s (was %s)", self.pair.role, now_state, before)
        self._on_caller = self._from_caller if active else self._from_caller_inactive
        self.announcer.muted = not active
        if active:  # daemons of the old active one come within a heartbeat timeout
            self._takeover.start(time.monotonic() + config.HEARTBEAT_TIMEOUT)
        self.announcer.alive()

    def _rename_leases(self) -> None:
        """The pair's addresses changed (the peer was heard): name every pool anew with them."""
        location = self.lease_location
        self.nameserver.add_lease(NAMESERVER_ID, f"PYRO:{NAMESERVER_ID}@{location}")
        for daemon in self.pools.daemons.values():
            for object_id in daemon.listed:
                tags = daemon.tags.get(object_id, frozenset())
                self.nameserver.add_lease(object_id, f"PYRO:{object_id}@{location}", tags)

    def _pong(self) -> bytes:
        assert self.pair is not None
        return json.dumps({"pair": self.pair.info(time.monotonic())}).encode()

    def _daemon_pong(self, known: bool, now: float) -> dict[str, Any]:
        pong: dict[str, Any] = {"epoch": self.epoch, "known": known}
        if self.pair is not None:  # a daemon on a broker that is not active moves on
            pong["pair"] = self.pair.info(now)
        return pong

    def _held_by_pair(
        self, client: bytes, body: list[bytes], msg: wire.Message, reply: list[Any] | None
    ) -> bool:
        """A name-server call's reply: held until the peer has the change it made; or, just
        after a takeover, a failed lookup or metadata request (of a pool whose daemons have not
        come yet: they bring its name and metadata)."""
        assert self.pair is not None
        now = time.monotonic()
        if self.pair.held(client, reply, now):
            return True
        if reply is not None and msg.method in _WAIT_FOR_DAEMONS and reply[1][:1] == _ERROR:
            return self._takeover.hold(client, body, True, now)
        return False
