"""Unix domain sockets (Pyro4 "unixdomainsock"): Daemon(unixsocket=path) gives URIs like
PYRO:obj@./u:/path/to/socket; a name starting with a NUL byte is in Linux's abstract namespace."""

import os
import shutil
import signal
import tempfile
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Where(object):
    def where(self):
        return "over a unix socket"


workdir = tempfile.mkdtemp(prefix="pyro4-uds-")
try:
    path = os.path.join(workdir, "example.sock")
    for socketname in (path, "\0pyro4-example-%d" % os.getpid()):
        daemon = Pyro4.Daemon(unixsocket=socketname)
        uri = daemon.register(Where(), "example.where")
        threading.Thread(target=daemon.requestLoop, daemon=True).start()
        try:
            print(repr(str(uri)))
            assert str(uri) == "PYRO:example.where@./u:" + socketname
            assert daemon.locationStr == "./u:" + socketname
            with Pyro4.Proxy(uri) as where:
                assert where.where() == "over a unix socket"
            with Pyro4.Proxy("PYRO:example.where@./u:" + socketname) as again:
                assert again.where() == "over a unix socket"
        finally:
            if not socketname.startswith("\0"):
                # (Pyro4 4.82 cannot wake a loop on an abstract socket: that one ends with us)
                daemon.shutdown()
                daemon.close()
finally:
    shutil.rmtree(workdir)
print("OK")
