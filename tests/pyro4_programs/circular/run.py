"""Calls in a circle (Pyro4 "circular"): three objects in three daemons pass a message along a
ring; the message comes back to the first one while its first call is still running."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Link(object):
    def __init__(self, name):
        self.name = name
        self.next_uri = None

    def process(self, message, hops):
        message = message + [self.name]
        if hops == 0:
            return message
        with Pyro4.Proxy(self.next_uri) as next_link:
            return next_link.process(message, hops - 1)


daemons, links, uris = [], [], []
for name in ("A", "B", "C"):
    daemon = Pyro4.Daemon(host="127.0.0.1")
    link = Link(name)
    uris.append(daemon.register(link, "example.chain." + name))
    threading.Thread(target=daemon.requestLoop, daemon=True).start()
    daemons.append(daemon)
    links.append(link)
for index, link in enumerate(links):
    link.next_uri = uris[(index + 1) % 3]
try:
    with Pyro4.Proxy(uris[0]) as first:
        route = first.process([], 7)
    print(" -> ".join(route))
    assert route == ["A", "B", "C", "A", "B", "C", "A", "B"], route
finally:
    for daemon in daemons:
        daemon.shutdown()
print("OK")
