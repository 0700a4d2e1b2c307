"""Per-user sessions (Pyro4 "usersession"): instance_mode "session" gives each proxy its own
instance; the user token travels as a message annotation (a Proxy subclass overriding
_pyroAnnotations) and the server reads it from current_context, with the caller's address."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class UserProxy(Pyro4.Proxy):
    def __init__(self, uri, user):
        super(UserProxy, self).__init__(uri)
        self._pyroHandshake = user  # a special attribute: set before any call (no remote lookup)

    def _pyroAnnotations(self):
        return {"USER": self._pyroHandshake.encode("utf-8")}


@Pyro4.expose
@Pyro4.behavior(instance_mode="session")
class Basket(object):
    def __init__(self):
        self.items = []
        self.owner = None

    def _user(self):
        return Pyro4.current_context.annotations["USER"].decode("utf-8")

    def add(self, item):
        user = self._user()
        if self.owner is None:
            self.owner = user
        if user != self.owner:
            raise PermissionError("this basket belongs to %s" % self.owner)
        self.items.append(item)

    def contents(self):
        return self._user(), list(self.items)

    def caller(self):
        host, port = Pyro4.current_context.client_sock_addr
        return host, Pyro4.current_context.client is not None


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Basket, "example.basket")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with UserProxy(uri, "alice") as alice, UserProxy(uri, "bob") as bob:
        alice.add("apple")
        bob.add("bread")
        alice.add("avocado")
        assert alice.contents() == ("alice", ["apple", "avocado"])
        assert bob.contents() == ("bob", ["bread"])
        assert alice.caller() == ("127.0.0.1", True)
    with UserProxy(uri, "carol") as carol:  # a new connection: a new session instance
        assert carol.contents() == ("carol", [])
finally:
    daemon.shutdown()
print("OK")
