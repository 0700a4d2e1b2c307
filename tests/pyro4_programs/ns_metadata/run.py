"""Name server metadata (Pyro4 "ns-metadata"): register with metadata tags, list by
metadata_all / metadata_any, PYROMETA: proxies, set_metadata, lookup with return_metadata,
type_meta(), and the name server's own tag class:Pyro4.naming.NameServer."""

import signal
import subprocess
import sys
import threading

import Pyro4
import Pyro4.errors
import Pyro4.naming


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Printer(object):
    def __init__(self, name):
        self.name = name

    def describe(self):
        return self.name


class LaserPrinter(Printer):
    pass


ns_proc = subprocess.Popen(
    [sys.executable, "-u", "-m", "Pyro4.naming", "-n", "127.0.0.1", "-p", "0", "-x"],
    stdout=subprocess.PIPE,
    text=True,
)
daemon = Pyro4.Daemon(host="127.0.0.1")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    for line in ns_proc.stdout:
        if line.startswith("URI = "):
            break
    else:
        raise SystemExit("the name server did not start")
    port = Pyro4.URI(line.split("=", 1)[1].strip()).port
    ns = Pyro4.locateNS("127.0.0.1", port)

    # the name server carries its own class tag: programs find it by metadata
    found = ns.list(metadata_all={"class:Pyro4.naming.NameServer"})
    assert list(found) == ["Pyro.NameServer"], found

    office = LaserPrinter("office laser")
    lab = Printer("lab colour")
    tags = Pyro4.naming.type_meta(office)
    assert "class:__main__.LaserPrinter" in tags and "class:__main__.Printer" in tags, tags
    ns.register("printer.office", daemon.register(office), metadata=tags | {"region:eu"})
    ns.register("printer.lab", daemon.register(lab), metadata={"region:us", "colour"})

    assert set(ns.list(metadata_all={"class:__main__.Printer"})) == {"printer.office"}
    assert set(ns.list(metadata_any={"region:eu", "region:us"})) == {
        "printer.office",
        "printer.lab",
    }
    assert ns.list(metadata_all={"region:eu", "colour"}) == {}
    uri, metadata = ns.lookup("printer.lab", return_metadata=True)
    assert set(metadata) == {"region:us", "colour"}, metadata
    listed = ns.list(prefix="printer.", return_metadata=True)
    assert set(listed["printer.lab"][1]) == {"region:us", "colour"}, listed

    meta_proxy = Pyro4.Proxy("PYROMETA:region:us,colour@127.0.0.1:%d" % port)
    assert meta_proxy.describe() == "lab colour"
    ns.set_metadata("printer.lab", {"region:asia"})
    assert set(ns.list(metadata_any={"region:asia"})) == {"printer.lab"}
    try:
        Pyro4.Proxy("PYROMETA:colour@127.0.0.1:%d" % port).describe()
        raise SystemExit("a PYROMETA: with no match did not raise")
    except Pyro4.errors.NamingError as x:
        print("no match:", x)
    ns._pyroRelease()
finally:
    daemon.shutdown()
    ns_proc.terminate()
    ns_proc.wait(10)
print("OK")
