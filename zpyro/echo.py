"""``zpyro-echo``: a small server to try zpyro against (like Pyro's echo server).

Prints ``echo server uri: PYRO:...`` and then ``READY`` once it serves, so scripts and tests can
wait for it. Stops on SIGTERM/SIGINT or when a client calls ``shutdown()``.
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

from .exposure import expose, oneway
from .server import Daemon

OBJECT_ID = "test.echoserver"


@expose
class EchoServer:
    """Echoes what it is given; a few extra methods to exercise errors, slowness, oneway."""

    def __init__(self, daemon: Daemon, verbose: bool = False) -> None:
        self._daemon = daemon
        self._verbose = verbose
        self._lock = threading.Lock()
        self._oneway_count = 0

    def echo(self, message: Any) -> Any:
        if self._verbose:
            print(f"echo: {message!r}", flush=True)
        return message

    def error(self) -> None:
        raise ValueError("this is the generated error from echoserver echo() method")

    def slow(self, seconds: float = 1.0) -> str:
        time.sleep(seconds)
        return f"slept {seconds}"

    def pid(self) -> int:
        return os.getpid()

    def generator(self) -> Iterator[str]:
        return iter(["one", "two", "three"])

    @oneway
    def oneway_echo(self, message: Any) -> None:
        with self._lock:
            self._oneway_count += 1
        if self._verbose:
            print(f"oneway_echo: {message!r}", flush=True)

    def oneway_count(self) -> int:
        with self._lock:
            return self._oneway_count

    @oneway
    def shutdown(self) -> None:
        self._daemon.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zpyro-echo", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=0, help="port (default: random)")
    parser.add_argument("-u", "--unixsocket", help="serve on this unix domain socket instead")
    parser.add_argument("-v", "--verbose", action="store_true", help="print what is echoed")
    args = parser.parse_args(argv)

    daemon = Daemon(host=args.host, port=args.port, unixsocket=args.unixsocket)
    uri = daemon.register(EchoServer(daemon, args.verbose), OBJECT_ID)
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
    signal.signal(signal.SIGINT, lambda *_: daemon.shutdown())
    print(f"echo server uri: {uri}", flush=True)
    print("READY", flush=True)
    try:
        # a short loop timeout keeps the main thread responsive to signals
        daemon.request_loop()
    finally:
        daemon.close()
    print("echo server stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
