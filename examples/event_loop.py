"""Serve zpyro objects from your own event loop.

A program that already polls its own sockets does not need ``daemon.request_loop()``: it adds
``daemon.sockets`` to its ``zmq.Poller`` and hands whatever is ready to ``daemon.events(ready)``,
which processes the daemon's part without blocking. Here the same loop also serves a plain
ZeroMQ PULL socket of the program's own, and stops once both have seen all their traffic.
"""

import threading
import time

import zmq

import zpyro


@zpyro.expose
class Thermometer:
    def __init__(self):
        self.readings = []

    def record(self, celsius):
        self.readings.append(celsius)
        return len(self.readings)

    def average(self):
        return sum(self.readings) / len(self.readings)


def client(uri, pull_endpoint, ctx):
    """Runs in its own thread: talks to the daemon through a proxy and to the PULL socket."""
    with zpyro.Proxy(uri) as thermometer:
        for celsius in (19.5, 21.0, 22.5):
            count = thermometer.record(celsius)
            print(f"client: recorded {celsius} C ({count} readings so far)")
        print(f"client: average is {thermometer.average():.1f} C")
    push = ctx.socket(zmq.PUSH)
    push.connect(pull_endpoint)
    push.send_string("client done")
    push.close(linger=1000)


def main():
    ctx = zmq.Context.instance()
    pull = ctx.socket(zmq.PULL)  # a socket of the program's own, next to the daemon's
    port = pull.bind_to_random_port("tcp://127.0.0.1")

    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Thermometer(), "example.thermometer")
    print("server: serving", uri, "from my own zmq.Poller loop")

    poller = zmq.Poller()
    daemon_sockets = daemon.sockets
    for sock in daemon_sockets:  # a zmq socket and a file descriptor
        poller.register(sock, zmq.POLLIN)
    poller.register(pull, zmq.POLLIN)

    thread = threading.Thread(target=client, args=(uri, f"tcp://127.0.0.1:{port}", ctx))
    thread.start()

    running = True
    deadline = time.monotonic() + 10
    while running and time.monotonic() < deadline:
        ready = dict(poller.poll(timeout=200))
        daemon_ready = {sock: ev for sock, ev in ready.items() if sock in daemon_sockets}
        if daemon_ready:
            daemon.events(daemon_ready)  # never blocks: calls run on the daemon's worker pool
        if pull in ready:
            print("server: my own socket says:", pull.recv_string())
            running = False

    thread.join(5)
    daemon.close()
    pull.close(linger=0)
    print("server: loop ended, daemon closed")


if __name__ == "__main__":
    main()
