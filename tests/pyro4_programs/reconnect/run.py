"""Reconnecting (Pyro4 "autoreconnect"): a client holds proxies to a few servers; they all go
down between calls (a redeployment, say). Each proxy's next call raises ConnectionClosedError;
proxy._pyroReconnect() keeps trying until its server is back on the same URI (they come back
only a moment later), and calls work again."""

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
SERVERS = 4
servers = []


def start_servers(ports, generation):
    started = [
        subprocess.Popen(
            [
                sys.executable,
                "-u",
                str(Path(__file__).with_name("server.py")),
                str(port),
                generation,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]
    servers.extend(started)
    uris = []
    for server in started:
        line = server.stdout.readline()
        if not line.startswith("uri:"):
            raise SystemExit("server did not start: %r" % line)
        uris.append(Pyro4.URI(line.split()[1]))
    return uris


def stop_all():
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(10)


try:
    uris = start_servers([0] * SERVERS, "1")
    proxies = [Pyro4.Proxy(uri) for uri in uris]
    assert [p.generation() for p in proxies] == [1] * SERVERS
    stop_all()
    time.sleep(0.3)  # some time passes between the servers' end and the next calls
    for proxy in proxies:
        try:
            proxy.generation()
            raise SystemExit("a call to a dead server did not fail")
        except Pyro4.errors.ConnectionClosedError as x:
            print("connection lost:", x)
            # exactly the error Pyro's reconnect idiom catches (not an internal subclass)
            assert type(x) is Pyro4.errors.ConnectionClosedError, type(x)

    def restart_later():
        time.sleep(1.0)  # the servers take a while to come back
        start_servers([uri.port for uri in uris], "2")

    restarter = threading.Thread(target=restart_later)
    restarter.start()
    for proxy in proxies:
        proxy._pyroReconnect()  # retries until its server is back on the same URI
    assert [p.generation() for p in proxies] == [2] * SERVERS
    restarter.join()
finally:
    stop_all()
print("OK")
