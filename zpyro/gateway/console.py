"""The live console: a plain HTML + JavaScript page and the two JSON/SSE sources it reads.

=========================  =====================================================================
route                      what
=========================  =====================================================================
``GET /``                  the page (``static/console.html``, ``console.js``, ``console.css``)
``GET /console/state``     the exposed names with their metadata; the pools with their daemons
                           and free slots (the broker's ``Pyro.Daemon.pools()``)
``GET /console/events``    the broker's announcements (exposed names only) as server-sent events
=========================  =====================================================================

With a gateway key, the two sources want it like any call does (``X-Pyro-Gateway-Key``, or
``$key=`` in the query, which is how the page's EventSource sends it).
"""

from __future__ import annotations

import asyncio
import re
import time
from importlib import resources
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

import zpyro

from . import httpio
from .feed import Feed
from .targets import Targets


class Gateway(Protocol):
    """What the console needs of the gateway (app.py) it is part of."""

    targets: Targets
    feed: Feed
    exposed: re.Pattern[str] | None
    key: str | None

    def start(self) -> None: ...

    def check_key(self, request: Request, query_key: Any) -> None: ...

    def error(self, exc: BaseException, cid: str | None = None) -> Response: ...


JSON = "application/json; charset=utf-8"
STATUS_WAIT = 3.0  # seconds the state waits for the broker's pools() answer
_FILES = {
    "console.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
_NO_CACHE = {"Cache-Control": "no-cache"}


class Console:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        static = resources.files(__package__).joinpath("static")
        self.files = {name: static.joinpath(name).read_bytes() for name in _FILES}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.page, name="console"),
            Route("/console.js", self.file),
            Route("/console.css", self.file),
            Route("/console/state", self.state),
            Route("/console/events", self.events),
            Route("/pyro/", self.to_page),  # where Pyro's gateway has its page
        ]

    async def page(self, request: Request) -> Response:
        self.gateway.start()
        return Response(self.files["console.html"], 200, _NO_CACHE, _FILES["console.html"])

    async def file(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        return Response(self.files[name], 200, _NO_CACHE, _FILES[name])

    async def to_page(self, request: Request) -> Response:
        return RedirectResponse(request.url_for("console"))

    def _check_key(self, request: Request) -> None:
        query = httpio.query_parameters(request.scope["query_string"])
        self.gateway.check_key(request, query.get(httpio.KEY_PARAM))

    async def state(self, request: Request) -> Response:
        self.gateway.start()
        try:
            self._check_key(request)
            state = await self.picture()
        except Exception as exc:
            return self.gateway.error(exc)
        return Response(httpio.to_json(state), 200, _NO_CACHE, JSON)

    async def events(self, request: Request) -> Response:
        self.gateway.start()
        try:
            self._check_key(request)
        except Exception as exc:
            return self.gateway.error(exc)
        targets = self.gateway.targets
        hello: dict[str, Any] = {"epoch": None, "seq": None}
        if targets.ready:
            watcher = targets.watcher()
            hello = {"epoch": watcher.epoch, "seq": watcher.seq}
        headers = {**_NO_CACHE, "X-Accel-Buffering": "no"}
        stream = self.gateway.feed.events(hello)
        return StreamingResponse(stream, 200, headers, "text/event-stream")

    async def picture(self) -> dict[str, Any]:
        """What the page shows: the gateway, the exposed names, the pools serving them."""
        gateway = self.gateway
        targets, exposed = gateway.targets, gateway.exposed
        now = time.monotonic()
        about: dict[str, Any] = {
            "version": zpyro.__version__,
            "name_server": targets.location,
            "expose": exposed.pattern if exposed else None,
            "ready": targets.ready,
            "error": targets.start_error,
            "broker_silent": None if targets.last_alive is None else now - targets.last_alive,
            "key_required": gateway.key is not None,
            "epoch": None,
            "seq": None,
        }
        state: dict[str, Any] = {"gateway": about, "names": [], "pools": None, "pools_error": None}
        if not targets.ready:
            return state
        watcher = targets.watcher()
        about.update(epoch=watcher.epoch, seq=watcher.seq)
        state["names"] = [
            {"name": name, "uri": uri, "metadata": sorted(tags)}
            for name, (uri, tags) in sorted(targets.names(exposed).items())
        ]
        try:
            pools = (await asyncio.wait_for(targets.broker_pools(), STATUS_WAIT))["pools"]
        except Exception as exc:
            state["pools_error"] = f"{type(exc).__name__}: {exc}"
        else:
            state["pools"] = {
                name: pool for name, pool in pools.items() if exposed is None or exposed.match(name)
            }
        return state
