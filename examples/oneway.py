"""Oneway calls: the caller does not wait for the method to run, nor for a reply.

``@zpyro.oneway`` on the server marks a method oneway; ``proxy._pyroOneway.add(name)`` does the
same from the client side for a method the server did not mark. A oneway call returns ``None``
at once, even when the method takes a second; other calls are still answered meanwhile.
"""

import threading
import time

import zpyro


@zpyro.expose
class Worker:
    def __init__(self):
        self.done = threading.Event()
        self.log_lines = []

    @zpyro.oneway
    def process(self, seconds):
        time.sleep(seconds)  # a long job; the caller is not waiting for it
        self.done.set()

    def is_done(self):
        return self.done.is_set()

    def log(self, line):  # a normal method; the client makes it oneway for itself
        self.log_lines.append(line)
        return len(self.log_lines)

    def lines_logged(self):
        return len(self.log_lines)


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Worker(), "example.worker")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        with zpyro.Proxy(uri) as worker:
            start = time.perf_counter()
            result = worker.process(1.0)
            elapsed = time.perf_counter() - start
            print(f"oneway call returned {result!r} after {elapsed:.3f} s (the job takes 1 s)")
            print("is the job done yet?", worker.is_done())  # answered while the job runs

            worker._pyroOneway.add("log")  # client-side oneway marking
            for n in range(3):
                worker.log(f"line {n}")  # returns None, no round trip to wait for

            deadline = time.monotonic() + 3
            while not worker.is_done() and time.monotonic() < deadline:
                time.sleep(0.1)
            print("is the job done now?", worker.is_done())
            print("lines logged by oneway calls:", worker.lines_logged())
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
