"""Idle clients dropped by the server (Pyro4 "disconnects"): a daemon with COMMTIMEOUT closes
connections that stay idle longer than that; the client sees ConnectionClosedError, and a
proxy subclass that reconnects and retries makes it transparent."""

import signal
import subprocess
import sys
import time

import Pyro4
import Pyro4.errors


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

SERVER = """
import signal, Pyro4
signal.alarm(60)
Pyro4.config.COMMTIMEOUT = 0.5  # the daemon drops connections idle for longer than this

@Pyro4.expose
class Echo(object):
    def echo(self, x):
        return x

daemon = Pyro4.Daemon(host="127.0.0.1")
print("uri:", daemon.register(Echo(), "example.echo"), flush=True)
daemon.requestLoop()
"""


class AutoReconnectingProxy(Pyro4.Proxy):
    def _pyroInvoke(self, *args, **kwargs):
        try:
            return super(AutoReconnectingProxy, self)._pyroInvoke(*args, **kwargs)
        except Pyro4.errors.ConnectionClosedError:
            print("  (reconnecting)")
            self._pyroReconnect()
            return super(AutoReconnectingProxy, self)._pyroInvoke(*args, **kwargs)


server = subprocess.Popen([sys.executable, "-u", "-c", SERVER], stdout=subprocess.PIPE, text=True)
try:
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not start: %r" % line)
    uri = line.split()[1]
    plain = Pyro4.Proxy(uri)
    assert plain.echo(1) == 1
    time.sleep(1.5)  # idle: the server drops the connection
    try:
        plain.echo(2)
        raise SystemExit("the idle connection was not dropped by the server")
    except Pyro4.errors.ConnectionClosedError as x:
        print("dropped:", x)

    patient = AutoReconnectingProxy(uri)
    assert patient.echo(3) == 3
    time.sleep(1.5)
    assert patient.echo(4) == 4  # reconnected by the subclass
finally:
    server.terminate()
    server.wait(10)
print("OK")
