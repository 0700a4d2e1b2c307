"""Pyro4.Future: run any callable (a local function or a proxy method) in the background, with
then() chains, iferror(), delay() and cancel(); calling it gives a FutureResult."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


def multiply(a, b):
    return a * b


def fail(message):
    raise ValueError(message)


@Pyro4.expose
class Remote(object):
    def square(self, x):
        return x * x


future = Pyro4.Future(multiply)
future.then(lambda v: v + 1).then(lambda v, extra: v * extra, 2)
result = future(5, 6)
assert result.value == 62, result.value  # (5 * 6 + 1) * 2
try:
    future(1, 1)
    raise SystemExit("a future ran twice")
except RuntimeError:
    pass

errors = []
failing = Pyro4.Future(fail).iferror(errors.append)
outcome = failing("broken on purpose")
assert outcome.wait(20)
try:
    outcome.value
    raise SystemExit("the error was not raised by .value")
except ValueError:
    pass
assert [str(e) for e in errors] == ["broken on purpose"], errors

later = Pyro4.Future(multiply)
assert later.delay(0.3)
assert later(2, 3).value == 6
assert not later.delay(1)  # already evaluated

never = Pyro4.Future(multiply)
never.delay(30)
pending = never(1, 2)
assert never.cancel()
try:
    pending.value
    raise SystemExit("a cancelled future gave a value")
except RuntimeError as x:
    print("cancelled:", x)

daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Remote())
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as remote:
        remote_future = Pyro4.Future(remote.square).then(lambda v: v + 1)
        assert remote_future(9).value == 82
finally:
    daemon.shutdown()
print("OK")
