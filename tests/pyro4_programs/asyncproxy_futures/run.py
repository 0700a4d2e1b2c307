"""Asynchronous calls (Pyro4 "async"): Pyro4.asyncproxy(proxy) switches that proxy to async
mode; calls return a FutureResult with .ready, .wait(timeout), .value, .then(...) chains (the
chain's end is what .value gives) and .iferror(handler); asyncproxy(p, False) switches back."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

gate = threading.Event()


@Pyro4.expose
class Calculator(object):
    def add(self, a, b):
        return a + b

    def add_when_released(self, a, b):
        if not gate.wait(5):
            raise RuntimeError("never released")
        return a + b

    def divide_when_released(self, a, b):
        gate.wait(5)
        return a // b

    def release(self):
        gate.set()


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Calculator(), "example.calculator")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    sync = Pyro4.Proxy(uri)
    calc = Pyro4.Proxy(uri)
    Pyro4.asyncproxy(calc)

    pending = calc.add_when_released(4, 5)
    assert not pending.wait(0.2) and not pending.ready  # the call is still running
    chained = calc.add(1, 2)
    chained.then(lambda v: v * 10).then(lambda v, extra: v + extra, 7)
    sync.release()
    assert pending.wait(20) and pending.ready and pending.value == 9
    assert chained.value == 37, chained.value  # (1 + 2) * 10 + 7

    gate.clear()
    errors = []
    failing = calc.divide_when_released(1, 0)
    failing.iferror(errors.append)
    sync.release()
    assert failing.wait(20)
    try:
        failing.value
        raise SystemExit("the remote ZeroDivisionError was not raised by .value")
    except ZeroDivisionError:
        pass
    assert len(errors) == 1 and isinstance(errors[0], ZeroDivisionError), errors

    calc._pyroAsync(False)  # the Proxy method does the same as asyncproxy(calc, False)
    assert calc.add(2, 2) == 4
    calc._pyroAsync()
    assert calc.add(3, 3).value == 6
    Pyro4.asyncproxy(calc, asynchronous=False)
    assert calc.add(4, 4) == 8
finally:
    daemon.shutdown()
print("OK")
