"""``zpyro-nsc`` / ``python -m zpyro.nsc``: name server control, shaped like Pyro's ``nsc``.

Exit codes: 0 done, 1 the name server could not be reached or refused (NamingError...),
2 usage error (argparse). Output looks exactly like Pyro4's ``nsc`` -- listings with a
``    metadata: [...]`` line under tagged entries, ``-v``'s lines, ``removematching``'s question --
so scripts that parse it carry over. (Pyro's nsc prints errors on stdout and exits 0; this one
prints them on stderr and exits 1.)
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from . import announce, errors
from .announce import Announcement
from .client import Proxy
from .config import config
from .namewatch import NameWatcher
from .naming import ns_location
from .security import HMAC_REFUSED
from .wire import NAMESERVER_ID

PROG = "zpyro-nsc"


BY_METADATA = " - searched by metadata"  # (Pyro's title, with its leading space)
REMOVE_QUESTION = "Potentially removing lots of items from the Name server. Are you sure (y/n)?"


def _print_list(found: dict[str, Any], title: str = "") -> None:
    """A listing as Pyro's nsc prints it: `found` maps names to (uri, tags)."""
    print(f"--------START LIST {title}")
    for name, (uri, tags) in sorted(found.items()):
        print(f"{name} --> {uri}")
        if tags:
            print(f"    metadata: {sorted(tags)}")
    print(f"--------END LIST {title}")


def _tags(tags: Iterable[str]) -> str:
    return ", ".join(sorted(tags))


# -- commands: each takes the name-server proxy and the parsed arguments, returns the exit code ---


def cmd_list(ns: Any, args: argparse.Namespace) -> int:
    if args.prefix is None:
        _print_list(ns.list(return_metadata=True))
    else:
        found = ns.list(prefix=args.prefix, return_metadata=True)
        _print_list(found, f"- prefix '{args.prefix}'")
    return 0


def cmd_listmatching(ns: Any, args: argparse.Namespace) -> int:
    _print_list(ns.list(regex=args.regex, return_metadata=True), f"- regex '{args.regex}'")
    return 0


def cmd_listmeta_all(ns: Any, args: argparse.Namespace) -> int:
    _print_list(ns.list(metadata_all=set(args.tags), return_metadata=True), BY_METADATA)
    return 0


def cmd_listmeta_any(ns: Any, args: argparse.Namespace) -> int:
    _print_list(ns.list(metadata_any=set(args.tags), return_metadata=True), BY_METADATA)
    return 0


def cmd_lookup(ns: Any, args: argparse.Namespace) -> int:
    uri, tags = ns.lookup(args.name, return_metadata=True)
    print(uri)
    if tags:
        print(f"metadata: {sorted(tags)}")
    return 0


def cmd_register(ns: Any, args: argparse.Namespace) -> int:
    ns.register(args.name, args.uri, safe=True)  # Pyro's nsc never overwrites a name either
    print(f"Registered {args.name}")
    return 0


def cmd_remove(ns: Any, args: argparse.Namespace) -> int:
    print(f"Removed {args.name}" if ns.remove(args.name) else "Nothing removed")
    return 0


def cmd_removematching(ns: Any, args: argparse.Namespace) -> int:
    """Asks first, as Pyro's nsc does (``--yes`` does not); no answer (end of input): exit 1."""
    if not args.yes:
        print(REMOVE_QUESTION, end="", flush=True)
        answer = sys.stdin.readline()
        if not answer:
            print()
            print(
                f"{PROG}: no answer on stdin: nothing removed (--yes removes without asking)",
                file=sys.stderr,
            )
            return 1
        if answer.strip() not in ("y", "Y"):
            return 0
    count = ns.remove(regex=args.regex)
    print(f"{count} items removed.")
    return 0


def cmd_yplookup_all(ns: Any, args: argparse.Namespace) -> int:
    _print_list(ns.yplookup(meta_all=args.tags, return_metadata=True), BY_METADATA)
    return 0


def cmd_yplookup_any(ns: Any, args: argparse.Namespace) -> int:
    _print_list(ns.yplookup(meta_any=args.tags, return_metadata=True), BY_METADATA)
    return 0


def cmd_setmeta(ns: Any, args: argparse.Namespace) -> int:
    ns.set_metadata(args.name, set(args.tags))
    print("Metadata updated" if args.tags else "Metadata cleared")
    return 0


def cmd_ping(ns: Any, args: argparse.Namespace) -> int:
    ns.ping()
    print("Name server ping ok.")
    return 0


def describe(ann: Announcement) -> str:
    """One line for an announcement, as ``watch`` prints it."""
    body = ann.body
    if ann.kind == announce.NAME_REGISTERED:
        tags = f" (metadata: {_tags(body['metadata'])})" if body["metadata"] else ""
        return f"{ann.kind} {body['name']} -> {body['uri']}{tags}"
    if ann.kind == announce.NAME_REMOVED:
        return f"{ann.kind} {body['name']}"
    if ann.kind == announce.DAEMON_JOINED:
        names = ",".join(body["names"])
        return f"{ann.kind} {body['daemon']} names={names} capacity={body['capacity']}"
    if ann.kind == announce.DAEMON_LEFT:
        names = ",".join(body["names"])
        return f"{ann.kind} {body['daemon']} names={names} reason={body['reason']}"
    return f"{ann.kind} seq={ann.seq}"


def cmd_watch(ns: Any, args: argparse.Namespace) -> int:
    stop = threading.Event()

    def show(ann: Announcement) -> None:
        if args.no_alive and ann.kind == announce.BROKER_ALIVE:
            return
        try:
            print(describe(ann), flush=True)
        except (BrokenPipeError, ValueError):  # `zpyro-nsc watch | head`: the reader left
            stop.set()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    watcher = NameWatcher(args.host, args.port, args.pub_port, on_event=show, timeout=args.timeout)
    with watcher:
        count = len(watcher.names())
        print(
            f"watching announcements on {watcher.pub_endpoint} (epoch {watcher.epoch}, "
            f"seq {watcher.seq}, {count} name{'' if count == 1 else 's'}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(1.0):  # ends on SIGINT/SIGTERM (or a closed stdout)
            pass
    return 0


COMMANDS: dict[str, tuple[Callable[[Any, argparse.Namespace], int], str]] = {
    "list": (cmd_list, "list all names, or those starting with PREFIX"),
    "listmatching": (cmd_listmatching, "list the names matching a regular expression"),
    "listmeta_all": (cmd_listmeta_all, "list the names carrying all of the metadata tags"),
    "listmeta_any": (cmd_listmeta_any, "list the names carrying any of the metadata tags"),
    "lookup": (cmd_lookup, "print the URI of a name (and its metadata)"),
    "register": (cmd_register, "register NAME as URI (refuses to overwrite)"),
    "remove": (cmd_remove, "remove a name"),
    "removematching": (
        cmd_removematching,
        "remove the names matching a regular expression (asks first)",
    ),
    "yplookup_all": (cmd_yplookup_all, "list the names carrying all of the metadata tags"),
    "yplookup_any": (cmd_yplookup_any, "list the names carrying any of the metadata tags"),
    "setmeta": (cmd_setmeta, "set the metadata tags of a name (none: clear them)"),
    "ping": (cmd_ping, "check that the name server answers"),
    "watch": (cmd_watch, "print the broker's announcements until Ctrl-C"),
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="zpyro name server control.")
    ap.add_argument(
        "-n", "--host", default=None, help=f"name server host (default {config.NS_HOST})"
    )
    ap.add_argument(
        "-p", "--port", type=int, default=None, help=f"name server port (default {config.NS_PORT})"
    )
    ap.add_argument("-u", "--unixsocket", default=None, help="name server's unix domain socket")
    ap.add_argument("-v", "--verbose", action="store_true", help="say what is being done")
    ap.add_argument("-k", "--key", default=None, help="refused: HMAC keys are not supported")
    pub_help = f"announcement port, for watch (default {config.NS_PUB_PORT})"
    ap.add_argument("--pub-port", type=int, default=None, help=pub_help)
    ap.add_argument(
        "-t",
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait for the name server (default 5)",
    )
    ap.add_argument(
        "--server-key",
        default=None,
        help="CURVE: the broker's public key (z85 or key file); default CURVE_SERVER_PUBLIC_KEY",
    )
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parsers = {name: sub.add_parser(name, help=text) for name, (_, text) in COMMANDS.items()}
    parsers["list"].add_argument("prefix", nargs="?", default=None)
    parsers["listmatching"].add_argument("regex")
    parsers["lookup"].add_argument("name")
    parsers["register"].add_argument("name")
    parsers["register"].add_argument("uri")
    parsers["remove"].add_argument("name")
    parsers["removematching"].add_argument("regex")
    parsers["removematching"].add_argument(
        "-y", "--yes", action="store_true", help="do not ask (scripts)"
    )
    parsers["listmeta_all"].add_argument("tags", nargs="+", metavar="TAG")
    parsers["listmeta_any"].add_argument("tags", nargs="+", metavar="TAG")
    parsers["yplookup_all"].add_argument("tags", nargs="+", metavar="TAG")
    parsers["yplookup_any"].add_argument("tags", nargs="+", metavar="TAG")
    parsers["setmeta"].add_argument("name")
    parsers["setmeta"].add_argument("tags", nargs="*", metavar="TAG")
    watch = parsers["watch"]
    watch.add_argument("--pub-port", type=int, default=argparse.SUPPRESS, help=pub_help)
    watch.add_argument("--no-alive", action="store_true", help="hide the broker.alive beats")
    return ap


def _connect(host: str, port: int, timeout: float) -> Any:
    """A name-server proxy that has answered a ping; CommunicationError when none answers."""
    proxy = Proxy(f"PYRO:{NAMESERVER_ID}@{ns_location(host, port)}")
    proxy._pyroTimeout = timeout
    try:
        proxy.ping()
    except BaseException:
        proxy._pyroRelease()
        raise
    return proxy


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s %(message)s")
    if args.key or os.environ.get("PYRO_HMAC_KEY"):
        where = "-k" if args.key else "PYRO_HMAC_KEY"
        print(f"{PROG}: {where}: {HMAC_REFUSED}", file=sys.stderr)
        return 2
    if args.unixsocket:
        args.host = "./u:" + args.unixsocket  # as Pyro's nsc does
    args.host = args.host or config.NS_HOST
    args.port = args.port or config.NS_PORT
    if args.timeout <= 0:
        args.timeout = 5.0
    config.CONNECT_TIMEOUT = args.timeout  # also bounds the locate inside NameWatcher
    if args.server_key:
        config.CURVE_SERVER_PUBLIC_KEY = args.server_key  # proxies and the watcher's SUB
    where = ns_location(args.host, args.port)
    command = COMMANDS[args.command][0]
    ns = None
    try:
        if args.verbose:
            print("Locating name server...", flush=True)
        ns = _connect(args.host, args.port, args.timeout)
        if args.verbose:
            print(f"Name server found: {ns._pyroUri}", flush=True)
        code = command(ns, args)
        if args.verbose:
            print("Done.")
        return code
    except errors.ProtocolError as exc:  # (a refused serializer, ...: it was reached)
        print(f"{PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
    except errors.CommunicationError as exc:
        print(f"{PROG}: cannot reach the name server at {where}: {exc}", file=sys.stderr)
    except errors.NamingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
    except errors.ZPyroError as exc:
        print(f"{PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    finally:
        if ns is not None:
            ns._pyroRelease()
    return 1


if __name__ == "__main__":
    sys.exit(main())
