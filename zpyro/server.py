"""The Daemon: serves registered objects on one ROUTER socket (or, brokered, on a DEALER to a
broker); ``serve()`` and ``Daemon.serveSimple()``, Pyro's one-liners around it.

The daemon sets things up and keeps what is registered; its request loop
(:mod:`zpyro.requestloop`) owns the sockets and runs the calls, its :class:`Dispatcher` turns
one request into one reply, and ``async def`` methods run on an event loop
(:mod:`zpyro.coroutines`). Pyro's hooks and spellings are in :mod:`zpyro.pyrodaemon`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import zmq

from . import errors
from .brokerlink import BrokerLink
from .client import Proxy
from .clients import Clients
from .config import NO_SIZE_LIMIT, config, size_limit
from .coroutines import Coroutines
from .credit import CreditLedger, window_for
from .daemonobject import DaemonObject
from .dispatch import Dispatcher
from .naming import locate_ns
from .objects import ObjectRegistry
from .pyrodaemon import PyroDaemonAPI, idle_limit, nat_address
from .requestloop import RequestLoop
from .security import apply_server, server_keys, warn_if_exposed
from .socketpump import DaemonPump
from .sockets import MAXMSGSIZE_MARGIN, apply_heartbeat, bind, context, tcp_endpoint
from .streams import StreamRegistry
from .uri import URI, endpoint_to_location, host_port, ipc_endpoint
from .wire import DAEMON_OBJECT_ID, READY_INSTANCE_MODES

__all__ = ["Daemon", "DaemonObject", "serve"]


BIND_RETRIES = 20  # x 50 ms, for an explicit port still held by a listener being closed


class Daemon(PyroDaemonAPI):
    """Serves objects to proxies. Binds tcp (default), ipc (``unixsocket``) or inproc.

    The first seven parameters are Pyro's, in Pyro's order.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int = 0,
        unixsocket: str | None = None,
        nathost: str | None = None,
        natport: int | None = None,
        interface: type[DaemonObject] | None = None,
        connected_socket: Any = None,
        *,
        inproc: str | None = None,
        serializers_accepted: set[str] | frozenset[str] | None = None,
        max_message_size: int | None = None,
        threadpool_size: int | None = None,
        broker: str | bool | None = None,
        capacity: int | None = None,
        curve_secret_key: str | None = None,
        curve_allowed_clients: str | None = None,
    ) -> None:
        if interface is not None and not (
            isinstance(interface, type) and issubclass(interface, DaemonObject)
        ):
            raise TypeError(
                "Daemon(interface=...) takes a subclass of zpyro.core.DaemonObject (Pyro.Daemon "
                "carries zpyro's protocol: metadata, streams, sessions)"
            )
        nathost, natport = nat_address(
            nathost, natport, unixsocket, inproc, broker, connected_socket
        )
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
        # Pyro's hooks, wired only where a subclass replaced them
        gated = self.overridden("validateHandshake")
        self.dispatcher.gated = gated
        self.dispatcher.clients = Clients(
            self._address,
            self.clientDisconnect if self.overridden("clientDisconnect") else None,
            gated,
        )
        if self.overridden("annotations"):
            self.dispatcher.annotations = self.annotations
        size = threadpool_size or config.THREADPOOL_SIZE
        self._link: BrokerLink | None = None
        self._pump: DaemonPump | None = None
        self._listed: set[str] = set()  # brokered: object ids to name in the name server
        self._tags: dict[str, list[str]] = {}
        self._capacity = capacity or size  # calls a broker may give this daemon at once
        self._combined: list[Daemon] = []
        own_class = interface or DaemonObject

        def own() -> DaemonObject:
            return own_class(
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
        elif connected_socket is not None:
            # one connection made by someone else (a socket pair, an inherited socket): a pump
            # carries its bytes to and from a private endpoint of our ROUTER
            self._pump = DaemonPump(connected_socket)
            router = self._bind(None, 0, self._pump.path, None)
            self.location = endpoint_to_location(self.endpoint)
        else:
            router = self._bind(host, port, unixsocket, inproc)
            self.location = endpoint_to_location(self.endpoint)
        self.locationStr = self.location  # Pyro names
        self.natLocationStr: str | None = None
        if nathost:
            bound_port = self.location.rsplit(":", 1)[1]
            self.natLocationStr = host_port(nathost, natport or bound_port)
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
            validate=self.validateHandshake if gated else None,
            housekeeping=self.housekeeping if self.overridden("housekeeping") else None,
            idle_limit=idle_limit(broker, inproc),
            credit=self._credit,
            multiplex=config.SERVERTYPE == "multiplex",
        )
        if self._pump is not None:
            self._pump.start(self.endpoint, self.shutdown)

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
            endpoint = ipc_endpoint(unixsocket)
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

    def _address(self, peer: bytes) -> Any:
        return self._serving.address(peer)

    # -- registering ----------------------------------------------------------------------------

    def register(
        self,
        obj: Any,
        objectId: str | None = None,  # noqa: N803
        force: bool = False,
        weak: bool = False,
        metadata: Any = None,
    ) -> URI:
        """Serve an object (or a class, with its instance mode); returns its URI.

        The object (or class) gets Pyro's ``_pyroId`` and ``_pyroDaemon`` attributes. `weak`
        (Pyro5): keep only a weak reference; the object is unregistered when collected.
        Brokered: an explicit `objectId` is also named in the broker's name server (with the
        `metadata` tags), and several daemons registering it form a pool.
        """
        if self._closed:
            raise errors.DaemonError("daemon is closed")
        object_id = self.registry.add(obj, objectId, force, weak)
        self._serving.update_noting()  # (a session-mode class: the peer watch starts)
        try:  # Pyro's idioms: self._pyroDaemon.register(...), self._pyroId
            obj._pyroId = object_id
            obj._pyroDaemon = self
        except (AttributeError, TypeError):  # __slots__, builtins: served all the same
            pass
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
        removed = self.registry.remove(objectOrId)
        self._serving.update_noting()
        if removed is not None:
            self.forget_pyro_attributes(removed[1])
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

    def uri_for(self, objectOrId: Any, nat: bool = True) -> URI:  # noqa: N803
        """The URI of a registered object (or of an object id). With NAT (``nathost``), the
        advertised address unless `nat` is False."""
        if isinstance(objectOrId, str):
            object_id: str | None = objectOrId
        else:
            object_id = self.registry.id_of(objectOrId)
        if object_id is None:
            raise errors.DaemonError("object is not registered in this daemon")
        location = (self.natLocationStr if nat else None) or self.location
        return URI(f"PYRO:{object_id}@{location}")

    uriFor = uri_for

    def proxy_for(self, objectOrId: Any, nat: bool = True) -> Proxy:  # noqa: N803
        return Proxy(self.uri_for(objectOrId, nat))

    proxyFor = proxy_for

    def _info(self) -> str:
        nat = f", NAT {self.natLocationStr}" if self.natLocationStr else ""
        return f"{self.location}{nat} - {len(self.registry)} objects"

    @property
    def sockets(self) -> list[Any]:
        """What to poll when the daemon lives in someone else's loop (see `events`): the
        ROUTER (other threads wake the daemon through it), a wake-up descriptor (for what one
        events() call left), and the ROUTER's monitor while something must see clients go
        (session-mode classes, Pyro's hooks, tracked resources, COMMTIMEOUT); brokered, the
        DEALER to the broker and a wake-up descriptor. Those of combined daemons too."""
        serving = self._serving
        serving.prepare_for_host()
        socks: list[Any] = [serving.router]
        if serving.waker is not None:
            socks.append(serving.waker.fileno())
        if serving.watch is not None and serving.watch.monitor is not None:
            socks.append(serving.watch.monitor)
        for other in self._combined:
            socks.extend(other.sockets)
        return socks

    # -- serving --------------------------------------------------------------------------------

    def request_loop(
        self,
        loop_condition: Callable[[], bool] = lambda: True,
        loopCondition: Callable[[], bool] | None = None,  # noqa: N803 - Pyro's keyword
    ) -> None:
        """Serve until shutdown() or until loop_condition() returns False (checked at least
        every POLL_TIMEOUT seconds)."""
        if self._closed:
            raise errors.DaemonError("daemon is closed")
        condition = loopCondition or loop_condition
        companions = [
            threading.Thread(
                target=other.request_loop,
                args=(lambda: not self._serving.stop.is_set() and condition(),),
                name="zpyro-combined-daemon",
                daemon=True,
            )
            for other in self._combined
        ]
        for thread in companions:
            thread.start()
        try:
            self._serving.run(condition)
        finally:
            for other in self._combined:
                other.shutdown()
            for thread in companions:
                thread.join(5.0)

    requestLoop = request_loop

    def combine(self, other: Daemon) -> None:
        """Serve `other` together with this daemon: its request loop runs and stops with ours,
        its sockets are among ours and events() serves it too (Pyro's combine)."""
        if other is self or not isinstance(other, Daemon):
            raise errors.DaemonError("combine() takes another zpyro.Daemon")
        self._combined.append(other)

    def events(self, ready: Any) -> None:
        """Process what is ready without blocking, for a daemon polled by someone else's loop.

        `ready` is the poll result (a dict or list of (socket, event) pairs, or of sockets).
        In this mode every call runs on the worker pool, so the host loop never blocks.
        """
        self._serving.events(ready)
        for other in self._combined:
            other.events(ready)

    def release_client(self, client: bytes) -> None:
        """Forget what a departed client held: session instances, open streams, its conn
        (clientDisconnect, tracked resources)."""
        self.registry.drop_session(client)
        if self.dispatcher.streams is not None:
            self.dispatcher.streams.drop_client(client)
        self.dispatcher.client_keys.pop(client, None)
        self.dispatcher.clients.release(client)
        if self._credit is not None:
            self._credit.forget(client)
        if self._serving.notes is not None:
            self._serving.notes.released(client)

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
        if self._pump is not None:
            self._pump.close()
        self.dispatcher.clients.release_all()
        for served in self.registry.snapshot().values():  # a closed daemon autoproxies nothing
            self.forget_pyro_attributes(served)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<zpyro.Daemon at {self.location}, {len(self.registry)} objects>"

    @staticmethod
    def serveSimple(  # noqa: N802
        objects: dict[Any, str | None],
        host: str | None = None,
        port: int = 0,
        daemon: Daemon | None = None,
        ns: bool = True,
        verbose: bool = True,
    ) -> None:
        """Pyro4's one-liner: register `objects` ({object or class: name or None}) and serve
        them until shut down. With `ns`, each name is registered in the name server (the
        objects get random ids); without, the names are the object ids."""
        serve(objects, host, port, daemon, ns, verbose)


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

    As Pyro5's ``serve()`` (and Pyro4's ``Daemon.serveSimple``), with Pyro's printed lines:
    with `use_ns`, named objects get random ids and their names go in the name server (found
    with locate_ns(), with the `metadata` tags); without, the names are the object ids. A
    brokered daemon names its objects in its broker's name server itself.
    """
    daemon = daemon or Daemon(host=host, port=port)
    with daemon:
        brokered = daemon._link is not None
        ns = locate_ns() if use_ns and not brokered else None
        for obj, name in objects.items():
            uri = daemon.register(obj, None if ns is not None else name, metadata=metadata)
            if verbose:
                print(f"Object {obj!r}:\n    uri = {uri}")
            if ns is not None and name:
                ns.register(name, uri, metadata=set(metadata or ()))
                if verbose:
                    print(f"    name = {name}")
        if verbose:
            print("Pyro daemon running.")
        daemon.request_loop()
