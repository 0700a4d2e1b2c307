"""Automatic retries (Pyro4 "autoretry"): with config.MAX_RETRIES (or proxy._pyroMaxRetries) a
call whose connection the server dropped (its COMMTIMEOUT) is retried on a new connection, and
so is a call that timed out."""

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
import signal, time, Pyro4
signal.alarm(60)
Pyro4.config.COMMTIMEOUT = 0.5

@Pyro4.expose
class Counter(object):
    def __init__(self):
        self.count = 0

    def increment(self):
        self.count += 1
        return self.count

    def slow_first_time(self):
        self.count += 1
        if self.count == 1:
            time.sleep(3)  # longer than the client's timeout: its retry comes meanwhile
            return "first"
        return "retried"

daemon = Pyro4.Daemon(host="127.0.0.1")
print("uri:", daemon.register(Counter(), "example.counter"), flush=True)
daemon.requestLoop()
"""

server = subprocess.Popen([sys.executable, "-u", "-c", SERVER], stdout=subprocess.PIPE, text=True)
try:
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not start: %r" % line)
    uri = line.split()[1]

    Pyro4.config.MAX_RETRIES = 2
    counter = Pyro4.Proxy(uri)
    assert counter._pyroMaxRetries == 2
    assert counter.increment() == 1
    time.sleep(1.5)  # the server drops the idle connection
    assert counter.increment() == 2  # retried transparently

    no_retries = Pyro4.Proxy(uri)
    no_retries._pyroMaxRetries = 0
    assert no_retries.increment() == 3
    time.sleep(1.5)
    try:
        no_retries.increment()
        raise SystemExit("without retries the dropped connection did not show")
    except Pyro4.errors.ConnectionClosedError:
        pass

    server.terminate()
    server.wait(10)
    server = subprocess.Popen(
        [sys.executable, "-u", "-c", SERVER], stdout=subprocess.PIPE, text=True
    )
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not restart: %r" % line)
    patient = Pyro4.Proxy(line.split()[1])
    patient._pyroTimeout = 1.0
    patient._pyroMaxRetries = 1
    assert patient.slow_first_time() == "retried"  # the timed-out call was made again
finally:
    server.terminate()
    server.wait(10)
print("OK")
