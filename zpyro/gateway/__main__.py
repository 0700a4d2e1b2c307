"""``zpyro-gateway`` / ``python -m zpyro.gateway``: serve the HTTP gateway with uvicorn.

Prints Pyro's ``Pyro HTTP gateway running on http://HOST:PORT/pyro/`` and then
``READY http://HOST:PORT/ ns=HOST:PORT names=ok|unreachable`` once it listens (and has tried the
name server once), and ``STOPPED`` after a clean stop on SIGTERM or Ctrl-C (exit 0).
The gateway key comes from the environment (``ZPYRO_GATEWAY_KEY``); ``--gateway-key`` works too
but shows the key to every user of the machine (``ps``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from types import FrameType

import uvicorn

from zpyro.config import config

from . import httpio
from .app import Gateway

PROG = "zpyro-gateway"
KEY_ENV = "ZPYRO_GATEWAY_KEY"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="zpyro objects over HTTP + JSON (Pyro's gateway interface) and a live "
        "console at /.",
    )
    ap.add_argument("-H", "--host", default="localhost", help="address to bind (default localhost)")
    ap.add_argument("-p", "--port", type=int, default=8080, help="port (default 8080; 0: free)")
    ap.add_argument("--ns-host", default=None, help=f"name server host (default {config.NS_HOST})")
    ap.add_argument(
        "--ns-port", type=int, default=None, help=f"name server port (default {config.NS_PORT})"
    )
    ap.add_argument(
        "--ns-pub-port",
        type=int,
        default=None,
        help=f"name server announcement port (default {config.NS_PUB_PORT})",
    )
    ap.add_argument(
        "-e",
        "--expose",
        default=httpio.DEFAULT_EXPOSE,
        metavar="REGEX",
        help="names reachable over HTTP, matched from their start (default %(default)r, as "
        "Pyro's gateway; '' exposes every name)",
    )
    ap.add_argument(
        "-g",
        "--gateway-key",
        "--gatewaykey",
        default=None,
        help=f"key every request must carry; better: the environment variable {KEY_ENV}, "
        "which other users cannot see",
    )
    ap.add_argument(
        "-c",
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser scripts from ORIGIN (repeatable; '*' for any). Default: none",
    )
    ap.add_argument(
        "-t",
        "--timeout",
        type=float,
        default=30.0,
        help="seconds a call may take before the answer is 504 (default 30; 0: no limit)",
    )
    ap.add_argument(
        "--max-body",
        type=int,
        default=httpio.DEFAULT_MAX_BODY,
        metavar="BYTES",
        help="largest request body accepted; more is answered 413 (default %(default)d)",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    key = args.gateway_key or os.environ.get(KEY_ENV) or None
    if args.gateway_key:
        print(
            f"{PROG}: warning: a key on the command line is visible to other users; "
            f"set {KEY_ENV} instead",
            file=sys.stderr,
        )
    if not args.expose:
        print(f"{PROG}: warning: exposing every name (empty --expose)", file=sys.stderr)
    gateway = Gateway(
        ns_host=args.ns_host,
        ns_port=args.ns_port,
        ns_pub_port=args.ns_pub_port,
        expose=args.expose,
        gateway_key=key,
        cors=args.cors,
        timeout=args.timeout,
        max_body=args.max_body,
    )
    settings = uvicorn.Config(
        gateway.app,
        host=args.host,
        port=args.port,
        log_level="info" if args.verbose else "warning",
        access_log=args.verbose,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    try:
        sock = settings.bind_socket()
    except SystemExit:  # uvicorn says why on stderr and exits: a clear exit status instead
        return 2
    server = _Server(settings, gateway)
    # uvicorn re-raises the stop signal once it has shut down; a no-op there lets us exit 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped)
    server.run(sockets=[sock])
    print("STOPPED", flush=True)
    return 0


def _stopped(sig: int, frame: FrameType | None) -> None:
    pass


class _Server(uvicorn.Server):
    """uvicorn's Server, saying READY once it listens and letting event streams end on stop."""

    def __init__(self, settings: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(settings)
        self.gateway = gateway

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:  # startup failed: uvicorn has said why
            return
        targets = self.gateway.targets
        await targets.first_attempt.wait()
        host, port = (sockets or [])[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        names = "ok" if targets.ready else "unreachable"
        # Pyro's line first (ported scripts wait for it), then ours
        print(f"Pyro HTTP gateway running on http://{shown}:{port}/pyro/")
        print(f"READY http://{shown}:{port}/ ns={targets.location} names={names}", flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.gateway.stop_soon()


if __name__ == "__main__":
    sys.exit(main())
