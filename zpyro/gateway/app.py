"""The gateway's ASGI application (Starlette): Pyro's HTTP interface plus the live console.

=====================================  =============================================================
route                                  what
=====================================  =============================================================
``GET|POST /pyro/<name>/<method>``     call a method (or read a property); JSON result, or NDJSON
                                       lines for a generator
``GET /pyro/<name>/$meta``             the object's methods, properties and oneway methods
``GET /``, ``/console/...``            the live console (``console.py``)
=====================================  =============================================================

Every request is served on the event loop; calls go out pipelined on one shared proxy per
object (``targets.py``), so a slow method holds up only its own requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from zpyro import errors, wire
from zpyro.context import current_context
from zpyro.streams import CHUNK_ITEMS, RemoteIterator
from zpyro.wire import GETATTR

from . import httpio
from .console import Console
from .feed import Feed
from .targets import Targets

log = logging.getLogger("zpyro.gateway")

JSON = "application/json; charset=utf-8"
NDJSON = "application/x-ndjson; charset=utf-8"
CORRELATION = "X-Pyro-Correlation-Id"
STREAM_THREADS = 32  # generator results fetched at once; more streams wait their turn


class Gateway:
    """The gateway: ``Gateway(...).app`` is the ASGI application.

    Mounted inside another ASGI app (whose lifespan does not reach this one), the gateway starts
    on its first request; call ``await gateway.aclose()`` when your app stops.
    """

    def __init__(
        self,
        *,
        ns_host: str | None = None,
        ns_port: int | None = None,
        ns_pub_port: int | None = None,
        expose: str | None = httpio.DEFAULT_EXPOSE,
        gateway_key: str | None = None,
        cors: Sequence[str] = (),
        timeout: float | None = 30.0,
        max_body: int = httpio.DEFAULT_MAX_BODY,
        serializer: str = "msgpack",
    ) -> None:
        self.exposed = re.compile(expose) if expose else None
        self.key = gateway_key or None
        self.timeout = timeout or None
        self.max_body = max_body
        self.feed = Feed(self.exposed)
        self.targets = Targets(
            ns_host, ns_port, ns_pub_port, self.timeout, serializer, on_event=self.feed.announce
        )
        self._stream_threads = ThreadPoolExecutor(STREAM_THREADS, "zpyro-gateway-stream")
        console = Console(self)
        routes = [
            *console.routes(),
            Route("/pyro/{name}/{method}", self.call, methods=["GET", "POST", "OPTIONS"]),
        ]
        middleware = []
        if cors:
            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=list(cors),
                    allow_methods=["GET", "POST", "OPTIONS"],
                    allow_headers=[
                        "Content-Type",
                        "X-Pyro-Options",
                        "X-Pyro-Gateway-Key",
                        CORRELATION,
                    ],
                    expose_headers=[CORRELATION],
                )
            )
        self.app = Starlette(
            routes=routes,
            middleware=middleware,
            exception_handlers={HTTPException: self._http_exception},
            lifespan=self._lifespan,
        )

    # -- life cycle -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Any) -> AsyncIterator[None]:
        self.start()
        try:
            yield
        finally:
            await self.aclose()

    def start(self) -> None:
        """Reach the name server (once; also on the first request when mounted elsewhere)."""
        self.feed.bind(asyncio.get_running_loop())
        self.targets.start()

    def stopping(self) -> None:
        """The server is about to stop: end the event streams so it need not wait for them."""
        self.feed.stopping.set()

    def stop_soon(self) -> None:
        """`stopping` from a signal handler or another thread."""
        loop = self.feed.loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self.stopping)
        except RuntimeError:  # the loop has closed already
            pass

    async def aclose(self) -> None:
        self.stopping()
        await self.targets.close()
        self._stream_threads.shutdown(wait=False, cancel_futures=True)

    # -- Pyro's interface -------------------------------------------------------------------------

    async def call(self, request: Request) -> Response:
        if request.method == "OPTIONS":  # not a CORS preflight (the middleware answers those)
            return Response(status_code=200, headers={"Allow": "GET, POST, OPTIONS"})
        if request.method == "HEAD":  # Starlette allows it with GET; it must not run the method
            return Response(b"", 405, {"Allow": "GET, POST, OPTIONS"})
        self.start()
        cid: str | None = None
        try:
            cid = httpio.correlation_id(request.headers.get(CORRELATION))
            query = httpio.query_parameters(request.scope["query_string"])
            self.check_key(request, query.pop(httpio.KEY_PARAM, None))
            name, method = request.path_params["name"], request.path_params["method"]
            httpio.check_exposed(self.exposed, name)
            opts = httpio.options(request.headers.get("X-Pyro-Options"))
            args: list[Any] = []
            if request.method == "POST":
                args, body_kwargs = await self._body_arguments(request)
                query = httpio.merge_kwargs(query, body_kwargs)
            current_context.correlation_id = cid  # travels with the call (and nested calls)
            return await self._invoke(name, method, args, query, opts, cid)
        except Exception as exc:
            return self.error(exc, cid)

    async def _invoke(
        self,
        name: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any],
        opts: frozenset[str],
        cid: str,
    ) -> Response:
        uri = self._uri_of(name)
        try:
            proxy = await self.targets.connected(uri)
        except errors.DaemonError as exc:  # the name points at a daemon that lacks the object
            raise httpio.Problem(
                404, errors.NamingError(f"{name!r} is not served: {exc}")
            ) from None
        headers = {CORRELATION: cid}
        methods, attrs = proxy._pyroMethods, proxy._pyroAttrs
        if method == "$meta":
            meta = httpio.meta_json(methods, attrs, proxy._pyroOneway)
            return Response(httpio.to_json(meta), 200, headers, JSON)
        if method in attrs and method not in methods:
            if args or kwargs or "oneway" in opts:
                raise httpio.bad_request(f"{method!r} is a property: read it without parameters")
            result = await proxy._pyroAwait(GETATTR, (method,), {})
        elif method in methods:
            oneway = "oneway" in opts or method in proxy._pyroOneway
            flags = wire.FLAG_ONEWAY if oneway else 0
            result = await proxy._pyroAwait(method, args, kwargs, flags)
            if oneway:  # as Pyro's gateway: 200 with an empty body
                return Response(b"", 200, headers, JSON)
        else:
            raise httpio.Problem(
                404,
                AttributeError(f"{name!r} has no exposed method or property {method!r}"),
            )
        if isinstance(result, RemoteIterator):
            return StreamingResponse(self._ndjson(result), 200, headers, NDJSON)
        return Response(httpio.to_json(result), 200, headers, JSON)

    def _uri_of(self, name: str) -> str:
        try:
            return self.targets.uri_of(name)
        except errors.NamingError as exc:
            raise httpio.Problem(404, exc) from None

    async def _body_arguments(self, request: Request) -> tuple[list[Any], dict[str, Any]]:
        httpio.check_encoding(request.headers.get("content-encoding"))
        kind, _ = httpio.media_type(request.headers.get("content-type"))
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise httpio.bad_request(f"bad Content-Length {length!r}")
            if int(length) > self.max_body:
                raise self._too_big()
        try:
            body = await asyncio.wait_for(self._read_body(request), self.timeout)
        except asyncio.TimeoutError:  # a client that trickles its body holds only itself up
            raise httpio.Problem(
                408, errors.TimeoutError(f"request body not received within {self.timeout} s")
            ) from None
        return httpio.body_arguments(kind, body)

    async def _read_body(self, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise self._too_big()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_big(self) -> httpio.Problem:
        return httpio.Problem(
            413,
            errors.MessageTooLargeError(f"request body over the limit of {self.max_body} bytes"),
        )

    def check_key(self, request: Request, query_key: Any) -> None:
        """403 unless the request carries the gateway key (header, or `query_key` = $key)."""
        if query_key is not None and not isinstance(query_key, str):
            raise httpio.bad_request("$key given more than once")
        httpio.check_key(self.key, request.headers.get("X-Pyro-Gateway-Key"), query_key)

    def error(self, exc: BaseException, cid: str | None = None) -> Response:
        """The answer for a failed request: its status and Pyro's JSON of the exception."""
        error = exc.error if isinstance(exc, httpio.Problem) else exc
        status = httpio.status_of(exc)
        if status >= 500:
            log.info("call failed (%d): %s: %s", status, type(error).__name__, error)
        headers = {CORRELATION: cid} if cid else {}
        if status == 503:
            headers["Retry-After"] = "1"
        return Response(httpio.to_json(httpio.error_json(error)), status, headers, JSON)

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = errors.DaemonError(f"{request.method} {request.url.path}: {exc.detail}")
        return Response(
            httpio.to_json(httpio.error_json(error)), exc.status_code, exc.headers, JSON
        )

    # -- streams ----------------------------------------------------------------------------------

    async def _ndjson(self, iterator: RemoteIterator) -> AsyncIterator[bytes]:
        """A generator's items, one JSON line each, a chunk at a time: at most one chunk is held
        here, and the next is fetched only once the client has taken the last. A client that
        goes away (this generator is cancelled or closed) closes the daemon's generator."""
        loop = asyncio.get_running_loop()
        lock = threading.Lock()  # the iterator is used by one thread at a time
        finished = False
        try:
            while not finished:
                items, finished, error = await loop.run_in_executor(
                    self._stream_threads, _take, iterator, lock
                )
                lines = [httpio.to_json(item) + b"\n" for item in items]
                if error is not None:  # after the items before it, as the last line
                    lines.append(httpio.to_json(httpio.error_json(error)) + b"\n")
                if lines:
                    yield b"".join(lines)
        finally:
            if not finished:
                self._stream_threads.submit(_close, iterator, lock)


def _take(iterator: RemoteIterator, lock: threading.Lock) -> tuple[list[Any], bool, Any]:
    """Up to a chunk of items: (items, finished, error that ended the stream or None)."""
    items: list[Any] = []
    with lock:
        try:
            for _ in range(CHUNK_ITEMS):
                items.append(next(iterator))
        except StopIteration:
            return items, True, None
        except Exception as exc:
            return items, True, exc
    return items, False, None


def _close(iterator: RemoteIterator, lock: threading.Lock) -> None:
    with lock:  # after a fetch in progress, so the daemon's generator is not running
        iterator.close()


def create_app(**options: Any) -> Starlette:
    """The gateway's ASGI app; keyword options as :class:`Gateway` takes them."""
    return Gateway(**options).app
