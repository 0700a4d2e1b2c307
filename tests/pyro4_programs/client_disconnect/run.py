"""Daemon.clientDisconnect(conn): called for each client connection that goes away (released
proxy, closed process), with the same conn that validateHandshake saw."""

import signal
import subprocess
import sys
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

changed = threading.Condition()
connected = set()
disconnects = []


class CountingDaemon(Pyro4.Daemon):
    def validateHandshake(self, conn, data):
        with changed:
            connected.add(conn)
        return super(CountingDaemon, self).validateHandshake(conn, data)

    def clientDisconnect(self, conn):
        with changed:
            disconnects.append(conn in connected)
            connected.discard(conn)
            changed.notify_all()


@Pyro4.expose
class Echo(object):
    def echo(self, x):
        return x


daemon = CountingDaemon(host="127.0.0.1")
uri = daemon.register(Echo(), "example.echo")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    first = Pyro4.Proxy(uri)
    assert first.echo(1) == 1
    first._pyroRelease()
    with changed:
        assert changed.wait_for(lambda: len(disconnects) == 1, timeout=20), disconnects
    # a client process that just ends
    code = subprocess.call(
        [sys.executable, "-c", "import Pyro4, sys; Pyro4.Proxy(sys.argv[1]).echo(2)", str(uri)]
    )
    assert code == 0
    with changed:
        assert changed.wait_for(lambda: len(disconnects) == 2, timeout=20), disconnects
    assert disconnects == [True, True] and not connected, (disconnects, connected)
finally:
    daemon.shutdown()
print("OK")
