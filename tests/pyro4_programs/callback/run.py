"""Callbacks (Pyro4 "callback"): the client runs its own daemon in a thread, registers its
callback object, and passes the object itself to the server (autoproxy makes it a proxy);
@Pyro4.callback marks methods whose exceptions also show on the callback side."""

import signal
import subprocess
import sys
import threading
from pathlib import Path

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class CallbackHandler(object):
    def __init__(self):
        self.steps = []
        self.finished = threading.Event()

    @Pyro4.expose
    def progress(self, step):
        self.steps.append(step)

    @Pyro4.expose
    @Pyro4.callback
    def failing(self):
        raise ValueError("the callback failed on purpose")

    @Pyro4.expose
    @Pyro4.oneway
    def done(self, steps):
        self.finished.set()


server = subprocess.Popen(
    [sys.executable, "-u", str(Path(__file__).with_name("server.py"))],
    stdout=subprocess.PIPE,
    text=True,
)
daemon = Pyro4.core.Daemon(host="127.0.0.1")
try:
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not start: %r" % line)
    callback = CallbackHandler()
    daemon.register(callback)
    threading.Thread(target=daemon.requestLoop, daemon=True).start()
    with Pyro4.core.Proxy(line.split()[1]) as worker:
        answer = worker.work(3, callback)
    print(answer)
    assert answer == "worked 3 steps; the callback raised 'the callback failed on purpose'"
    assert callback.steps == [0, 1, 2], callback.steps
    assert callback.finished.wait(20), "the oneway done() callback never came"
finally:
    daemon.shutdown()
    server.terminate()
    server.wait(10)
print("OK")
