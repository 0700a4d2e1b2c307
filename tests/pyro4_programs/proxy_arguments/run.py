"""Proxies travel as arguments: alone, in a list, as dict values; with pickle also as dict keys
and in sets. They are hashable, compare equal by URI, and arrive as working proxies."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Node(object):
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


@Pyro4.expose
class Registry(object):
    def call_one(self, node):
        return node.get_name()

    def call_list(self, nodes):
        return [n.get_name() for n in nodes]

    def call_values(self, by_label):
        return {label: node.get_name() for label, node in by_label.items()}

    def call_keys(self, by_node):
        return sorted(node.get_name() + "=" + str(v) for node, v in by_node.items())

    def call_set(self, nodes):
        return sorted(n.get_name() for n in nodes)


Pyro4.config.SERIALIZERS_ACCEPTED.add("pickle")  # serpent cannot have proxies as dict keys
daemon = Pyro4.Daemon(host="127.0.0.1")
registry_uri = daemon.register(Registry())
a = Pyro4.Proxy(daemon.register(Node("a")))
b = Pyro4.Proxy(daemon.register(Node("b")))
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    assert a == Pyro4.Proxy(a._pyroUri) and hash(a) == hash(Pyro4.Proxy(a._pyroUri))
    assert len({a, b, Pyro4.Proxy(a._pyroUri)}) == 2
    with Pyro4.Proxy(registry_uri) as registry:
        assert registry.call_one(a) == "a"
        assert registry.call_list([a, b]) == ["a", "b"]
        assert registry.call_values({"first": a, "second": b}) == {"first": "a", "second": "b"}
        registry._pyroSerializer = "pickle"
        assert registry.call_keys({a: 1, b: 2}) == ["a=1", "b=2"]
        assert registry.call_set({a, b}) == ["a", "b"]
finally:
    daemon.shutdown()
print("OK")
