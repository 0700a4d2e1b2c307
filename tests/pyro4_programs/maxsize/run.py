"""Message size limits (Pyro4 "maxsize"): a client's own MAX_MESSAGE_SIZE refuses to send a
bigger call (MessageTooLargeError, a ProtocolError); a server with a limit refuses bigger
calls; 0 means no limit."""

import os
import signal
import subprocess
import sys

import Pyro4
import Pyro4.errors


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

SERVER = """
import signal, Pyro4
signal.alarm(60)

@Pyro4.expose
class Sink(object):
    def store(self, data):
        return len(data)

daemon = Pyro4.Daemon(host="127.0.0.1")
print("uri:", daemon.register(Sink(), "example.sink"), flush=True)
daemon.requestLoop()
"""


def start_server(limit):
    server = subprocess.Popen(
        [sys.executable, "-u", "-c", SERVER],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYRO_MAX_MESSAGE_SIZE=str(limit)),
    )
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not start: %r" % line)
    return server, line.split()[1]


unlimited, unlimited_uri = start_server(0)
limited, limited_uri = start_server(20000)
try:
    with Pyro4.Proxy(unlimited_uri) as sink:
        assert sink.store("x" * 3000000) == 3000000

    Pyro4.config.MAX_MESSAGE_SIZE = 2000
    with Pyro4.Proxy(unlimited_uri) as sink:
        assert sink.store("x" * 100) == 100
        try:
            sink.store("x" * 3000)
            raise SystemExit("the client sent a message over its own MAX_MESSAGE_SIZE")
        except Pyro4.errors.MessageTooLargeError as x:
            print("refused to send:", x)
            assert isinstance(x, Pyro4.errors.ProtocolError)
    Pyro4.config.MAX_MESSAGE_SIZE = 0

    with Pyro4.Proxy(limited_uri) as sink:
        assert sink.store("x" * 1000) == 1000
        try:
            sink.store("x" * 50000)
            raise SystemExit("the server took a message over its MAX_MESSAGE_SIZE")
        except Pyro4.errors.CommunicationError as x:
            print("the server refused:", type(x).__name__, x)
finally:
    for server in (unlimited, limited):
        server.terminate()
        server.wait(10)
print("OK")
