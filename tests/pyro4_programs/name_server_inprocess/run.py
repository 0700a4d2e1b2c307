"""A name server in this process (Pyro4.naming.startNS, its daemon's requestLoop in a thread),
and the NameServer API: register, lookup, list, count, remove, ping; PYRONAME: and resolve()."""

import re
import signal
import threading

import Pyro4
import Pyro4.errors
import Pyro4.naming


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Thing(object):
    def name(self):
        return "thing"


ns_uri, ns_daemon, broadcast_server = Pyro4.naming.startNS(
    host="127.0.0.1", port=0, enableBroadcast=False
)
assert broadcast_server is None
ns_thread = threading.Thread(target=ns_daemon.requestLoop)
ns_thread.start()
daemon = Pyro4.Daemon(host="127.0.0.1")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    print("name server:", ns_uri)
    ns = Pyro4.naming.locateNS(host="127.0.0.1", port=ns_uri.port)
    ns.ping()
    uri = daemon.register(Thing())
    ns.register("example.thing", uri)
    ns.register("example.other", "PYRO:other@127.0.0.1:1234")
    assert ns.lookup("example.thing") == uri
    assert isinstance(ns.lookup("example.thing"), Pyro4.URI)
    assert set(ns.list(prefix="example.")) == {"example.thing", "example.other"}
    assert set(ns.list(regex=r"example\.t.*")) == {"example.thing"}
    assert "Pyro.NameServer" in ns.list()
    assert ns.count() == 3
    try:
        ns.register("example.thing", uri, safe=True)
        raise SystemExit("safe=True overwrote a name")
    except Pyro4.errors.NamingError as x:
        print("safe register refused:", x)
    try:
        ns.lookup("example.nothing")
        raise SystemExit("lookup of an unknown name did not raise")
    except Pyro4.errors.NamingError as x:
        print("unknown name:", x)

    named = "PYRONAME:example.thing@127.0.0.1:%d" % ns_uri.port
    assert Pyro4.Proxy(named).name() == "thing"
    assert Pyro4.resolve(named) == uri
    assert re.match(r"PYRO:obj_[0-9a-f]+@127\.0\.0\.1:\d+$", str(uri)), uri
    assert ns.remove("example.other") == 1
    assert ns.remove(prefix="example.") == 1
    assert ns.count() == 1
    ns._pyroRelease()
finally:
    daemon.shutdown()
    ns_daemon.shutdown()
    ns_thread.join(20)
    ns_daemon.close()
assert not ns_thread.is_alive()
print("OK")
