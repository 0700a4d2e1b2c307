"""A client asks the server to stop; the server process ends by itself, with exit code 0."""

import signal
import subprocess
import sys
from pathlib import Path

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

server = subprocess.Popen(
    [sys.executable, "-u", str(Path(__file__).with_name("server.py"))],
    stdout=subprocess.PIPE,
    text=True,
)
try:
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not start: %r" % line)
    service = Pyro4.Proxy(line.split()[1])
    assert service.whoami() == "example.service"
    service.shutdown()
    rest = server.stdout.read()  # until the server closes its stdout: it ends by itself
    code = server.wait(20)
    print(rest.strip())
    assert "server stopped" in rest and code == 0, (code, rest)
finally:
    if server.poll() is None:
        server.terminate()
        server.wait(10)
print("OK")
