"""Attributes (Pyro4 "attributes"): exposed properties are read and written through the proxy;
plain attributes and private names are not reachable; setting an unknown attribute on a proxy
raises AttributeError; explicitly exposed dunder methods are callable by name."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Thing(object):
    def __init__(self):
        self.plain = "not reachable"
        self._value = 42
        self._items = ["a", "b", "c"]

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, new):
        self._value = new

    @property
    def readonly(self):
        return "fixed"

    def _private(self):
        return "never"

    def __len__(self):
        return len(self._items)

    def __getitem__(self, index):
        return self._items[index]


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Thing(), "example.thing")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as thing:
        assert thing.value == 42
        thing.value = 99
        assert thing.value == 99
        assert thing.readonly == "fixed"
        for name in ("plain", "_private", "_value"):
            try:
                getattr(thing, name)
                raise SystemExit("%s was reachable" % name)
            except AttributeError:
                pass
        try:
            thing.readonly = "changed"
            raise SystemExit("a read-only property was written")
        except AttributeError:
            pass
        try:
            thing.no_such_attribute = 1
            raise SystemExit("setting an unknown attribute on the proxy did not raise")
        except AttributeError as x:
            print("unknown attribute:", x)
        assert thing.__len__() == 3 and thing.__getitem__(1) == "b"
finally:
    daemon.shutdown()
print("OK")
