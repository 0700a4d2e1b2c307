"""Exceptions (Pyro4 "exceptions"): a remote exception is raised in the caller as the same
builtin type, with the remote traceback available (Pyro4.util.getPyroTraceback, the
exception's _pyroTraceback, Pyro4.util.excepthook); DETAILED_TRACEBACK adds local variables."""

import signal
import sys
import threading

import Pyro4
import Pyro4.errors
import Pyro4.util


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Troublemaker(object):
    def divide(self, a, b):
        secret_number = 4242
        return a // b + secret_number

    def lookup(self, key):
        return {}[key]

    def pyro_error(self):
        raise Pyro4.errors.NamingError("a Pyro error type travels too")


Pyro4.config.DETAILED_TRACEBACK = True  # the daemon below reports local variables
daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Troublemaker(), "example.trouble")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
sys.excepthook = Pyro4.util.excepthook  # uncaught remote errors print both tracebacks
try:
    with Pyro4.Proxy(uri) as trouble:
        try:
            trouble.divide(1, 0)
            raise SystemExit("no ZeroDivisionError")
        except ZeroDivisionError as x:
            text = "".join(Pyro4.util.getPyroTraceback())
            remote = "".join(x._pyroTraceback)
        print(text)
        assert "Remote traceback" in text and "divide" in text, text
        assert "divide" in remote and "secret_number = 4242" in remote, remote  # detailed: locals
        try:
            trouble.lookup("missing")
        except KeyError as x:
            assert x.args == ("missing",)
            assert "lookup" in "".join(Pyro4.util.getPyroTraceback(*sys.exc_info()))
        try:
            trouble.pyro_error()
        except Pyro4.errors.NamingError as x:
            assert str(x) == "a Pyro error type travels too"
        try:
            trouble.no_such_method()
        except AttributeError as x:
            print("unknown method:", x)
            local = "".join(Pyro4.util.formatTraceback(*sys.exc_info(), detailed=False))
            assert "AttributeError" in local
finally:
    daemon.shutdown()
print("OK")
