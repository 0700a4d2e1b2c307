"""Tutorial: start greeting/server.py, call it through a Proxy by its printed URI."""

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
    [sys.executable, str(Path(__file__).with_name("server.py"))], stdout=subprocess.PIPE, text=True
)
try:
    line = server.stdout.readline()
    if not line.startswith("Ready. Object uri ="):
        raise SystemExit("server did not start: %r" % line)
    uri = line.split("=", 1)[1].strip()
    greeting_maker = Pyro4.Proxy(uri)
    fortune = greeting_maker.get_fortune("Irmen")
    print(fortune)
    assert fortune.startswith("Hello, Irmen. Here is your fortune message:"), fortune
    with Pyro4.Proxy(Pyro4.URI(uri)) as again:  # a URI object works as well as its text
        assert "12345678" in again.get_fortune("you")
finally:
    server.terminate()
    server.wait(10)
print("OK")
