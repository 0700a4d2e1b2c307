"""Oneway calls (Pyro4 "oneway"): @Pyro4.oneway methods return at once while the server still
works (ONEWAY_THREADED: the same connection serves the next call meanwhile); a client can mark
a method oneway itself with proxy._pyroOneway.add(name)."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

started, release, finished = threading.Event(), threading.Event(), threading.Event()
logged = []


@Pyro4.expose
class Worker(object):
    @Pyro4.oneway
    def long_job(self):
        started.set()
        if release.wait(20):
            finished.set()
        return "nobody gets this"

    def release_job(self):
        release.set()
        return "released"

    def log(self, line):
        logged.append(line)
        return "the caller does not wait for this either"


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Worker(), "example.worker")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as worker:
        assert worker.long_job() is None  # returns while the job waits for release_job()
        assert started.wait(20)
        assert not finished.is_set()
        assert worker.release_job() == "released"  # same proxy, same connection
        assert finished.wait(20)

        worker._pyroOneway.add("log")
        assert worker.log("a line") is None
        worker._pyroOneway.discard("log")
        assert worker.log("another") == "the caller does not wait for this either"
    assert logged == ["a line", "another"], logged
finally:
    daemon.shutdown()
print("OK")
