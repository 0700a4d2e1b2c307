"""``zpyro-ns`` / ``python -m zpyro.naming``: the broker started the way Pyro users start their
name server (``pyro4-ns``, ``python -m Pyro4.naming``), with Pyro's options and printed lines.

Pyro's options map onto the broker: ``-n HOST``, ``-p PORT`` (0: a free port, and a free
announcement port too), ``-u PATH`` (ipc; announcements on ``PATH.pub``), ``-s memory|sql:FILE``
(also ``sqlite:FILE``; ``dbm:`` refused: it cannot keep metadata), ``--nathost/--natport``.
``-x``, ``--bchost`` and ``--bcport`` are accepted: zpyro never broadcasts. ``-k`` (and
``PYRO_HMAC_KEY``) are refused: use CURVE. Scripts wait for the ``URI = `` line, as with Pyro.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from zpyro import errors
from zpyro.security import refuse_hmac

from .inprocess import NameServerDaemon

__all__ = ["start_ns_loop", "main"]

PROG = "zpyro-ns"
NO_BROADCAST = (
    "Not starting broadcast server: zpyro never broadcasts (clients use NS_HOST/NS_PORT)."
)


def start_ns_loop(
    host: str | None = None,
    port: int | None = None,
    enableBroadcast: bool = True,  # Pyro's keyword names
    bchost: str | None = None,
    bcport: int | None = None,
    unixsocket: str | None = None,
    nathost: str | None = None,
    natport: int | None = None,
    storage: str | None = None,
    hmac: Any = None,
    *,
    pub_port: int | None = None,
    curve_secret_key: str | None = None,
    curve_allowed_clients: str | None = None,
    on_ready: Callable[[NameServerDaemon], Any] | None = None,
) -> None:
    """Pyro's ``startNSloop``: start a name server, print Pyro's lines, serve until shutdown
    (or Ctrl-C), print ``NS shut down.``. `on_ready(daemon)` is called before anything is
    printed (the command makes SIGTERM stop the loop there)."""
    refuse_hmac(hmac)
    daemon = NameServerDaemon(
        host,
        port,
        unixsocket,
        nathost,
        natport,
        storage,
        pub_port,
        curve_secret_key=curve_secret_key,
        curve_allowed_clients=curve_allowed_clients,
    )
    try:
        if on_ready is not None:  # before the lines that tell a script it may go on
            on_ready(daemon)
        if enableBroadcast or bchost or bcport:
            print(NO_BROADCAST)
        assert daemon.nameserver is not None
        existing = daemon.nameserver.count()
        if existing > 1:  # its own entry is not news
            print(f"Persistent store contains {existing} existing registrations.")
        print(f"NS running on {daemon.locationStr} ({daemon.bound_ip()})")
        print(f"Announcements on {daemon.pub_location} (epoch {daemon.broker.epoch})")
        if daemon.natLocationStr:
            print(f"internal URI = {daemon.uriFor(nat=False)}")
            print(f"external URI = {daemon.uri}")
        else:
            print(f"URI = {daemon.uri}", flush=True)
        sys.stdout.flush()
        try:
            daemon.requestLoop()
        except KeyboardInterrupt:
            pass
    finally:
        daemon.close()
    print("NS shut down.", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="The zpyro broker started with Pyro's name-server options "
        "(zpyro-broker has the broker's own).",
    )
    ap.add_argument("-n", "--host", help="hostname to bind on (default config HOST)")
    ap.add_argument("-p", "--port", type=int, help="port to bind on (default NS_PORT; 0: free)")
    ap.add_argument("-u", "--unixsocket", help="unix domain socket to bind on instead of tcp")
    ap.add_argument(
        "-s", "--storage", default="memory", help="memory (default), sql:FILE or sqlite:FILE"
    )
    ap.add_argument("--bchost", help="accepted: zpyro never broadcasts")
    ap.add_argument("--bcport", type=int, help="accepted: zpyro never broadcasts")
    ap.add_argument("--nathost", help="the host clients reach this name server by (NAT)")
    ap.add_argument("--natport", type=int, help="the port clients reach it by (default: bound)")
    ap.add_argument(
        "-x", "--nobc", dest="enablebc", action="store_false", help="no broadcast server"
    )
    ap.add_argument("-k", "--key", help="refused: HMAC keys are not supported (use CURVE)")
    ap.add_argument(
        "--pub-port", type=int, help="announcement port (default NS_PUB_PORT; with -p 0: free)"
    )
    ap.add_argument("--curve-secret", help="CURVE: this name server's secret key file")
    ap.add_argument("--curve-allowed", help="CURVE: directory of allowed client public keys")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s %(message)s")
    key = args.key or os.environ.get("PYRO_HMAC_KEY")
    try:
        refuse_hmac(key)
    except errors.SecurityError as exc:
        where = "-k" if args.key else "PYRO_HMAC_KEY"
        print(f"{PROG}: {where}: {exc}", file=sys.stderr)
        return 2

    def stop_on_signals(daemon: NameServerDaemon) -> None:
        def stop(signum: int, _frame: Any) -> None:
            daemon.shutdown()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    try:
        start_ns_loop(
            args.host,
            args.port,
            args.enablebc,
            args.bchost,
            args.bcport,
            args.unixsocket,
            args.nathost,
            args.natport,
            args.storage,
            pub_port=args.pub_port,
            curve_secret_key=args.curve_secret,
            curve_allowed_clients=args.curve_allowed,
            on_ready=stop_on_signals,
        )
    except (errors.ZPyroError, OSError, ValueError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
