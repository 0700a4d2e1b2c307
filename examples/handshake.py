"""Connection handshake: a daemon that admits only clients that know the secret.

Pyro's connection hooks, as a Pyro program writes them: the proxy's ``_pyroHandshake`` data is
sent when it connects; the daemon's ``validateHandshake(conn, data)`` refuses it by raising (the
client then gets ``HandshakeError``, and not one of its calls runs) or returns a response that the
proxy's ``_pyroValidateHandshake(response)`` may check in turn. ``clientDisconnect(conn)`` is
told when a connection goes. The handshake costs nothing per call: it is part of the one
exchange a proxy makes when it connects.

For anything beyond one machine, combine it with CURVE (README, Security): without CURVE the
handshake data travels in clear.
"""

import threading

import zpyro

SECRET = "the secret handshake"


@zpyro.expose
class Vault:
    def open(self):
        return "the vault is open"


class GuardedDaemon(zpyro.Daemon):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gone = threading.Event()

    def validateHandshake(self, conn, data):
        if data != SECRET:
            raise ValueError(f"wrong secret handshake: {data!r}")
        print(f"daemon: welcome, client from {conn.sock_addr[0]}")
        return {"motd": "mind the laser grid"}

    def clientDisconnect(self, conn):
        print("daemon: a client went away")
        self.gone.set()


class CheckingProxy(zpyro.Proxy):
    def _pyroValidateHandshake(self, response):
        print("client: the daemon says", response)
        if "motd" not in response:
            raise zpyro.errors.SecurityError("this is not the vault I know")


def main():
    daemon = GuardedDaemon(host="127.0.0.1")
    uri = daemon.register(Vault(), "example.vault")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        for data in ("a wrong guess", None):  # None: Pyro's default handshake, "hello"
            intruder = zpyro.Proxy(uri)
            if data is not None:
                intruder._pyroHandshake = data
            try:
                intruder.open()
            except zpyro.errors.HandshakeError as exc:
                print("intruder refused:", exc)
            intruder._pyroRelease()
        with CheckingProxy(uri) as vault:
            vault._pyroHandshake = SECRET
            print("client:", vault.open())
        daemon.gone.wait(5)
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
