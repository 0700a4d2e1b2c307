"""HMAC keys (Pyro4 manual, "Security"): a daemon with _pyroHmacKey refuses clients whose
proxy does not have the same key; clients with the key get in."""

import signal
import threading

import Pyro4
import Pyro4.errors


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Secret(object):
    def reveal(self):
        return "the secret"


daemon = Pyro4.Daemon(host="127.0.0.1")
daemon._pyroHmacKey = b"shared secret key"
uri = daemon.register(Secret(), "example.secret")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    for key in (None, b"the wrong key"):
        stranger = Pyro4.Proxy(uri)
        stranger._pyroHmacKey = key
        try:
            stranger.reveal()
            raise SystemExit("a client with the HMAC key %r got in" % (key,))
        except Pyro4.errors.CommunicationError as x:
            print("refused:", x)
        stranger._pyroRelease()
    with Pyro4.Proxy(uri) as friend:
        friend._pyroHmacKey = b"shared secret key"
        assert friend.reveal() == "the secret"
finally:
    daemon.shutdown()
print("OK")
