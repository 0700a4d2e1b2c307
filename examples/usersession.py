"""Per-user sessions: who the user is travels with every call; each connection has its own
instance.

As Pyro's "usersession" example: a ``Proxy`` subclass adds the user's token to every call's
annotations (``_pyroAnnotations``), a class registered with ``instance_mode="session"`` gets one
instance per connected proxy, and the served method reads ``current_context``: the annotations,
the caller's address (``client_sock_addr``) and connection (``client``, Pyro's ``conn``).
"""

import threading

import zpyro


class UserProxy(zpyro.Proxy):
    def __init__(self, uri, user):
        super().__init__(uri)
        self._user = user  # a leading underscore: a local attribute of the proxy

    def _pyroAnnotations(self):
        return {**super()._pyroAnnotations(), "USER": self._user.encode()}


@zpyro.expose
@zpyro.behavior(instance_mode="session")
class Basket:
    def __init__(self):
        self.owner = None
        self.items = []

    def add(self, item):
        user = zpyro.current_context.annotations["USER"].decode()
        self.owner = self.owner or user
        if user != self.owner:
            raise PermissionError(f"this basket belongs to {self.owner}")
        self.items.append(item)
        host, port = zpyro.current_context.client_sock_addr
        return f"{user} (from {host}) has {self.items}"


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Basket, "example.basket")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        with UserProxy(uri, "alice") as alice, UserProxy(uri, "bob") as bob:
            print(alice.add("apples"))
            print(bob.add("bread"))
            print(alice.add("avocados"))
        with UserProxy(uri, "carol") as carol:  # a new connection: a new basket
            print(carol.add("cheese"))
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
