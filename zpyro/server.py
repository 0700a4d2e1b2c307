"""The Daemon: serves registered objects on one ROUTER socket (or, brokered, on a DEALER to a
broker), and ``serve()``, Pyro5's one-liner around it.

The daemon sets things up and keeps what is registered; its request loop
(:mod:`zpyro.requestloop`) owns the sockets and runs the calls, its :class:`Dispatcher` turns
one request into one reply, and ``async def`` methods run on an event loop
(:mod:`zpyro.coroutines`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import zmq

from . import errors
from .brokerlink import BrokerLink
from .client import Proxy
from .config import NO_SIZE_LIMIT, config, size_limit
from .coroutines import Coroutines
from .credit import CreditLedger, window_for
from .daemonobject import DaemonObject
from .dispatch import Dispatcher
from .naming import locate_ns
from .objects import ObjectRegistry
from .requestloop import RequestLoop
from .security import apply_server, server_keys, warn_if_exposed
from .sockets import MAXMSGSIZE_MARGIN, apply_heartbeat, bind, context, tcp_endpoint
from .streams import StreamRegistry
from .uri import URI, endpoint_to_location
from .wire import DAEMON_OBJECT_ID, READY_INSTANCE_MODES

__all__ = ["Daemon", "DaemonObject", "serve"]

BIND_RETRIES = 20  # x 50 ms, for an explicit port still held by a listener being closed


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
        # CURVE (zpyro.security): a key pair makes this daemon accept only CURVE clients
        self._curve_keys = None if broker else server_keys(curve_secret_key)
        self._curve_allowed = curve_allowed_clients
        # 0 means no limit, as in Pyro (None: config MAX_MESSAGE_SIZE)
        self.max_message_size = size_limit(
            config.MAX_MESSAGE_SIZE if max_message_size is None else max_message_size
        )
        accepted = set(
            config.SERIALIZERS_ACCEPTED if serializers_accepted is None else serializers_accepted
        )
        self.registry = ObjectRegistry()
        streams = None
        if config.ITER_STREAMING:
            streams = StreamRegistry(config.ITER_STREAM_LIFETIME, config.ITER_STREAM_LINGER)
        self._coroutines = Coroutines(self._queue_reply)
        self.dispatcher = Dispatcher(
            self.registry,
            accepted,
            config.REQUIRE_EXPOSE,
            self.max_message_size,
            config.OOB_THRESHOLD,
            run_coroutine=self._coroutines.run_blocking,
            make_proxy=self.proxy_for,
            streams=streams,
        )
        self.dispatcher.defer = self._coroutines.defer
        self.dispatcher.compress = config.COMPRESSION
        size = threadpool_size or config.THREADPOOL_SIZE
        self._link: BrokerLink | None = None
        self._listed: set[str] = set()  # brokered: object ids to name in the name server
        self._tags: dict[str, list[str]] = {}
        self._capacity = capacity or size  # calls a broker may give this daemon at once

        def own() -> DaemonObject:
            return DaemonObject(
                lambda object_id: self.dispatcher.metadata(object_id),
                self.registry.ids,
                self._info,
                self.release_client,
                streams,
            )

        if broker:
            # brokered: no listening socket; the DEALER to the broker stands in for the ROUTER
            self._link = BrokerLink(broker, self._describe)
            router = self._link.socket
            self.endpoint = self._link.endpoint
            self.location = self._link.location
            done = self._link.done
            self.dispatcher.quiet_reply = lambda client, msg: done(msg)
            if streams is not None:
                streams.prefix = self._link.route + "/"  # the broker routes stream calls by it
            self.registry.add(own(), f"{DAEMON_OBJECT_ID}:{self._link.route}")
        else:
            router = self._bind(host, port, unixsocket, inproc)
            self.location = endpoint_to_location(self.endpoint)
        self.locationStr = self.location  # Pyro name
        self.registry.add(own(), DAEMON_OBJECT_ID)
        self._closed = False
        # direct: this daemon hands its callers credit for oneway calls (a brokered daemon's
        # broker does that for it, from the DONE messages)
        self._credit: CreditLedger | None = None
        if self._link is None:
            window = window_for(config.ONEWAY_CREDIT, config.DAEMON_MAX_QUEUE)
            self._credit = CreditLedger(window)
            self.dispatcher.credit_window = window
            self.dispatcher.quiet_reply = self._credit.granted
        self._serving = RequestLoop(
            router,
            self.dispatcher,
            self.registry,
            self.max_message_size,
            size,
            self.release_client,
            self._link,
            curve=self._curve_keys is not None,
            credit=self._credit,
            multiplex=config.SERVERTYPE == "multiplex",
        )

    # -- setup ----------------------------------------------------------------------------------

    def _bind(
        self, host: str | None, port: int, unixsocket: str | None, inproc: str | None
    ) -> zmq.Socket[bytes]:
        sock = context().socket(zmq.ROUTER)
        sock.linger = 0
        sock.router_mandatory = 1  # a reply to a vanished client raises instead of vanishing
        apply_heartbeat(sock)
        if self.max_message_size < NO_SIZE_LIMIT:
            # Single frames far over the limit are refused by libzmq itself (it drops the
            # connection, which the proxy reports as ConnectionClosedError); anything up to the
            # limit is received and checked at the front door, with an error reply.
            sock.maxmsgsize = self.max_message_size + MAXMSGSIZE_MARGIN
        if unixsocket:
            endpoint = f"ipc://{unixsocket}"
        elif inproc:
            endpoint = f"inproc://{inproc}"
        else:
            host = host or config.HOST
            endpoint = tcp_endpoint(host, port)
            warn_if_exposed(host, "daemon", self._curve_keys is not None)
        if self._curve_keys is not None:
            apply_server(sock, context(), self._curve_keys, self._curve_allowed)
        try:
            self.endpoint = bind(sock, endpoint, errors.DaemonError, BIND_RETRIES if port else 0)
        except errors.DaemonError:
            sock.close()
            raise
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
        self._serving.update_noting()
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
        self._serving.update_noting()
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
            # the broker keeps a caller's calls to a session-mode object on one daemon
            READY_INSTANCE_MODES: {
                k: v for k, v in self.registry.instance_modes().items() if k in objects
            },
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

    def _info(self) -> str:
        return f"{self.location} - {len(self.registry)} objects"

    @property
    def sockets(self) -> list[Any]:
        """What to poll when the daemon lives in someone else's loop (see `events`): the
        ROUTER (other threads wake the daemon through it), and its monitor while session-mode
        classes are registered; brokered, the DEALER to the broker and a wake-up descriptor."""
        serving = self._serving
        serving.prepare_for_host()
        socks: list[Any] = [serving.router]
        if serving.waker is not None:
            socks.append(serving.waker.fileno())
        if serving.watch is not None:
            socks.append(serving.watch.monitor)
        return socks

    # -- serving --------------------------------------------------------------------------------

    def request_loop(self, loop_condition: Callable[[], bool] = lambda: True) -> None:
        """Serve until shutdown() or until loop_condition() returns False."""
        if self._closed:
            raise errors.DaemonError("daemon is closed")
        self._serving.run(loop_condition)

    requestLoop = request_loop

    def events(self, ready: Any) -> None:
        """Process what is ready without blocking, for a daemon polled by someone else's loop.

        `ready` is the poll result (a dict or list of (socket, event) pairs, or of sockets).
        In this mode every call runs on the worker pool, so the host loop never blocks.
        """
        self._serving.events(ready)

    def release_client(self, client: bytes) -> None:
        """Forget what a departed client held: session instances and open streams."""
        self.registry.drop_session(client)
        if self.dispatcher.streams is not None:
            self.dispatcher.streams.drop_client(client)
        self.dispatcher.client_keys.pop(client, None)
        if self._credit is not None:
            self._credit.forget(client)
        # (the peer watch keeps its fd until the disconnect: a release does not close the
        # connection at once, and a new peer on a reused fd must not be taken for this one)

    def _queue_reply(self, ident: bytes, frames: list[Any]) -> None:
        self._serving.queue_reply(ident, frames)

    # -- stopping -------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the request loop (from any thread, also from inside a served call)."""
        self._serving.shutdown()

    def close(self) -> None:
        """Stop serving and release the socket. Waits (bounded) for the loop to end."""
        if self._closed:
            return
        serving = self._serving
        serving.shutdown()
        serving.wait_stopped()
        self._closed = True
        serving.drain_workers()
        if self.dispatcher.streams is not None:
            self.dispatcher.streams.close_all()
        self._coroutines.close()
        serving.close()

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
