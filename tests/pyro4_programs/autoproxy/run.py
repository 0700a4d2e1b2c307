"""Autoproxy (Pyro4 "autoproxy"): a factory registers the objects it makes in its own daemon
(self._pyroDaemon.register) and returns them; the caller gets proxies, also inside a list."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Thingy(object):
    def __init__(self, number):
        self.number = number

    def speak(self, message):
        return "thingy %d says: %s" % (self.number, message)


@Pyro4.expose
class Factory(object):
    def __init__(self):
        self.made = []

    def make(self, number):
        thing = Thingy(number)
        self._pyroDaemon.register(thing)
        self.made.append(thing)
        return thing

    def everything(self):
        return list(self.made)

    def unregister_all(self):
        for thing in self.made:
            self._pyroDaemon.unregister(thing)
        return len(self.made)


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Factory(), "example.factory")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as factory:
        one = factory.make(1)
        two = factory.make(2)
        assert isinstance(one, Pyro4.Proxy), type(one)
        print(one.speak("hello"))
        assert two.speak("hi") == "thingy 2 says: hi"
        things = factory.everything()
        assert [type(t) for t in things] == [Pyro4.Proxy, Pyro4.Proxy], things
        assert things[0].speak("again") == "thingy 1 says: again"
        assert factory.unregister_all() == 2
        try:
            one.speak("after unregister")
            raise SystemExit("an unregistered object still answered")
        except Pyro4.errors.DaemonError as x:
            print("unregistered:", x)
finally:
    daemon.shutdown()
print("OK")
