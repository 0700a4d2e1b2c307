"""``zpyro-echo``: a small server to try zpyro against -- Pyro's test echo server, with its
options and printed lines (``python -m Pyro4.test.echoserver`` / ``Pyro5.utils.echoserver`` are
this module under ``zpyro.test.echoserver`` and ``zpyro.utils.echoserver``).

Options as Pyro's: ``-H/--host``, ``-p``, ``-u``, ``-n`` (register ``test.echoserver`` in the name
server at NS_HOST:NS_PORT), ``-N`` (also start a name server in this process, on NS_PORT; 0: a
free port), ``-v``, ``-q``; ``-k`` (HMAC) is refused: use CURVE. It prints ``echo uri: URI`` and
``echoserver running.`` once it serves (scripts and tests wait for that line), and stops on
SIGTERM/SIGINT or when a client calls ``shutdown()``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from . import errors
from .config import config
from .exposure import expose, oneway
from .naming import locate_ns, start_ns
from .security import HMAC_REFUSED
from .server import Daemon
from .uri import URI

OBJECT_ID = "test.echoserver"
PROG = "zpyro-echo"


@expose
class EchoServer:
    """Echoes what it is given; more methods to try errors, slowness, oneway calls, streams."""

    def __init__(self, verbose: bool = False) -> None:
        self._verbose = verbose
        self._must_shutdown = False  # the request loop's condition: shutdown() sets it
        self._lock = threading.Lock()
        self._oneway_count = 0

    def _say(self, what: str) -> None:
        if self._verbose:
            print(f"{time.asctime()} - {what}", flush=True)

    def echo(self, message: Any) -> Any:
        """return the message"""
        self._say(f"echo: {message!r}")
        return message

    def error(self) -> None:
        """raise a ValueError"""
        self._say("error: generating exception")
        raise ValueError("expected error from echoserver error() method")

    def error_with_text(self) -> None:
        """raise a ValueError with a message"""
        self._say("error: generating exception")
        raise ValueError("the message of the error")

    @oneway
    def oneway_echo(self, message: Any) -> Any:
        """like echo, but the caller does not wait"""
        with self._lock:
            self._oneway_count += 1
        self._say(f"oneway_echo: {message!r}")
        return "bogus return value"

    def slow(self, seconds: float = 5.0) -> str:
        """answer after a while (5 s unless told)"""
        self._say("slow: waiting a bit...")
        time.sleep(seconds)
        self._say("slow: returning result")
        return "Finally, an answer!"

    @oneway
    def oneway_slow(self, seconds: float = 5.0) -> Any:
        """like slow, but the caller does not wait"""
        self._say("oneway_slow: waiting a bit...")
        time.sleep(seconds)
        self._say("oneway_slow: returning result")
        return "bogus return value"

    def generator(self) -> Iterator[str]:
        """a stream of three words"""
        yield "one"
        yield "two"
        yield "three"

    def nan(self) -> float:
        return float("nan")

    def inf(self) -> float:
        return float("inf")

    def pid(self) -> int:
        """the server's process id"""
        return os.getpid()

    def oneway_count(self) -> int:
        """how many oneway_echo calls have run"""
        with self._lock:
            return self._oneway_count

    def _private(self) -> str:
        return "should not be allowed"

    def __private(self) -> str:
        return "should not be allowed"

    def __dunder__(self) -> str:
        return "should be allowed (dunder)"

    def shutdown(self) -> None:
        """stop the server (after this call has been answered: within POLL_TIMEOUT)"""
        self._say("shutting down")
        self._must_shutdown = True

    @property
    def verbose(self) -> bool:
        return self._verbose

    @verbose.setter
    def verbose(self, onoff: bool) -> None:
        self._verbose = bool(onoff)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("-H", "--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    ap.add_argument("-p", "--port", type=int, default=0, help="port (default: a free one)")
    ap.add_argument("-u", "--unixsocket", help="serve on this unix domain socket instead")
    ap.add_argument("-n", "--naming", action="store_true", help="register with the name server")
    ap.add_argument("-N", "--nameserver", action="store_true", help="also start a name server")
    ap.add_argument("-v", "--verbose", action="store_true", help="print what is called")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    ap.add_argument("-k", "--key", help="refused: HMAC keys are not supported (use CURVE)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None, returnWithoutLooping: bool = False) -> Any:  # noqa: N803
    """Run the echo server; with `returnWithoutLooping` (Pyro's) return ``(daemon, echo, uri)``
    instead of serving."""
    args = parse_args(argv)
    if args.key or os.environ.get("PYRO_HMAC_KEY"):
        print(f"{PROG}: {'-k' if args.key else 'PYRO_HMAC_KEY'}: {HMAC_REFUSED}", file=sys.stderr)
        return 2
    quiet = args.quiet and not args.verbose
    if not quiet:
        print("Starting zpyro's built-in test echo server.", flush=True)
    ns_daemon = None
    if args.nameserver:
        args.naming = True
        ns_uri, ns_daemon, _ = start_ns(args.host, config.NS_PORT, enableBroadcast=False)
        threading.Thread(target=ns_daemon.requestLoop, name="zpyro-echo-ns", daemon=True).start()
    daemon = Daemon(host=args.host, port=args.port, unixsocket=args.unixsocket)
    echo = EchoServer(args.verbose)
    if not returnWithoutLooping:  # before the lines that tell a script it may go on
        signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
        signal.signal(signal.SIGINT, lambda *_: daemon.shutdown())
    uri = daemon.register(echo, OBJECT_ID)
    if args.naming:
        where = URI(ns_uri) if ns_daemon is not None else None
        try:
            ns = locate_ns(where.host if where else None, where.port if where else None)
            ns.register(OBJECT_ID, uri)
        except errors.ZPyroError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            daemon.close()
            return 1
        if args.verbose:
            print(f"using name server at {ns._pyroUri}")
            if ns_daemon is not None:
                print("not using a broadcast server")
        ns._pyroRelease()
    elif args.verbose:
        print("not using a name server.")
    if not quiet:
        print(f"object name: {OBJECT_ID}")
        print(f"echo uri: {uri}")
        print("echoserver running.", flush=True)
    if returnWithoutLooping:
        return daemon, echo, uri
    try:
        daemon.requestLoop(lambda: not echo._must_shutdown)
    finally:
        daemon.close()
        if ns_daemon is not None:
            ns_daemon.shutdown()
            ns_daemon.close()
    if not quiet:
        print("echoserver stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
