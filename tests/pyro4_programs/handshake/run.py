"""Connection handshake (Pyro4 "handshake"): the proxy sends _pyroHandshake data when it
connects; the daemon's validateHandshake(conn, data) refuses wrong data by raising, and what it
returns is handed to the proxy's _pyroValidateHandshake(response)."""

import signal
import threading

import Pyro4
import Pyro4.errors


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

SECRET = "the secret handshake"
accepted = []
responses = []


class GuardedDaemon(Pyro4.Daemon):
    def validateHandshake(self, conn, data):
        if data != SECRET:
            raise ValueError("wrong secret handshake: %r" % (data,))
        accepted.append(conn)
        return {"welcome": len(accepted)}


class CheckingProxy(Pyro4.Proxy):
    def _pyroValidateHandshake(self, response):
        responses.append(response)


class DistrustfulProxy(Pyro4.Proxy):
    def _pyroValidateHandshake(self, response):
        raise Pyro4.errors.SecurityError("this proxy trusts no server")


@Pyro4.expose
class Vault(object):
    def open(self):
        return "the vault is open"


daemon = GuardedDaemon(host="127.0.0.1")
uri = daemon.register(Vault, "example.vault")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    for wrong in ("the wrong secret", None):
        intruder = Pyro4.Proxy(uri)
        if wrong is not None:
            intruder._pyroHandshake = wrong
        try:
            intruder.open()
            raise SystemExit("a client with the wrong handshake data got in")
        except Pyro4.errors.CommunicationError as x:
            print("refused:", x)
            assert "wrong secret handshake" in str(x), x
        intruder._pyroRelease()

    with CheckingProxy(uri) as vault:
        vault._pyroHandshake = SECRET
        assert vault.open() == "the vault is open"
    assert responses == [{"welcome": 1}], responses
    assert len(accepted) == 1

    doubter = DistrustfulProxy(uri)
    doubter._pyroHandshake = SECRET
    try:
        doubter.open()
        raise SystemExit("_pyroValidateHandshake raising did not stop the call")
    except Pyro4.errors.SecurityError as x:
        print("the proxy refused the server:", x)
    doubter._pyroRelease()
    assert len(accepted) == 2  # the doubter passed the daemon's check
finally:
    daemon.shutdown()
print("OK")
