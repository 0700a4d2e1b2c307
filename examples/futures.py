"""Futures: call without waiting, collect the result later.

``zpyro.asyncproxy(proxy)`` (or ``proxy._pyroAsync()``) gives a proxy whose calls return at once
with a ``zpyro.Future``: a ``concurrent.futures.Future`` that also has Pyro4's ``.value``
(blocks for the result), ``.ready``, ``.wait(timeout)`` and ``.then(fn)`` (chain a function onto
the result). Many calls can be outstanding on one proxy at the same time.
"""

import concurrent.futures
import threading
import time

import zpyro


@zpyro.expose
class Calculator:
    def slow_square(self, x, seconds=0.5):
        time.sleep(seconds)  # pretend this is hard work
        return x * x

    def divide(self, a, b):
        return a / b


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Calculator(), "example.calculator")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        # asyncproxy() gives a copy of the proxy whose calls return Futures
        with zpyro.asyncproxy(zpyro.Proxy(uri)) as calculator:
            future = calculator.slow_square(7)
            print("called slow_square(7); result ready?", future.ready)
            print("result there within 0.1 s?", future.wait(0.1))
            print("meanwhile the client does other things...")
            print("slow_square(7).value =", future.value)  # blocks until it is there

            # .then(fn) chains work onto the result; each step gives a new Future
            chained = calculator.slow_square(3, 0.1).then(lambda n: n + 1).then(str)
            print("slow_square(3) then +1 then str ->", repr(chained.value))

            # a remote exception is raised by .value / .result(), or given by .exception()
            failed = calculator.divide(1, 0)
            print("divide(1, 0) failed with", type(failed.exception(timeout=5)).__name__)

            # several calls outstanding on one proxy; they work with concurrent.futures
            start = time.perf_counter()
            futures = {calculator.slow_square(n, 0.3): n for n in range(1, 6)}
            for done in concurrent.futures.as_completed(futures, timeout=5):
                print(f"  square of {futures[done]} is {done.result()}")
            elapsed = time.perf_counter() - start
            print(f"5 calls of 0.3 s each, all outstanding at once, took {elapsed:.2f} s")
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
