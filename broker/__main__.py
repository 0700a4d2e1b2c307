"""``zpyro-broker`` / ``python -m zpyro.broker``: the name server, call router and announcer."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from zpyro import errors, wire
from zpyro.config import config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="zpyro-broker",
        description="zpyro broker: name server (Pyro.NameServer), router over pools of brokered "
        "daemons, and announcements on PUB.",
    )
    ap.add_argument("--host", default=None, help=f"address to bind (default {config.NS_HOST})")
    ap.add_argument(
        "-p", "--port", type=int, default=None, help=f"call port (default {config.NS_PORT}; 0: any)"
    )
    ap.add_argument(
        "--pub-port",
        type=int,
        default=None,
        help=f"announcement port (default {config.NS_PUB_PORT}, or any free port when --port is 0; "
        "0: any)",
    )
    ap.add_argument(
        "--storage",
        default=None,
        help="memory | sqlite:PATH (default: sqlite in the user's state directory, one file per "
        "port, named after the port bound)",
    )
    ap.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help=f"calls that may wait per pool (default config BROKER_MAX_QUEUE, "
        f"{config.BROKER_MAX_QUEUE}); each oneway caller is granted at most a quarter of it",
    )
    ap.add_argument(
        "--curve-secret",
        default=None,
        help="CURVE: this broker's secret key file (zpyro-keygen); default config CURVE_SECRET_KEY",
    )
    ap.add_argument(
        "--curve-allowed",
        default=None,
        help="CURVE: directory of allowed client public keys; default CURVE_ALLOWED_CLIENTS (any)",
    )
    add_pair_options(ap)
    ap.add_argument("-v", "--verbose", action="store_true", help="log each daemon and call event")
    args = ap.parse_args(argv)
    if (args.primary or args.backup) != bool(args.peer):
        ap.error("--primary and --backup need --peer, and --peer needs one of them")
    if args.pair and not args.peer:
        ap.error("--pair is for a broker of a pair: give --primary or --backup and --peer too")
    return args


def add_pair_options(ap: argparse.ArgumentParser) -> None:
    """The options of a broker pair (docs/BROKER.md, "Broker pair"); zpyro-ns takes them too."""
    group = ap.add_argument_group(
        "broker pair (Binary Star: one broker active, the other ready to take over)"
    )
    role = group.add_mutually_exclusive_group()
    role.add_argument(
        "--primary", action="store_true", help="be the primary of a pair (active when both start)"
    )
    role.add_argument("--backup", action="store_true", help="be the backup of a pair")
    group.add_argument(
        "--peer",
        default=None,
        metavar="HOST:PORT",
        help="where the other broker of the pair listens for us (its --pair address; "
        "tcp://... or ipc://... also accepted)",
    )
    group.add_argument(
        "--pair",
        default=None,
        metavar="HOST:PORT",
        help="where this broker listens for its peer (default: --host and the call port + 2, "
        "or a free port when --port is 0)",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from .service import Broker

    port = config.NS_PORT if args.port is None else args.port
    # --port 0 (any free port) takes any free announcement port too, so brokers sit side by side
    pub_port = 0 if args.pub_port is None and port == 0 else args.pub_port
    try:
        broker = Broker(
            args.host,
            port,
            pub_port,
            args.storage,  # None: the default file, named after the port bound
            args.max_queue,
            curve_secret_key=args.curve_secret,
            curve_allowed_clients=args.curve_allowed,
            pair_role=wire.PAIR_PRIMARY
            if args.primary
            else wire.PAIR_BACKUP
            if args.backup
            else None,
            pair_peer=args.peer,
            pair_listen=args.pair,
        )
    except (errors.ZPyroError, OSError, ValueError) as exc:
        print(f"zpyro-broker: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, _frame: Any) -> None:
        broker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pair = (
        "" if broker.pair is None else f" pair={broker.pair.link.endpoint} role={broker.pair.role}"
    )
    print(
        f"READY {broker.uri} pub={broker.pub_location} epoch={broker.epoch} "
        f"storage={broker.storage_spec}{pair}",
        flush=True,
    )
    try:
        broker.run()
    finally:
        broker.close()
    print("zpyro-broker stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
