"""A daemon behind NAT: it binds one address, its URIs name another.

In a container, or behind a router that forwards a port, clients must use an address the
daemon cannot bind itself. ``Daemon(nathost=..., natport=...)`` (or ``config.NATHOST`` /
``config.NATPORT``) puts that address in the URIs it hands out (``register``, ``uriFor``,
autoproxies, name-server registrations), while it stays bound where it is:
``daemon.locationStr`` is the bound address, ``daemon.natLocationStr`` the advertised one, and
``uriFor(obj, nat=False)`` the URI for clients on the inside.

A tiny port forwarder plays the router here: connections to its port go to the daemon's.
"""

import socket
import threading

import zpyro


class PortForwarder(threading.Thread):
    """Forwards every connection made to 127.0.0.1:<port> to 127.0.0.1:<target>."""

    def __init__(self):
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = None
        self.forwarded = 0

    def run(self):
        while True:
            try:
                outside, _ = self.listener.accept()
            except OSError:
                return
            inside = socket.create_connection(("127.0.0.1", self.target))
            self.forwarded += 1
            for source, sink in ((outside, inside), (inside, outside)):
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@zpyro.expose
class Service:
    def where(self):
        return "inside the private network"


def main():
    router = PortForwarder()
    daemon = zpyro.Daemon(host="127.0.0.1", nathost="127.0.0.1", natport=router.port)
    router.target = int(daemon.locationStr.rsplit(":", 1)[1])
    router.start()
    service = Service()
    uri = daemon.register(service, "example.nat")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        print("bound at   ", daemon.locationStr)
        print("advertised ", daemon.natLocationStr)
        print("uri        ", uri)
        print("inside uri ", daemon.uriFor(service, nat=False))
        with zpyro.Proxy(uri) as outside:
            print("through the router:", outside.where())
        print("connections the router forwarded:", router.forwarded)
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()
        router.listener.close()


if __name__ == "__main__":
    main()
