"""Futures: call without waiting, collect the result later (Pyro4's async calls and Futures).

``zpyro.asyncproxy(proxy)`` (or ``proxy._pyroAsync()``) switches a proxy to asynchronous mode:
its calls return at once with a ``zpyro.Future``, a ``concurrent.futures.Future`` that also has
Pyro4's ``.value`` (blocks for the result), ``.ready``, ``.wait(timeout)``, ``.then(fn)`` (chain
a function onto the result: ``.value`` becomes the chain's end) and ``.iferror(handler)``. Many
calls can be outstanding on one proxy at the same time, on its one connection.

``zpyro.Future(fn)`` is Pyro4's local future: ``Future(fn)(args)`` runs ``fn`` in the background
(with ``then``, ``iferror``, ``delay`` and ``cancel``) and gives a ``zpyro.Future`` of its result.
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
        with zpyro.Proxy(uri) as calculator:
            zpyro.asyncproxy(calculator)  # from now on its calls return Futures
            future = calculator.slow_square(7)
            print("called slow_square(7); result ready?", future.ready)
            print("result there within 0.1 s?", future.wait(0.1))
            print("meanwhile the client does other things...")
            print("slow_square(7).value =", future.value)  # blocks until it is there

            # .then(fn) chains work onto the result itself: its value is the chain's end
            chained = calculator.slow_square(3, 0.1)
            chained.then(lambda n: n + 1).then(lambda n, suffix: f"{n}{suffix}", "!")
            print("slow_square(3) then +1 then with '!' ->", repr(chained.value))

            # a remote exception is raised by .value / .result(); iferror() is told of it
            failed = calculator.divide(1, 0)
            told = threading.Event()
            failed.iferror(
                lambda exc: (print("iferror handler got", type(exc).__name__), told.set())
            )
            told.wait(5)
            print("divide(1, 0) failed with", type(failed.exception(timeout=5)).__name__)

            # several calls outstanding on one proxy; they work with concurrent.futures
            start = time.perf_counter()
            futures = {calculator.slow_square(n, 0.3): n for n in range(1, 6)}
            for done in concurrent.futures.as_completed(futures, timeout=5):
                print(f"  square of {futures[done]} is {done.result()}")
            elapsed = time.perf_counter() - start
            print(f"5 calls of 0.3 s each, all outstanding at once, took {elapsed:.2f} s")

            zpyro.asyncproxy(calculator, asynchronous=False)  # and back to plain calls
            print("plain call again: slow_square(4, 0) =", calculator.slow_square(4, 0))

            # a local future: any callable (here a proxy method) run in the background
            later = zpyro.Future(calculator.slow_square).then(lambda n: n * 2)
            later.delay(0.2)
            result = later(5, 0)
            print("Future(slow_square).then(x2), delayed 0.2 s ->", result.value)
            never = zpyro.Future(calculator.slow_square)
            never.delay(60)
            pending = never(6)
            print("cancelled before it ran:", never.cancel())
            try:
                print(pending.value)
            except RuntimeError as exc:
                print("its result says:", exc)
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
