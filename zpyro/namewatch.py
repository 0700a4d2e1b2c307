"""NameWatcher: a live copy of the name server's names, kept up to date by the broker's
announcements (docs/BROKER.md, "Announcements")."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import zmq

from . import announce, errors
from .config import config
from .failover import find_active
from .naming import locate_ns, ns_location
from .security import apply_client, server_public
from .sockets import connect, context
from .uri import URI
from .waker import Waker

log = logging.getLogger("zpyro.namewatch")

SnapshotSource = Callable[[], Mapping[str, Any]]
NameEntry = tuple[str, frozenset[str]]

_RECV_BATCH = 256  # announcements taken per poll before the stop flag is looked at again
_RETRY_SECONDS = 0.5  # a failed snapshot is retried this often (not on every announcement)
_HANDSHAKE_WAIT = 1.0  # at most this long for the SUB's handshake before the first snapshot


def _parse_snapshot(snap: Any) -> tuple[int, int, dict[str, NameEntry]]:
    """(epoch, seq, names) from ``ns.snapshot()``; anything malformed raises ProtocolError."""
    try:
        epoch, seq, raw = snap["epoch"], snap["seq"], snap["names"]
        names = {}
        for name, (uri, tags) in raw.items():
            if not isinstance(name, str) or not isinstance(uri, str):
                raise TypeError("names and uris must be str")
            names[name] = (uri, frozenset(str(t) for t in tags))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise errors.ProtocolError(f"malformed name-server snapshot: {exc}") from None
    for what, value in (("epoch", epoch), ("seq", seq)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise errors.ProtocolError(f"malformed name-server snapshot: bad {what} {value!r}")
    return epoch, seq, names


class NameWatcher:
    """A live, local copy of the name server's names (docs/BROKER.md, "Announcements").

    It connects a SUB to the broker's PUB first, *then* takes ``snapshot()``, drops announcements
    the snapshot already covers (``seq <= S``) and applies the next ones in order. A gap, a new
    epoch (broker restarted) or a ``broker.alive`` ahead of what was applied makes it take a new
    snapshot. One thread of its own owns the SUB socket; the copy is read under a lock from any
    thread.

    A broker pair (`host` lists both brokers, see ``locate_ns``): the watcher subscribes to the
    active broker's announcements (each broker tells its announcement address), and when they
    fall silent for ``HEARTBEAT_TIMEOUT`` it finds the active broker again and subscribes there;
    its announcements have a new epoch, so the watcher takes a new snapshot.

    ``snapshot`` replaces the name-server call (a callable returning what ``ns.snapshot()``
    returns), for tests or other sources. ``on_event(announcement)`` is called in the watcher's
    thread for every announcement that is news (not already covered by what the watcher had),
    after the copy has been updated; its exceptions are logged and ignored.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        pub_port: int | None = None,
        *,
        pub_endpoint: str | None = None,
        snapshot: SnapshotSource | None = None,
        on_event: Callable[[announce.Announcement], Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        self._host = host
        self._port = port
        # a broker pair: each broker tells where it publishes (failover.find_active)
        self._pair = None if pub_endpoint else ns_location(host, port).split(",")
        if self._pair is not None and len(self._pair) < 2:
            self._pair = None
        if self._pair is not None and pub_port:
            raise errors.NamingError(
                "pub_port cannot be given for a broker pair: each broker tells its own"
            )
        self.pub_endpoint = pub_endpoint or (
            "" if self._pair else f"tcp://{ns_location(host, pub_port or config.NS_PUB_PORT)}"
        )
        self._last_heard = 0.0  # (a pair) when the active broker's PUB was last heard
        self._snapshot_source = snapshot or self._ask_name_server
        self._on_event = on_event
        self.timeout = timeout or config.CONNECT_TIMEOUT or 5.0
        self._ns: Any = None  # the default source's name-server proxy (watcher thread only)
        self._cond = threading.Condition()
        self._names: dict[str, NameEntry] = {}
        self._epoch: int | None = None
        self._seq = 0
        self._snapshots = 0
        self._stale = True  # no good snapshot yet, or the last try failed
        self._retry_at = 0.0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._waker: Waker | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> NameWatcher:
        """Subscribe and take the first snapshot; raises (NamingError...) when that fails."""
        if self._thread is not None:
            return self
        self._waker = Waker()
        self._thread = threading.Thread(target=self._run, name="zpyro-namewatcher", daemon=True)
        self._thread.start()
        # the first snapshot may take a locate (CONNECT_TIMEOUT) plus the snapshot call itself
        if not self._ready.wait(2 * self.timeout + 1.0):
            self.close()
            raise errors.NamingError(f"no name-server snapshot within {2 * self.timeout:.1f} s")
        if self._start_error is not None:
            error = self._start_error
            self.close()
            raise error
        return self

    def close(self) -> None:
        """Stop the thread and close the socket (idempotent)."""
        self._stop.set()
        thread, waker = self._thread, self._waker
        if waker is not None:
            waker.wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.timeout + 1.0)  # a snapshot call in progress is bounded by timeout
        if waker is not None and (thread is None or not thread.is_alive()):
            waker.close()

    def __enter__(self) -> NameWatcher:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- the copy ---------------------------------------------------------------------------------

    def names(self) -> dict[str, tuple[str, set[str]]]:
        """Name -> (uri, set of metadata tags), as last known."""
        with self._cond:
            return {name: (uri, set(tags)) for name, (uri, tags) in self._names.items()}

    def lookup(self, name: str, return_metadata: bool = False) -> Any:
        """The URI registered as `name` (or ``(URI, tags)``); NamingError when unknown."""
        with self._cond:
            entry = self._names.get(name)
        if entry is None:
            raise errors.NamingError(f"unknown name: {name}")
        return (URI(entry[0]), set(entry[1])) if return_metadata else URI(entry[0])

    def wait_for(
        self, predicate: Callable[[dict[str, tuple[str, set[str]]]], bool], timeout: float
    ) -> bool:
        """Wait until ``predicate(names())`` is true; False when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.names()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @property
    def epoch(self) -> int | None:
        """The broker epoch of the copy (None before the first snapshot)."""
        with self._cond:
            return self._epoch

    @property
    def seq(self) -> int:
        """The last announcement applied (or covered by the snapshot)."""
        with self._cond:
            return self._seq

    @property
    def snapshots(self) -> int:
        """How many snapshots were taken so far (1 after a clean start)."""
        with self._cond:
            return self._snapshots

    # -- the watcher thread -----------------------------------------------------------------------

    def _run(self) -> None:
        assert self._waker is not None
        sub = context().socket(zmq.SUB)
        try:
            sub.linger = 0
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            server_key = server_public()
            if server_key is not None:  # a CURVE broker publishes to CURVE clients only
                apply_client(sub, server_key)
            try:
                if self._pair is not None:
                    self.pub_endpoint = self._active_pub()
                self._connect_sub(sub)  # before the snapshot: nothing after it is missed
                self._take_snapshot()
            except Exception as exc:
                self._start_error = exc
                return
            finally:
                self._ready.set()
            self._loop(sub, self._waker)
        finally:
            sub.close(linger=0)
            if self._ns is not None:
                self._ns._pyroRelease()

    def _connect_sub(self, sub: zmq.Socket[bytes]) -> None:
        """Connect, and wait (bounded) for the handshake: the subscription goes out right after
        it, so announcements made after the snapshot are not lost to the slow-joiner gap. A
        refused connection (nothing listens yet) or the wait running out: go on, a later
        ``broker.alive`` shows what was missed."""
        monitor = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_CONNECT_RETRIED)
        try:
            connect(sub, self.pub_endpoint)
            if monitor.poll(int(min(self.timeout, _HANDSHAKE_WAIT) * 1000)):
                monitor.recv_multipart()
        finally:
            sub.disable_monitor()
            monitor.close(linger=0)

    def _loop(self, sub: zmq.Socket[bytes], waker: Waker) -> None:
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        poller.register(waker.fileno(), zmq.POLLIN)
        self._last_heard = time.monotonic()
        while not self._stop.is_set():
            if self._stale and time.monotonic() >= self._retry_at:
                self._try_snapshot("retrying after a failed snapshot")
            ready = dict(poller.poll(int(_RETRY_SECONDS * 1000)))
            if waker.fileno() in ready:
                waker.drain()
            if self._pair is not None and sub not in ready:
                self._check_silence(sub)
            if sub not in ready:
                continue
            self._last_heard = time.monotonic()
            for _ in range(_RECV_BATCH):
                if self._stop.is_set():
                    break
                try:
                    frames = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    self._on_frames(frames)
                except Exception:  # a bug must not end the watcher: log and go on
                    log.exception("error handling an announcement")

    def _active_pub(self) -> str:
        """A pair: the announcement endpoint of its active broker (asked with a PING)."""
        assert self._pair is not None
        answer, conn = find_active(self._pair, server_public())
        conn.close("asked only where the broker publishes")
        pub = answer.pair.get("pub") if answer.pair else None
        if not isinstance(pub, str) or not pub:
            raise errors.NamingError(f"broker {answer.location} does not say where it publishes")
        return f"tcp://{pub}"

    def _check_silence(self, sub: zmq.Socket[bytes]) -> None:
        """A pair: no announcement (not even broker.alive) for a heartbeat timeout: its broker
        is gone or no longer active. Subscribe to the active one; its epoch makes us re-snapshot."""
        if time.monotonic() - self._last_heard < max(config.HEARTBEAT_TIMEOUT, _RETRY_SECONDS):
            return
        self._last_heard = time.monotonic()  # (whatever happens next: not again before then)
        try:
            pub = self._active_pub()
        except errors.ZPyroError as exc:
            log.warning(
                "announcements from %s stopped; no active broker yet: %s", self.pub_endpoint, exc
            )
            return
        if pub != self.pub_endpoint:
            log.warning("announcements from %s stopped: subscribing to %s", self.pub_endpoint, pub)
            try:
                sub.disconnect(self.pub_endpoint)
            except zmq.ZMQError:
                pass
            self.pub_endpoint = pub
            self._connect_sub(sub)
        self._try_snapshot(f"the active broker publishes on {pub}")

    def _on_frames(self, frames: list[bytes]) -> None:
        try:
            ann = announce.decode(frames)
        except errors.ProtocolError as exc:
            log.warning("malformed announcement ignored: %s", exc)
            return
        with self._cond:
            news = (
                ann.epoch != self._epoch or ann.kind == announce.BROKER_ALIVE or ann.seq > self._seq
            )
        if not self._stale and not self._place(ann):
            self._try_snapshot(self._why(ann))
            if not self._stale:
                self._place(ann)  # the snapshot may end just before it; if not, it is covered
        elif self._stale and time.monotonic() >= self._retry_at:
            self._try_snapshot("retrying after a failed snapshot")
        if news and self._on_event is not None:
            try:
                self._on_event(ann)
            except Exception:
                log.exception("on_event callback raised for %s", ann.kind)

    def _place(self, ann: announce.Announcement) -> bool:
        """Apply `ann` if it is the next one; False when the copy is out of step (snapshot)."""
        with self._cond:
            if ann.epoch != self._epoch:
                return False
            if ann.kind == announce.BROKER_ALIVE:
                return ann.seq <= self._seq
            if ann.seq <= self._seq:
                return True  # already covered by the snapshot or applied before
            if ann.seq != self._seq + 1:
                return False
            if ann.kind == announce.NAME_REGISTERED:
                body = ann.body
                self._names[body["name"]] = (body["uri"], frozenset(body["metadata"]))
            elif ann.kind == announce.NAME_REMOVED:
                self._names.pop(ann.body["name"], None)
            self._seq = ann.seq  # daemon.* change no name but take their number
            self._cond.notify_all()
            return True

    def _why(self, ann: announce.Announcement) -> str:
        with self._cond:
            epoch, seq = self._epoch, self._seq
        if ann.epoch != epoch:
            return f"new epoch {ann.epoch} (was {epoch})"
        return f"{ann.kind} #{ann.seq} after #{seq}"

    def _try_snapshot(self, why: str) -> None:
        log.info("name watcher re-synchronising: %s", why)
        try:
            self._take_snapshot()
        except Exception as exc:
            log.warning("name-server snapshot failed (%s); retrying in %.1f s", exc, _RETRY_SECONDS)

    def _take_snapshot(self) -> None:
        try:
            epoch, seq, names = _parse_snapshot(self._snapshot_source())
        except Exception:
            self._stale = True
            self._retry_at = time.monotonic() + _RETRY_SECONDS
            raise
        with self._cond:
            self._epoch, self._seq, self._names = epoch, seq, names
            self._snapshots += 1
            self._stale = False
            self._cond.notify_all()

    def _ask_name_server(self) -> Mapping[str, Any]:
        """The default snapshot source: the name server at host:port, one proxy reused."""
        if self._ns is None:
            self._ns = locate_ns(self._host, self._port)
            self._ns._pyroTimeout = self.timeout
        try:
            snapshot: Mapping[str, Any] = self._ns.snapshot()
            return snapshot
        except errors.CommunicationError:
            self._ns._pyroRelease()  # a fresh proxy (and locate) next time
            self._ns = None
            raise
