"""Reconnecting (Pyro4 "autoreconnect"): the server dies between calls; the next call raises
ConnectionClosedError (every time); proxy._pyroReconnect() keeps trying until the server is
back on the same URI (the first time it is restarted only a moment later), and calls work again."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import Pyro4
import Pyro4.errors


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)
servers = []


def start_server(port, generation):
    server = subprocess.Popen(
        [sys.executable, "-u", str(Path(__file__).with_name("server.py")), str(port), generation],
        stdout=subprocess.PIPE,
        text=True,
    )
    servers.append(server)
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not start: %r" % line)
    return Pyro4.URI(line.split()[1])


try:
    uri = start_server(0, "1")
    service = Pyro4.Proxy(uri)
    assert service.generation() == 1
    for generation in range(2, 7):  # several rounds: the next call must fail the same way each time
        servers[-1].terminate()
        servers[-1].wait(10)
        time.sleep(0.3)  # some time passes between the server's death and the next call
        try:
            service.generation()
            raise SystemExit("a call to a dead server did not fail")
        except Pyro4.errors.ConnectionClosedError as x:
            print("connection lost:", x)

        def restart(delay, generation):
            time.sleep(delay)  # the first time, the server takes a while to come back
            start_server(uri.port, str(generation))

        delay = 1.0 if generation == 2 else 0.0
        restarter = threading.Thread(target=restart, args=(delay, generation))
        restarter.start()
        if generation > 2:
            restarter.join()
        service._pyroReconnect()  # retries until the server is back on the same URI
        assert service.generation() == generation
        restarter.join()
finally:
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(10)
print("OK")
