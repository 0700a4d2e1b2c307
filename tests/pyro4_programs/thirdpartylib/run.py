"""Serving a class you cannot decorate (Pyro4 "thirdpartylib"): Pyro4.expose(cls) called as a
function; or, for old code, REQUIRE_EXPOSE = False exposes every public member."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class LibraryThing(object):  # imagine it comes from a library you do not control
    def __init__(self):
        self.count = 0

    def increment(self):
        self.count += 1
        return self.count

    def _internal(self):
        return "private"


class OldStyle(object):  # a Pyro4 < 4.46 class without any @expose
    def answer(self):
        return 42


Exposed = Pyro4.expose(LibraryThing)
daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Exposed(), "example.library")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as thing:
        assert thing.increment() == 1 and thing.increment() == 2
        try:
            thing._internal()
            raise SystemExit("a private method was reachable")
        except AttributeError:
            pass
finally:
    daemon.shutdown()

Pyro4.config.REQUIRE_EXPOSE = False
old_daemon = Pyro4.Daemon(host="127.0.0.1")
old_uri = old_daemon.register(OldStyle(), "example.old")
threading.Thread(target=old_daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(old_uri) as old:
        assert old.answer() == 42
finally:
    old_daemon.shutdown()
print("OK")
