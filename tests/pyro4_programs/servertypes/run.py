"""Server types (Pyro4 "servertypes"): SERVERTYPE "thread" runs calls concurrently on a pool of
THREADPOOL_SIZE threads; "multiplex" serves from one thread. Both serve the same object."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

barrier = threading.Barrier(3, timeout=20)


@Pyro4.expose
class Meeting(object):
    def meet(self):
        """Returns only when three calls are inside at the same time."""
        barrier.wait()
        return threading.current_thread().name

    def hello(self):
        return "hello"


def serve(servertype):
    Pyro4.config.SERVERTYPE = servertype
    daemon = Pyro4.Daemon(host="127.0.0.1")
    uri = daemon.register(Meeting(), "example.meeting")
    threading.Thread(target=daemon.requestLoop, daemon=True).start()
    return daemon, uri


Pyro4.config.THREADPOOL_SIZE = 8
daemon, uri = serve("thread")
try:
    names = []
    calls = [
        threading.Thread(target=lambda: names.append(Pyro4.Proxy(uri).meet())) for _ in range(3)
    ]
    for call in calls:
        call.start()
    for call in calls:
        call.join(30)
    assert len(names) == 3, "three calls did not run at the same time"
finally:
    daemon.shutdown()

daemon, uri = serve("multiplex")
try:
    with Pyro4.Proxy(uri) as one, Pyro4.Proxy(uri) as two:
        assert one.hello() == two.hello() == "hello"
finally:
    daemon.shutdown()
print("OK")
