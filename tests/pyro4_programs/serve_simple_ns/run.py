"""The tutorial's warehouse, phase 3: a name server (python -m Pyro4.naming), a server using
serveSimple(ns=True), and a client that finds it as PYRONAME:example.warehouse."""

import signal
import subprocess
import sys
from pathlib import Path

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


def read_until(proc, prefix):
    for line in proc.stdout:
        if line.startswith(prefix):
            return line
    raise SystemExit("process ended before printing %r" % prefix)


started = []
try:
    ns = subprocess.Popen(
        [sys.executable, "-u", "-m", "Pyro4.naming", "-n", "127.0.0.1", "-p", "0", "-x"],
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(ns)
    ns_uri = Pyro4.URI(read_until(ns, "URI = ").split("=", 1)[1].strip())
    server = subprocess.Popen(
        [sys.executable, "-u", str(Path(__file__).with_name("server.py")), str(ns_uri.port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(server)
    print(read_until(server, "    name = example.warehouse").rstrip())
    read_until(server, "Pyro daemon running.")

    warehouse = Pyro4.Proxy("PYRONAME:example.warehouse@127.0.0.1:%d" % ns_uri.port)
    assert "bike" in warehouse.list_contents()
    print(warehouse.take("Janet", "bike"))
    print(warehouse.store("Henry", "wrench"))
    assert "wrench" in warehouse.list_contents() and "bike" not in warehouse.list_contents()

    Pyro4.config.NS_HOST = "127.0.0.1"  # a plain PYRONAME: uses the configured name server
    Pyro4.config.NS_PORT = ns_uri.port
    with Pyro4.Proxy("PYRONAME:example.warehouse") as same:
        assert "wrench" in same.list_contents()  # one instance for all: instance_mode single
finally:
    for proc in reversed(started):
        proc.terminate()
        proc.wait(10)
print("OK")
