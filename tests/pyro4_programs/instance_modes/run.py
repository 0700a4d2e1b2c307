"""Instance modes (Pyro4 "instancemode"): @Pyro4.behavior(instance_mode=...) on registered
classes: "single" (one instance), "session" (one per proxy connection), "percall" (one per
call); instance_creator builds the instances."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

created = []


class Counter(object):
    def __init__(self):
        self.calls = 0
        created.append(self)

    @Pyro4.expose  # exposing a class covers only what that class itself defines
    def count(self):
        self.calls += 1
        return id(self), self.calls


@Pyro4.expose
@Pyro4.behavior(instance_mode="single")
class Single(Counter):
    pass


@Pyro4.expose
@Pyro4.behavior(instance_mode="session")
class Session(Counter):
    pass


@Pyro4.expose
@Pyro4.behavior(instance_mode="percall")
class PerCall(Counter):
    pass


def make_tagged(cls):
    instance = cls()
    instance.tag = "made by the creator"
    return instance


@Pyro4.expose
@Pyro4.behavior(instance_mode="single", instance_creator=make_tagged)
class Tagged(Counter):
    def get_tag(self):
        return self.tag


daemon = Pyro4.Daemon(host="127.0.0.1")
uris = {cls.__name__: daemon.register(cls) for cls in (Single, Session, PerCall, Tagged)}
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    assert created == [], "instances were made before any call"

    def two_proxies_two_calls(name):
        seen = []
        for _ in range(2):
            with Pyro4.Proxy(uris[name]) as p:
                seen.append(p.count())
                seen.append(p.count())
        return seen

    single = two_proxies_two_calls("Single")
    assert len({i for i, _ in single}) == 1 and [n for _, n in single] == [1, 2, 3, 4], single
    session = two_proxies_two_calls("Session")
    assert len({i for i, _ in session}) == 2 and [n for _, n in session] == [1, 2, 1, 2], session
    percall = two_proxies_two_calls("PerCall")
    assert [n for _, n in percall] == [1, 1, 1, 1], percall
    with Pyro4.Proxy(uris["Tagged"]) as tagged:
        assert tagged.get_tag() == "made by the creator"
finally:
    daemon.shutdown()
print("OK")
