"""A caller for the multi-host tests: makes the calls it reads on stdin, prints each outcome.

usage: netns_caller.py NS_HOST NS_PORT NAME [TIMEOUT]

NS_HOST may list a broker pair, ``HOST:PORT,HOST:PORT`` (NS_PORT is then only a default).
Commands, one a line (ARGS is an optional JSON list of positional arguments):

    TAG call METHOD [ARGS]   call METHOD of PYRONAME:NAME@NS_HOST:NS_PORT (the pool)
    TAG ns METHOD [ARGS]     call METHOD of the name server at NS_HOST:NS_PORT
    TAG barrier              ping the broker over the pool proxy's own connection
    TAG pair HOST:PORT       PING that broker: the "pair" object of its PONG (a broker of a pair)
    TAG at HOST:PORT METHOD [ARGS]   call METHOD of the name server at that one address only

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

import zmq

import zpyro
from zpyro import wire
from zpyro.naming import ns_location
from zpyro.wire import NAMESERVER_ID


class Caller:
    def __init__(self, host: str, port: int, name: str, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.pool = zpyro.Proxy(f"PYRONAME:{name}@{ns_location(host, port)}")
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
            if command == "pair":
                self.report(tag, True, pair_state(words[2], self.timeout))
                return
            if command == "at":
                method, _, raw = (words[3] if len(words) > 3 else "").partition(" ")
                at = zpyro.Proxy(f"PYRO:{NAMESERVER_ID}@{words[2]}")
                at._pyroTimeout = self.timeout
                try:
                    value = getattr(at, method)(*(json.loads(raw) if raw else []))
                finally:
                    at._pyroRelease()
                self.report(tag, True, value)
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


def pair_state(location: str, timeout: float) -> Any:
    """The "pair" object a broker's PONG carries (a PING never makes a broker take over)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.rcvtimeo = int(timeout * 1000)
    try:
        sock.connect(f"tcp://{location}")
        sock.send_multipart(wire.encode(wire.PING, 0, 0, 1, "", ""))
        msg = wire.decode(sock.recv_multipart())
        return json.loads(msg.payload)["pair"]
    finally:
        sock.close(linger=0)


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
