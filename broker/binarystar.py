"""The Binary Star state machine of a broker pair (zguide ch. 4). Pure: no sockets, no clock.

Two brokers, a *primary* and a *backup*, tell each other their state every heartbeat on their
own link; exactly one of them is *active* (serves calls), the other *passive* (refuses calls,
naming the active one). Time is passed in (``now``), so every rule is tested with a fake clock.

States: ``primary`` / ``backup`` (just started, waiting to hear the peer), ``active``,
``passive``. Events: the peer's state (a heartbeat), a client request, and time.

The rule that keeps the pair from having two active brokers: a broker that is not active
becomes active on a *client request* only once it has not heard its peer for ``timeout``
seconds. Losing the peer alone never makes a broker active: when only the link between the two
is cut, clients still reach the active broker and never ask the passive one (they look for the
active one first, docs/BROKER.md), so the passive one stays passive.

Departures from zguide's bstar, each for a reason:

* A backup started alone takes over on a client request once it has waited ``timeout`` for its
  peer (zguide's waits for ever): a backup restarted while the primary is down must serve.
* Two active brokers (a partition healed after clients reached both sides) is not fatal: the
  backup steps down to passive (zguide aborts the process). The names both sides registered
  meanwhile are merged by the pair's sync (``broker/replica.py``).
* Two passive brokers (both lost track of who was active): the primary becomes active.
"""

from __future__ import annotations

from zpyro.wire import PAIR_ACTIVE, PAIR_BACKUP, PAIR_PASSIVE, PAIR_PRIMARY

__all__ = ["ROLES", "STATES", "PRIMARY", "BACKUP", "ACTIVE", "PASSIVE", "BinaryStar"]

PRIMARY, BACKUP = PAIR_PRIMARY, PAIR_BACKUP  # roles; also the states of one waiting for its peer
ACTIVE, PASSIVE = PAIR_ACTIVE, PAIR_PASSIVE
ROLES = (PRIMARY, BACKUP)
STATES = (PRIMARY, BACKUP, ACTIVE, PASSIVE)


class BinaryStar:
    """One broker's view of the pair: its state, and when its peer was last heard."""

    def __init__(self, role: str, timeout: float, now: float) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be {PRIMARY!r} or {BACKUP!r}, not {role!r}")
        if timeout <= 0:
            raise ValueError(f"the peer timeout must be > 0, not {timeout!r}")
        self.role = role
        self.state = role  # waiting for the peer
        self.timeout = timeout
        # at start the peer gets a full timeout to show up before a client may make us active
        self.peer_expiry = now + timeout
        self.peer_state: str | None = None  # last heard; None: never heard since our start
        self.peer_lost = True  # not heard within timeout (or never)

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    def peer_alive(self, now: float) -> bool:
        return self.peer_state is not None and now < self.peer_expiry

    def on_peer(self, peer_state: str, now: float) -> str | None:
        """The peer's heartbeat said `peer_state`; the new state if ours changed, else None."""
        if peer_state not in STATES:
            raise ValueError(f"unknown peer state {peer_state!r}")
        self.peer_state = peer_state
        self.peer_expiry = now + self.timeout
        self.peer_lost = False
        before = self.state
        if self.state in (PRIMARY, BACKUP):
            self.state = self._waiting(peer_state)
        elif self.state == ACTIVE:
            if peer_state == ACTIVE and self.role == BACKUP:
                self.state = PASSIVE  # two actives (a healed partition): the backup steps down
        elif peer_state in (PRIMARY, BACKUP):
            self.state = ACTIVE  # passive, and the peer restarts: it will come back passive
        elif peer_state == PASSIVE and self.role == PRIMARY:
            self.state = ACTIVE  # two passives: someone must serve, and it is the primary
        return self.state if self.state != before else None

    def _waiting(self, peer_state: str) -> str:
        """Our next state while we wait, the peer being in `peer_state`."""
        if peer_state == ACTIVE:
            return PASSIVE  # the peer serves: we come (back) as passive
        if self.role == PRIMARY and peer_state == BACKUP:
            return ACTIVE  # both just started: the primary serves
        # a passive peer takes over when it hears we restart; the primary waits for us: stay
        return self.state

    def peer_left(self, now: float) -> None:
        """The peer said it is stopping: it is lost now, not a timeout later."""
        self.peer_expiry = min(self.peer_expiry, now)

    def on_client(self, now: float) -> bool:
        """A client request arrived: True when this broker serves it (it may become active now)."""
        if self.state == ACTIVE:
            return True
        if now >= self.peer_expiry:  # the peer is lost (or never came): take over
            self.state = ACTIVE
            return True
        return False

    def tick(self, now: float) -> bool:
        """Time passes: True exactly when the peer has just been lost (not heard for timeout)."""
        if self.peer_lost or now < self.peer_expiry:
            return False
        self.peer_lost = True
        return True
