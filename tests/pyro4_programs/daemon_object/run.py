"""Daemon facts and helpers: Pyro4.constants, Pyro4.socketutil (getIpAddress,
getInterfaceAddress, findProbablyUnusedPort), the daemon's own object Pyro.Daemon (ping,
registered, info, get_metadata), locationStr, uriFor/proxyFor, resetMetadataCache, combine."""

import signal
import threading

import Pyro4
import Pyro4.constants
import Pyro4.socketutil


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Thing(object):
    def method(self):
        return "method"

    @Pyro4.oneway
    def fire(self):
        pass

    @property
    def prop(self):
        return "prop"


assert Pyro4.constants.VERSION.startswith("4.") or Pyro4.constants.VERSION
assert Pyro4.constants.DAEMON_NAME == "Pyro.Daemon"
assert Pyro4.constants.NAMESERVER_NAME == "Pyro.NameServer"
host = Pyro4.socketutil.getIpAddress("localhost", workaround127=False, ipVersion=4)
assert host == "127.0.0.1", host
assert Pyro4.socketutil.getInterfaceAddress("127.0.0.1") == "127.0.0.1"
port = Pyro4.socketutil.findProbablyUnusedPort()
assert 0 < port < 65536

Pyro4.config.SERVERTYPE = "multiplex"  # combine() needs it
daemon = Pyro4.Daemon(host=host, port=port)
other = Pyro4.Daemon(host=host)
daemon.combine(other)  # one request loop serves both
thing = Thing()
uri = daemon.register(thing, "example.thing")
other_uri = other.register(Thing(), "example.other")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    assert daemon.locationStr == "127.0.0.1:%d" % port
    assert uri == daemon.uriFor(thing) == daemon.uriFor("example.thing")
    assert daemon.proxyFor(thing)._pyroUri == uri
    with Pyro4.Proxy("PYRO:%s@%s" % (Pyro4.constants.DAEMON_NAME, daemon.locationStr)) as own:
        own.ping()
        assert set(own.registered()) == {"Pyro.Daemon", "example.thing"}
        assert isinstance(own.info(), str)
        meta = own.get_metadata("example.thing")
        assert set(meta["methods"]) == {"method", "fire"} and set(meta["oneway"]) == {"fire"}
        assert set(meta["attrs"]) == {"prop"}
    daemon.resetMetadataCache(thing)
    with Pyro4.Proxy(other_uri) as served_by_combined_loop:
        assert served_by_combined_loop.method() == "method"
finally:
    daemon.shutdown()
print("OK")
