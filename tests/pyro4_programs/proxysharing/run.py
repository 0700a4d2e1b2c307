"""Sharing a proxy between threads (Pyro4 "proxysharing"): many threads call through one proxy
(Pyro4 serialises them on its connection); a copy.copy of a proxy has a connection of its own."""

import copy
import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Adder(object):
    def add(self, a, b):
        return a + b


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Adder(), "example.adder")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    shared = Pyro4.Proxy(uri)
    failures = []

    def work(proxy, offset):
        for i in range(50):
            if proxy.add(i, offset) != i + offset:
                failures.append((i, offset))

    threads = [threading.Thread(target=work, args=(shared, n)) for n in range(4)]
    threads += [threading.Thread(target=work, args=(copy.copy(shared), n)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures and not any(t.is_alive() for t in threads), failures
    twin = copy.copy(shared)
    assert twin == shared and twin is not shared and twin._pyroUri == shared._pyroUri
finally:
    daemon.shutdown()
print("OK")
