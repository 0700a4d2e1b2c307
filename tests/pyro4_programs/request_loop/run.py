"""requestLoop(loopCondition=...) ends when the condition turns false (checked every
POLLTIMEOUT); shutdown() from another thread ends a plain requestLoop()."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

Pyro4.config.POLLTIMEOUT = 0.2  # how often the loop condition is checked
stop_requested = threading.Event()


@Pyro4.expose
class Stopper(object):
    def ping(self):
        return "pong"

    def please_stop(self):
        stop_requested.set()


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Stopper(), "stopper")
loop = threading.Thread(
    target=daemon.requestLoop, kwargs={"loopCondition": lambda: not stop_requested.is_set()}
)
loop.start()
with Pyro4.Proxy(uri) as stopper:
    assert stopper.ping() == "pong"
    stopper.please_stop()
loop.join(20)
assert not loop.is_alive(), "requestLoop did not end when its loopCondition became false"
daemon.close()

with Pyro4.Daemon(host="127.0.0.1") as other:
    other_uri = other.register(Stopper())
    loop = threading.Thread(target=other.requestLoop)
    loop.start()
    assert Pyro4.Proxy(other_uri).ping() == "pong"
    other.shutdown()
    loop.join(20)
    assert not loop.is_alive(), "requestLoop did not end after shutdown()"
print("OK")
