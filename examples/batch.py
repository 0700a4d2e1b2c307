"""Batched calls: queue up many calls and send them in one message.

``zpyro.BatchProxy(proxy)`` (also ``zpyro.batch(proxy)``) records calls instead of making them.
Calling the batch sends them all in one message and returns an iterator over the results, in
order; a call that failed raises its exception when its result is reached. ``batch(oneway=True)``
does not wait for results at all, and ``batch(asynchronous=True)`` returns a ``zpyro.Future``
of the results.
"""

import threading
import time

import zpyro


@zpyro.expose
class Thingy:
    def __init__(self):
        self.log_lines = []

    def multiply(self, a, b):
        return a * b

    def add(self, a, b):
        return a + b

    def divide(self, a, b):
        return a / b

    def log(self, line):
        self.log_lines.append(line)

    def lines_logged(self):
        return len(self.log_lines)


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Thingy(), "example.thingy")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        with zpyro.Proxy(uri) as proxy:
            batch = zpyro.BatchProxy(proxy)
            batch.multiply(7, 6)
            batch.add(1, 2)
            batch.divide(22, 7)
            batch.divide(1, 0)  # fails: raised when its result is reached
            results = batch()  # one message there, one back
            print("multiply(7, 6) =", next(results))
            print("add(1, 2) =", next(results))
            print(f"divide(22, 7) = {next(results):.4f}")
            try:
                next(results)
            except ZeroDivisionError as exc:
                print("divide(1, 0) raised ZeroDivisionError:", exc)

            # oneway: fire the whole batch and do not wait
            batch = zpyro.BatchProxy(proxy)
            for n in range(5):
                batch.log(f"line {n}")
            print("oneway batch returned", batch(oneway=True))
            deadline = time.monotonic() + 3
            while proxy.lines_logged() < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            print("lines logged by the oneway batch:", proxy.lines_logged())

            # asynchronous: a Future of the results iterator
            batch = zpyro.BatchProxy(proxy)
            for n in range(1, 5):
                batch.multiply(n, n)
            future = batch(asynchronous=True)
            print("asynchronous batch results:", list(future.value))

            # why batch: compare many single calls with the same calls in one batch
            count = 200
            start = time.perf_counter()
            for n in range(count):
                proxy.add(n, n)
            single = time.perf_counter() - start
            batch = zpyro.BatchProxy(proxy)
            for n in range(count):
                batch.add(n, n)
            start = time.perf_counter()
            total = sum(batch())
            batched = time.perf_counter() - start
            print(f"{count} calls one by one: {single:.3f} s; as one batch: {batched:.3f} s")
            print("sum of the batched results:", total)
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
