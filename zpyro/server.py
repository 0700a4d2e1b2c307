"""The Daemon: serves registered objects on one ROUTER socket.

How calls are run (leader/followers, see the README's design section):

* One thread at a time owns the sockets (the *I/O owner*). It receives a call and, when the
  method is not known to be slow, runs it right there: no thread hand-off, so a short call costs
  little more than a raw DEALER/ROUTER round trip.
* A *standby* thread watches the owner. If an inline call runs longer than a few milliseconds the
  standby takes the sockets over and goes on serving; the old owner finishes its call, hands the
  reply to the new owner through the reply queue, and retires. Nobody waits behind a long call.
* Methods seen to be slow (or ``async def``) go straight to a bounded worker pool afterwards.
  Workers never touch sockets: they queue the reply and wake the owner (``Waker``).

No thread is tied to a connection: a thousand idle proxies cost a thousand ROUTER peers and nothing
else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import zmq

from . import errors, wire
from .brokerlink import BrokerLink
from .client import Proxy
from .config import config
from .context import current_context
from .dispatch import DAEMON_OBJECT_ID, DEFERRED, Dispatcher, Finish
from .exposure import expose, oneway
from .naming import locate_ns
from .objects import ObjectRegistry
from .peers import PeerWatch
from .security import (
    ROUTE_KEY_MARK,
    apply_server,
    client_key_of,
    server_keys,
    warn_if_exposed,
)
from .sockets import apply_heartbeat, can_read, context, recv_frames, send_frames
from .streams import StreamRegistry
from .uri import URI, endpoint_to_location
from .waker import Waker
from .workers import WorkerPool

log = logging.getLogger("zpyro.server")

WATCH_INTERVAL = 0.005  # standby checks the owner this often; takeover after 1-2 intervals
SLOW_CALL = 0.002  # SLOW_STREAK inline runs in a row longer than this send a method to the pool
SLOW_STREAK = 3
# ...and FAST_STREAK pooled runs in a row shorter than FAST_CALL bring it back inline: a busy
# machine can make a tiny method look slow, and the pool costs it a thread hand-off per call
FAST_CALL = SLOW_CALL / 4
FAST_STREAK = 20
SWEEP_EVERY = 200  # standby intervals between sweeps of abandoned streams (~1 s)
RECV_BATCH = 64  # messages taken from the ROUTER before checking the reply queue again
MAX_QUEUED = 10_000
BIND_RETRIES = 20  # x 50 ms, for an explicit port still held by a listener being closed  # calls waiting for a worker before the daemon answers "busy"

_LOST = object()  # _serve's result when another thread took the sockets over


@expose
class DaemonObject:
    """The daemon's own object (``Pyro.Daemon``): liveness and metadata for proxies."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def ping(self) -> None:
        pass

    def registered(self) -> list[str]:
        return self._daemon.registry.ids()

    def get_metadata(self, objectId: str) -> dict[str, Any]:  # noqa: N803 - Pyro's name
        return self._daemon.dispatcher.metadata(objectId)

    def info(self) -> str:
        return f"{self._daemon.location} - {len(self._daemon.registry)} objects"

    def stream_next(self, stream_id: str) -> list[Any]:
        """The next chunk of a remote iterator: [items, finished, error]."""
        streams = self._daemon.dispatcher.streams
        if streams is None:
            raise errors.DaemonError("streaming is off in this daemon")
        return streams.next_chunk(stream_id, current_context.client)

    @oneway
    def stream_close(self, stream_id: str) -> None:
        streams = self._daemon.dispatcher.streams
        if streams is not None:
            streams.close(stream_id)

    @oneway
    def release_session(self) -> None:
        """The calling proxy is gone: drop its session instances and streams."""
        self._daemon.release_client(current_context.client)


class Daemon:
    """Serves objects to proxies. Binds tcp (default), ipc (``unixsocket``) or inproc."""

    def __init__(
        self,
        host: str | None = None,
        port: int = 0,
        unixsocket: str | None = None,
        inproc: str | None = None,
        serializers_accepted: set[str] | frozenset[str] | None = None,
        max_message_size: int | None = None,
        threadpool_size: int | None = None,
        broker: str | bool | None = None,
        capacity: int | None = None,
        curve_secret_key: str | None = None,
        curve_allowed_clients: str | None = None,
    ) -> None:
        self._ctx = context()
        # CURVE (zpyro.security): a key pair makes this daemon accept only CURVE clients
        self._curve_keys = None if broker else server_keys(curve_secret_key)
        self._curve_allowed = curve_allowed_clients
        self.max_message_size = max_message_size or config.MAX_MESSAGE_SIZE
        accepted = serializers_accepted or config.SERIALIZERS_ACCEPTED
        self.registry = ObjectRegistry()
        streams = None
        if config.ITER_STREAMING:
            streams = StreamRegistry(config.ITER_STREAM_LIFETIME, config.ITER_STREAM_LINGER)
        self.dispatcher = Dispatcher(
            self.registry,
            accepted,
            config.REQUIRE_EXPOSE,
            self.max_message_size,
            config.OOB_THRESHOLD,
            run_coroutine=self._run_coroutine_blocking,
            make_proxy=self.proxy_for,
            streams=streams,
        )
        self.dispatcher.defer = self._defer
        self._loop: asyncio.AbstractEventLoop | None = None  # runs async def methods
        self._loop_thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()
        size = threadpool_size or config.THREADPOOL_SIZE
        self._link: BrokerLink | None = None
        self._listed: set[str] = set()  # brokered: object ids to name in the name server
        self._tags: dict[str, list[str]] = {}
        self._capacity = capacity or size  # calls a broker may give this daemon at once
        if broker:
            # brokered: no listening socket; the DEALER to the broker stands in for the ROUTER
            self._link = BrokerLink(broker, self._describe)
            self._router = self._link.socket
            self.endpoint = self._link.endpoint
            self.location = self._link.location
            self.dispatcher.quiet_reply = self._link.done
            if streams is not None:
                streams.prefix = self._link.route + "/"  # the broker routes stream calls by it
            self.registry.add(DaemonObject(self), f"{DAEMON_OBJECT_ID}:{self._link.route}")
        else:
            self._router = self._bind(host, port, unixsocket, inproc)
            self.location = endpoint_to_location(self.endpoint)
        self.locationStr = self.location  # Pyro name
        self.registry.add(DaemonObject(self), DAEMON_OBJECT_ID)

        self._mutex = threading.Lock()
        self._owner: int | None = None  # ident of the thread owning the sockets
        self._inline_seq = 0
        self._inline_active = False
        self._taken_over = 0  # inline calls still running after a takeover
        # (object id, method) -> run on the worker pool? Learned: slow or async methods say yes.
        self._to_pool: dict[tuple[str, str], bool] = {}
        self._slow_streak: dict[tuple[str, str], int] = {}
        self._fast_streak: dict[tuple[str, str], int] = {}  # of methods learned slow
        self._outbox: deque[list[Any]] = deque()  # replies from other threads: [ident, *frames]
        self._waker = Waker()
        self._stop = threading.Event()
        self._loop_done = threading.Event()
        self._loop_done.set()
        self._loop_condition: Callable[[], bool] = lambda: True
        self._closed = False
        self._max_threads = size
        self._pool = WorkerPool(config.THREADPOOL_SIZE_MIN, size, MAX_QUEUED, "zpyro-daemon")
        self._poller = zmq.Poller()
        self._poller.register(self._router, zmq.POLLIN)
        self._poller.register(self._waker.fileno(), zmq.POLLIN)
        # a direct daemon watches its clients' connections, to drop the sessions of the gone
        self._watch = PeerWatch(self._router) if self._link is None else None
        if self._watch is not None:
            self._poller.register(self._watch.monitor, zmq.POLLIN)
        self._noting = False
        self._update_noting()

    # -- setup ----------------------------------------------------------------------------------

    def _bind(
        self, host: str | None, port: int, unixsocket: str | None, inproc: str | None
    ) -> zmq.Socket:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.linger = 0
        sock.router_mandatory = 1  # a reply to a vanished client raises instead of vanishing
        apply_heartbeat(sock)
        if self.max_message_size < 2**62:
            # Single frames far over the limit are refused by libzmq itself (it drops the
            # connection, which the proxy reports as ConnectionClosedError); anything up to the
            # limit is received and checked below, with an error reply.
            sock.maxmsgsize = self.max_message_size + 65536
        if unixsocket:
            endpoint = f"ipc://{unixsocket}"
        elif inproc:
            endpoint = f"inproc://{inproc}"
        else:
            host = host or config.HOST
            if ":" in host:
                sock.ipv6 = 1
                host = f"[{host}]"
            endpoint = f"tcp://{host}:{port or '*'}"
        if self._curve_keys is not None:
            apply_server(sock, self._ctx, self._curve_keys, self._curve_allowed)
        if host is not None and not unixsocket and not inproc:
            warn_if_exposed(host, "daemon", self._curve_keys is not None)
        for attempt in range(BIND_RETRIES + 1):
            try:
                sock.bind(endpoint)
                break
            except zmq.ZMQError as exc:
                # libzmq closes a listener asynchronously: a port that a daemon of this same
                # process just closed can stay busy for a moment
                if exc.errno == zmq.EADDRINUSE and port and attempt < BIND_RETRIES:
                    time.sleep(0.05)
                    continue
                sock.close()
                raise errors.DaemonError(f"cannot bind {endpoint}: {exc}") from None
        bound = sock.last_endpoint.decode()
        if not unixsocket and not inproc:
            # keep the name the user gave (localhost), with the port the OS picked
            bound = endpoint.rsplit(":", 1)[0] + ":" + bound.rsplit(":", 1)[1]
        self.endpoint = bound
        return sock

    # -- registering ----------------------------------------------------------------------------

    def register(
        self,
        obj: Any,
        objectId: str | None = None,  # noqa: N803
        force: bool = False,
        metadata: Any = None,
    ) -> URI:
        """Serve an object (or a class, with its instance mode); returns its URI.

        Brokered: an explicit `objectId` is also named in the broker's name server (with the
        `metadata` tags), and several daemons registering it form a pool.
        """
        if self._closed:
            raise errors.DaemonError("daemon is closed")
        object_id = self.registry.add(obj, objectId, force)
        self._update_noting()
        if self._link is not None:
            if objectId is not None:
                self._listed.add(object_id)
            if metadata is not None:
                self._tags[object_id] = sorted(metadata)
            self._queue_reply(b"", self._link.ready()[1:])
        return self.uri_for(object_id)

    def unregister(self, objectOrId: Any) -> None:  # noqa: N803
        if objectOrId == DAEMON_OBJECT_ID:
            return
        self.registry.remove(objectOrId)
        self._update_noting()
        if self._link is not None:
            self._queue_reply(b"", self._link.ready()[1:])

    def wait_attached(self, timeout: float | None = None) -> bool:
        """Brokered: wait until the broker has taken this daemon's objects (True), or time out.

        The request loop must be running (it is what talks to the broker)."""
        if self._link is None:
            raise errors.DaemonError("this daemon is not brokered")
        return self._link.attached.wait(timeout)

    def _describe(self) -> dict[str, Any]:
        """The READY payload of a brokered daemon: its objects and how many calls it can run."""
        objects = {}
        for object_id in self.registry.ids():
            if object_id.startswith(DAEMON_OBJECT_ID):
                continue
            try:
                objects[object_id] = self.dispatcher.metadata(object_id)
            except errors.DaemonError:  # unregistered meanwhile
                continue
        return {
            "capacity": self._capacity,
            "objects": objects,
            "listed": sorted(self._listed & objects.keys()),
            "tags": {k: v for k, v in self._tags.items() if k in objects},
            "pid": os.getpid(),
        }

    def uri_for(self, objectOrId: Any) -> URI:  # noqa: N803
        object_id = objectOrId if isinstance(objectOrId, str) else self.registry.id_of(objectOrId)
        if object_id is None:
            raise errors.DaemonError("object is not registered in this daemon")
        return URI(f"PYRO:{object_id}@{self.location}")

    uriFor = uri_for

    def proxy_for(self, objectOrId: Any) -> Proxy:  # noqa: N803
        return Proxy(self.uri_for(objectOrId))

    proxyFor = proxy_for

    @property
    def sockets(self) -> list[Any]:
        """What to poll when the daemon lives in someone else's loop (see `events`)."""
        socks = [self._router, self._waker.fileno()]
        return socks if self._watch is None else [*socks, self._watch.monitor]

    # -- the request loop -----------------------------------------------------------------------

    def request_loop(self, loop_condition: Callable[[], bool] = lambda: True) -> None:
        """Serve until shutdown() or until loop_condition() returns False."""
        me = threading.get_ident()
        with self._mutex:
            if self._closed:
                raise errors.DaemonError("daemon is closed")
            if self._owner is not None:
                raise errors.DaemonError("the request loop is already running")
            self._owner = me
            self._loop_done.clear()
            self._stop.clear()
            self._loop_condition = loop_condition
        self._start_standby()
        if self._serve(me) is _LOST:
            # another thread serves now; this one (the user's) waits for the loop's end
            self._loop_done.wait()

    requestLoop = request_loop

    def _serve(self, me: int) -> object:
        """The owner's loop. Returns _LOST when the sockets were taken over, else None."""
        poll_ms = timeout = int(config.POLL_TIMEOUT * 1000)
        link = self._link
        try:
            while not self._stop.is_set():
                if not self._loop_condition():
                    break
                if link is not None:  # wake in time for the next heartbeat
                    self._heartbeat(link)
                    timeout = min(poll_ms, int(link.wait * 1000) + 1)
                ready = dict(self._poller.poll(timeout))
                if self._watch is not None and self._watch.monitor in ready:
                    self._peers_gone()
                if self._outbox or self._waker.fileno() in ready:
                    self._waker.drain()
                    self._send_outbox()
                if self._router in ready:
                    router = self._router
                    for _ in range(RECV_BATCH):
                        if not can_read(router):
                            break
                        frames = (
                            self._recv_noted(router)
                            if self._noting
                            else recv_frames(router, zmq.NOBLOCK)
                        )
                        if self._process(frames, me) is _LOST:
                            return _LOST
        except Exception:  # pragma: no cover - a bug; log it loudly rather than die silently
            log.exception("daemon request loop failed")
        with self._mutex:
            self._owner = None
            self._stop.set()
        self._send_outbox()
        self._loop_done.set()
        return None

    def _process(self, frames: list[bytes], me: int, pooled: bool = False) -> object:
        """Handle one incoming message; inline, or via the pool when `pooled` or slow."""
        ident, body = frames[0], frames[1:]
        if self._link is not None:
            if not ident:  # from the broker itself
                answer = self._link.on_control(body)
                if answer is not None:
                    self._reply(b"", answer[1:])
                return None
            if self._link.secure and ident[:1] == ROUTE_KEY_MARK:  # the caller's CURVE key
                self.dispatcher.remember_key(ident, ident[1:41])
        if sum(map(len, body)) > self.max_message_size:  # received frames are bytes
            exc = errors.MessageTooLargeError(
                f"message of {wire.message_size(body)} bytes exceeds this daemon's "
                f"MAX_MESSAGE_SIZE of {self.max_message_size}"
            )
            log.warning("refused message from %s: %s", ident.hex(), exc)
            self._reply(ident, self.dispatcher.error_reply(wire.peek_call_id(body), exc))
            return None
        try:
            msg = wire.decode(body)
        except errors.ProtocolError as exc:
            log.warning("bad message from %s: %s", ident.hex(), exc)
            self._reply(ident, self.dispatcher.error_reply(wire.peek_call_id(body), exc))
            return None
        if msg.kind == wire.PING:
            self._reply(ident, wire.encode(wire.PONG, 0, 0, msg.call_id, "", ""))
            return None
        if msg.kind != wire.CALL:
            wrong = errors.ProtocolError(f"unexpected message kind {msg.kind} sent to a daemon")
            log.warning("bad message from %s: %s", ident.hex(), wrong)
            self._reply(ident, self.dispatcher.error_reply(msg.call_id, wrong))
            return None
        key = (msg.object_id, msg.method)
        if pooled and msg.object_id == DAEMON_OBJECT_ID:  # cheap: answer right here
            reply = self._handle(ident, msg)
            if reply is not None:
                self._reply(ident, reply)
            return None
        pool = self._to_pool.get(key)
        if pool is None:  # first call of this method: async def methods always go to the pool
            pool = self._to_pool[key] = self.dispatcher.is_coroutine(*key)
        if pooled or pool:
            if not self._pool.submit(self._run_pooled, ident, msg, not pooled):
                busy = errors.DaemonError("daemon busy: too many calls waiting for a worker")
                self._reply(
                    ident, self.dispatcher.error_reply(msg.call_id, busy, msg.serializer_id)
                )
            return None
        return self._run_inline(ident, msg, key, me)

    def _run_inline(self, ident: bytes, msg: wire.Message, key: tuple[str, str], me: int) -> object:
        # only this thread writes these two; the standby reads them under the mutex and a stale
        # read just postpones a takeover by one interval
        self._inline_seq += 1
        self._inline_active = True
        started = time.perf_counter()
        try:
            reply = self._handle(ident, msg)
        finally:
            with self._mutex:
                still_owner = self._owner == me
                if still_owner:
                    self._inline_active = False
                else:  # the flag is the new owner's now (its own inline call may be running)
                    self._taken_over -= 1
        self._learn(key, time.perf_counter() - started, taken_over=not still_owner)
        if still_owner:
            if reply is not None:
                self._reply(ident, reply)
            return None
        if reply is not None:
            self._queue_reply(ident, reply)
        return _LOST

    def _learn(self, key: tuple[str, str], seconds: float, taken_over: bool) -> None:
        """Send a method to the pool once it has shown itself slow.

        A takeover is proof. Otherwise it takes SLOW_STREAK slow runs in a row: one long wall
        time may just be this process being descheduled on a busy machine.
        """
        if key[0] == DAEMON_OBJECT_ID:
            return
        if taken_over:
            self._to_pool[key] = True
        elif seconds > SLOW_CALL:
            streak = self._slow_streak.get(key, 0) + 1
            self._slow_streak[key] = streak
            if streak >= SLOW_STREAK:
                self._to_pool[key] = True
        elif key in self._slow_streak:
            del self._slow_streak[key]

    def _run_pooled(self, ident: bytes, msg: wire.Message, learn: bool = False) -> None:
        started = time.perf_counter()
        reply = self._handle(ident, msg)
        if learn:
            self._unlearn((msg.object_id, msg.method), time.perf_counter() - started)
        if reply is not None:
            self._queue_reply(ident, reply)

    def _unlearn(self, key: tuple[str, str], seconds: float) -> None:
        """Bring a method learned slow back inline once it has run fast FAST_STREAK times in a
        row (in worker threads: the counts may be off by one, which does no harm)."""
        if seconds >= FAST_CALL:
            self._fast_streak.pop(key, None)
            return
        streak = self._fast_streak.get(key, 0) + 1
        self._fast_streak[key] = streak
        if streak >= FAST_STREAK:
            self._fast_streak.pop(key, None)
            if not self.dispatcher.is_coroutine(*key):  # async def methods stay in the pool
                self._slow_streak.pop(key, None)
                self._to_pool[key] = False

    def _handle(self, ident: bytes, msg: wire.Message) -> list[Any] | None:
        reply = self.dispatcher.handle(ident, msg)
        return None if reply is DEFERRED else reply  # type: ignore[return-value]

    # -- async def methods: on an event loop the daemon owns ------------------------------------

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                    loop.close()

                self._loop_thread = threading.Thread(
                    target=run, name="zpyro-daemon-aio", daemon=True
                )
                self._loop_thread.start()
                ready.wait(5.0)
                self._loop = loop
            return self._loop

    def _defer(self, ident: bytes, coro: Any, finish: Finish) -> None:
        """Run a served coroutine on the daemon's loop; its reply goes out when it is done."""

        def done(future: Any) -> None:
            try:
                result, error = future.result(), None
            except BaseException as exc:
                result, error = None, exc
            reply = finish(result, error)
            if reply is not None:
                self._queue_reply(ident, reply)

        asyncio.run_coroutine_threadsafe(coro, self._event_loop()).add_done_callback(done)

    def _run_coroutine_blocking(self, coro: Any) -> Any:
        """For the rare coroutine that must finish in place (inside a batch)."""
        return asyncio.run_coroutine_threadsafe(coro, self._event_loop()).result()

    def release_client(self, client: bytes) -> None:
        """Forget what a departed client held: session instances and open streams."""
        self.registry.drop_session(client)
        if self.dispatcher.streams is not None:
            self.dispatcher.streams.drop_client(client)
        self.dispatcher.client_keys.pop(client, None)
        # (the peer watch keeps its fd until the disconnect: a release does not close the
        # connection at once, and a new peer on a reused fd must not be taken for this one)

    # -- standby: takes the sockets over from an owner stuck in a long call ---------------------

    def _start_standby(self) -> None:
        threading.Thread(target=self._standby, name="zpyro-daemon-standby", daemon=True).start()

    def _standby(self) -> None:
        me = threading.get_ident()
        seen = -1
        sweeps = 0
        while not self._stop.wait(WATCH_INTERVAL):
            sweeps += 1
            if sweeps % SWEEP_EVERY == 0 and self.dispatcher.streams is not None:
                self.dispatcher.streams.sweep()  # abandoned remote iterators
            with self._mutex:
                if self._owner is None:
                    return
                if not self._inline_active:
                    seen = -1
                    continue
                if seen != self._inline_seq:
                    seen = self._inline_seq
                    continue
                if self._taken_over >= self._max_threads:
                    continue  # every thread is busy in a long call: the pool is exhausted
                self._owner = me
                self._inline_active = False
                self._taken_over += 1
            # this thread serves now; a fresh standby watches it
            self._start_standby()
            self._serve(me)
            return

    # -- sending ----------------------------------------------------------------------------------

    def _reply(self, ident: bytes, frames: list[Any]) -> None:
        """Send on the ROUTER (owner thread only)."""
        try:
            if len(frames) <= 3:  # our own small frames: the lean path
                send_frames(self._router, [ident, *frames])
            else:  # out-of-band buffers: checked, sent without a copy
                self._router.send_multipart([ident, *frames], copy=False)
        except zmq.ZMQError as exc:
            # ROUTER_MANDATORY: the client went away; nobody is left to tell
            log.info("reply to departed client %s dropped: %s", ident.hex(), exc)

    def _queue_reply(self, ident: bytes, frames: list[Any]) -> None:
        """Hand a reply to the owner thread (any thread)."""
        self._outbox.append([ident, *frames])
        self._waker.wake()

    def _send_outbox(self) -> None:
        outbox = self._outbox
        while outbox:
            try:
                item = outbox.popleft()
            except IndexError:
                break
            self._reply(item[0], item[1:])

    def _recv_noted(self, router: zmq.Socket) -> list[bytes]:
        """Receive one message, noting facts only its frames tell: the caller's CURVE public
        key (for current_context) and the connection it came on (to see it go)."""
        frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
        data = [f.bytes for f in frames]
        if self._curve_keys is not None:
            key = client_key_of(frames[-1])
            if key is not None:
                self.dispatcher.remember_key(data[0], key)
        if self._watch is not None and self.registry.has_sessions:
            for peer in self._watch.note(data[0], frames[-1]):
                self.release_client(peer)
        return data

    def _peers_gone(self) -> None:
        """Owner thread: release what clients that disconnected without goodbye held."""
        assert self._watch is not None
        for peer in self._watch.gone():
            log.debug("client %s went away: releasing its sessions and streams", peer.hex())
            self.release_client(peer)

    def _update_noting(self) -> None:
        self._noting = self._curve_keys is not None or (
            self._watch is not None and self.registry.has_sessions
        )

    def _heartbeat(self, link: BrokerLink) -> None:
        """Owner thread only: PING the broker when due (it answers with its epoch)."""
        ping = link.tick(time.monotonic())
        if ping is not None:
            self._reply(b"", ping[1:])

    # -- event-loop integration -----------------------------------------------------------------

    def events(self, ready: Any) -> None:
        """Process what is ready without blocking, for a daemon polled by someone else's loop.

        `ready` is the poll result (a dict or list of (socket, event) pairs, or of sockets).
        In this mode every call runs on the worker pool, so the host loop never blocks.
        """
        items = ready.keys() if isinstance(ready, dict) else ready
        socks = {item[0] if isinstance(item, tuple) else item for item in items}
        if self._link is not None:
            self._heartbeat(self._link)
        if self._waker.fileno() in socks:
            self._waker.drain()
        if self._watch is not None:
            # drained at every turn, even when the host loop does not poll the monitor: an
            # unread monitor that fills up blocks libzmq's I/O thread (every socket stalls)
            self._peers_gone()
        self._send_outbox()
        if self._router in socks:
            router = self._router
            for _ in range(RECV_BATCH):
                if not can_read(router):
                    break
                frames = (
                    self._recv_noted(router) if self._noting else router.recv_multipart(zmq.NOBLOCK)
                )
                self._process(frames, -1, pooled=True)

    # -- stopping -------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the request loop (from any thread, also from inside a served call)."""
        self._stop.set()
        if not self._waker.closed:
            self._waker.wake()

    def close(self) -> None:
        """Stop serving and release the socket. Waits (bounded) for the loop to end."""
        if self._closed:
            return
        self.shutdown()
        if threading.get_ident() != self._owner:
            self._loop_done.wait(5.0)
        self._closed = True
        self._pool.shutdown(timeout=2.0)
        if self.dispatcher.streams is not None:
            self.dispatcher.streams.close_all()
        if self._loop is not None and self._loop_thread is not None:  # only a loop we own
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(2.0)
        self._send_outbox_if_idle()
        if self._link is not None:
            self._link.close(bye=self._owner is None)
        else:
            if self._watch is not None:
                self._watch.close()
            self._router.close(linger=0)
        self._waker.close()

    def _send_outbox_if_idle(self) -> None:
        if self._owner is None:
            self._send_outbox()

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<zpyro.Daemon at {self.location}, {len(self.registry)} objects>"


def serve(
    objects: dict[Any, str | None],
    host: str | None = None,
    port: int = 0,
    daemon: Daemon | None = None,
    use_ns: bool = True,
    verbose: bool = True,
    metadata: Iterable[str] | None = None,
) -> None:
    """Register `objects` ({object or class: name or None}) and serve them until shut down.

    With `use_ns`, named objects are also registered in the name server (found with
    locate_ns()). Like Pyro5's ``serve()``.
    """
    daemon = daemon or Daemon(host=host, port=port)
    with daemon:
        ns = locate_ns() if use_ns else None
        for obj, name in objects.items():
            uri = daemon.register(obj, name)
            if ns is not None and name and daemon._link is None:
                ns.register(name, uri, metadata=set(metadata or ()))
            if verbose:
                print(
                    f"Object {obj!r}:\n    uri = {uri}" + (f"\n    name = {name}" if name else "")
                )
        if verbose:
            print("zpyro daemon running.")
        daemon.request_loop()
