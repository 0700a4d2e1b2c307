"""Batched calls (Pyro4 "batchedcalls"): Pyro4.batch(proxy) or proxy._pyroBatch() queue calls
that run as one message; the results come back as a generator (an exception raises at its
place); oneway and asynchronous batches; calls queued in a with-block run when called."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Thing(object):
    def __init__(self):
        self.counter = 0

    def add(self, a, b):
        return a + b

    def multiply(self, a, b):
        return a * b

    def divide(self, a, b):
        return a // b

    def count(self):
        self.counter += 1

    def get_counter(self):
        return self.counter


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Thing(), "example.thing")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as proxy:
        batch = Pyro4.batch(proxy)
        batch.add(1, 2)
        batch.multiply(3, 4)
        batch.divide(1, 0)
        batch.add(5, 5)  # after the failing call: not run
        results = batch()
        assert next(results) == 3 and next(results) == 12
        try:
            next(results)
            raise SystemExit("the failing call in the batch did not raise")
        except ZeroDivisionError:
            pass

        batch = proxy._pyroBatch()
        for _ in range(10):
            batch.count()
        assert batch(oneway=True) is None
        assert proxy.get_counter() == 10

        batch.add(2, 2)
        batch.multiply(2, 3)
        future = batch(asynchronous=True)
        assert list(future.value) == [4, 6]

        with Pyro4.batch(proxy) as later:
            later.add(10, 10)
            later.multiply(10, 10)
        assert list(later()) == [20, 100]  # queued in the with-block, run now
finally:
    daemon.shutdown()
print("OK")
