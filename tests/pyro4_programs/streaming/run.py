"""Streaming results (Pyro4 "streaming"): a method returning a generator or iterator gives the
caller an iterator whose items arrive as the server produces them; close() ends it early."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

next_event = threading.Event()
closed = threading.Event()


@Pyro4.expose
class Feed(object):
    def numbers(self, count):
        return iter(range(count))

    def squares(self, count):
        for i in range(count):
            yield i * i

    def live(self):
        """Yields an item whenever something happens (here: whenever tick() is called)."""
        for number in range(3):
            yield "event %d" % number
            if not next_event.wait(10):
                return
            next_event.clear()

    def tick(self):
        next_event.set()

    def endless(self):
        try:
            number = 0
            while True:
                yield number
                number += 1
        finally:
            closed.set()


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Feed(), "example.feed")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as feed, Pyro4.Proxy(uri) as control:
        assert list(feed.numbers(1000)) == list(range(1000))
        assert sum(feed.squares(100)) == sum(i * i for i in range(100))

        events = feed.live()
        assert next(events) == "event 0"  # delivered while the generator waits for the next one
        control.tick()
        assert next(events) == "event 1"
        control.tick()
        assert next(events) == "event 2"
        control.tick()
        assert list(events) == []

        endless = feed.endless()
        assert [next(endless) for _ in range(5)] == [0, 1, 2, 3, 4]
        endless.close()
        assert closed.wait(20), "closing the iterator did not end the server's generator"
finally:
    daemon.shutdown()
print("OK")
