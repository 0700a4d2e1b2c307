"""A caller for the multi-host tests: makes the calls it reads on stdin, prints each outcome.

usage: netns_caller.py NS_HOST NS_PORT NAME [TIMEOUT]

Commands, one a line (ARGS is an optional JSON list of positional arguments):

    TAG call METHOD [ARGS]   call METHOD of PYRONAME:NAME@NS_HOST:NS_PORT (the pool)
    TAG ns METHOD [ARGS]     call METHOD of the name server at NS_HOST:NS_PORT
    TAG barrier              ping the broker over the pool proxy's own connection

`call` and `ns` are sent asynchronously (futures), in the order they are read, so many may be in
flight at once. `barrier` waits for its reply: the broker handles one connection's messages in
order, so once it answers, every earlier `call` has reached the broker and been forwarded.
Each command ends in one line ``TAG ok JSON`` or ``TAG err TYPE MESSAGE``. Prints
``READY <pid>`` first; exits at stdin EOF.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

import zpyro


class Caller:
    def __init__(self, host: str, port: int, name: str, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.pool = zpyro.Proxy(f"PYRONAME:{name}@{host}:{port}")
        self.pool._pyroTimeout = timeout
        self.pool._pyroAsync(True)
        self._ns: Any = None
        self._print_lock = threading.Lock()

    def report(self, tag: str, ok: bool, value: Any) -> None:
        if ok:
            line = f"{tag} ok {json.dumps(value, default=_plain)}"
        else:
            message = str(value).replace("\n", " ")
            line = f"{tag} err {type(value).__name__} {message}"
        with self._print_lock:
            print(line, flush=True)

    def run(self, line: str) -> None:
        words = line.split(None, 3)
        if len(words) < 2:
            return
        tag, command = words[0], words[1]
        try:
            if command == "barrier":
                self.pool._pyroDaemonCall("ping")
                self.report(tag, True, None)
                return
            method = words[2]
            args = json.loads(words[3]) if len(words) > 3 else []
            target = self.pool if command == "call" else self.nameserver()
            future = getattr(target, method)(*args)
        except Exception as exc:  # the outcome is what the test reads; the loop goes on
            self.report(tag, False, exc)
            return
        future.add_done_callback(lambda f: self._done(tag, f))

    def _done(self, tag: str, future: Any) -> None:
        error = future.exception()
        if error is None:
            self.report(tag, True, future.result())
        else:
            self.report(tag, False, error)

    def nameserver(self) -> Any:
        """Located at first use (and again after locating failed); it reconnects by itself."""
        if self._ns is None:
            ns = zpyro.locate_ns(self.host, self.port)
            ns._pyroTimeout = self.timeout
            ns._pyroAsync(True)
            self._ns = ns
        return self._ns


def _plain(value: Any) -> Any:
    """JSON for what the name server returns besides plain data: sets (tags) and URIs."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def main() -> None:
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    caller = Caller(host, port, name, timeout)
    print(f"READY {os.getpid()}", flush=True)
    for line in sys.stdin:
        caller.run(line.strip())


if __name__ == "__main__":
    main()
