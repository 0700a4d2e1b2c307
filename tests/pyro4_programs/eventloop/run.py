"""Your own event loop (Pyro4 "eventloop"): a name server daemon and an object daemon served by
one select() loop over their .sockets, handing ready sockets to .events(); the loop also
watches a socket of its own."""

import select
import signal
import socket
import threading

import Pyro4
import Pyro4.naming


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Counter(object):
    def __init__(self):
        self.count = 0

    def increment(self):
        self.count += 1
        return self.count


ns_uri, ns_daemon, _ = Pyro4.naming.startNS(host="127.0.0.1", port=0, enableBroadcast=False)
daemon = Pyro4.Daemon(host="127.0.0.1")
counter_uri = daemon.register(Counter(), "example.counter")
ns_daemon.nameserver.register("example.counter", counter_uri)  # the NS object, in-process
stop_reader, stop_writer = socket.socketpair()


def client():
    try:
        with Pyro4.Proxy("PYRONAME:example.counter@127.0.0.1:%d" % ns_uri.port) as counter:
            results.extend(counter.increment() for _ in range(5))
    finally:
        stop_writer.send(b"x")


results = []
client_thread = threading.Thread(target=client)
client_thread.start()
loops = 0
while True:
    ns_sockets = set(ns_daemon.sockets)
    daemon_sockets = set(daemon.sockets)
    ready, _, _ = select.select(list(ns_sockets | daemon_sockets) + [stop_reader], [], [], 2.0)
    loops += 1
    if stop_reader in ready:
        break
    for_ns = [s for s in ready if s in ns_sockets]
    for_daemon = [s for s in ready if s in daemon_sockets]
    if for_ns:
        ns_daemon.events(for_ns)
    if for_daemon:
        daemon.events(for_daemon)
client_thread.join(20)
daemon.close()
ns_daemon.close()
assert results == [1, 2, 3, 4, 5], results
print("event loop turns:", loops)
print("OK")
