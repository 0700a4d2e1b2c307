"""Timeouts (Pyro4 "timeout"): proxy._pyroTimeout (or config.COMMTIMEOUT for new proxies) makes
a call that takes too long raise Pyro4.errors.TimeoutError; the proxy works again afterwards."""

import signal
import threading
import time

import Pyro4
import Pyro4.errors


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

released = threading.Event()


@Pyro4.expose
class Slow(object):
    def wait_for_release(self):
        return released.wait(20)

    def fast(self):
        return "fast"


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Slow(), "example.slow")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as slow:
        slow._pyroTimeout = 0.5
        start = time.time()
        try:
            slow.wait_for_release()
            raise SystemExit("no timeout")
        except Pyro4.errors.TimeoutError as x:
            print("timed out after %.1f s: %s" % (time.time() - start, x))
            assert isinstance(x, Pyro4.errors.CommunicationError)
        released.set()
        assert slow.fast() == "fast"  # usable again
        assert slow._pyroTimeout == 0.5
        slow._pyroTimeout = None
        assert slow.wait_for_release() is True

    released.clear()
    Pyro4.config.COMMTIMEOUT = 0.5
    with Pyro4.Proxy(uri) as slow:
        assert slow._pyroTimeout == 0.5
        try:
            slow.wait_for_release()
            raise SystemExit("no timeout from COMMTIMEOUT")
        except Pyro4.errors.TimeoutError:
            pass
    released.set()
finally:
    daemon.shutdown()
print("OK")
