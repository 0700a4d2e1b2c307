"""serveSimple prints Pyro4's lines (Object ...: / uri = ... / Pyro daemon running.) and serves
the object under the name it was given."""

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
    lines = []
    for line in server.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Pyro daemon running."):
            break
    else:
        raise SystemExit("server ended early: %r" % lines)
    print("\n".join(lines))
    assert lines[0].startswith("Object <class "), lines
    assert lines[1].startswith("    uri = PYRO:example.calculator@127.0.0.1:"), lines
    uri = lines[1].split("=", 1)[1].strip()
    calculator = Pyro4.Proxy(uri)
    assert calculator.add(2, 40) == 42
finally:
    server.terminate()
    server.wait(10)
print("OK")
