"""NAT (Pyro4 manual, "Pyro behind a NAT router/firewall"): a daemon bound to one address
advertises another (nathost/natport, or config NATHOST/NATPORT) in the URIs it hands out;
uriFor(obj, nat=False) gives the internal one. A port forwarder here plays the router."""

import signal
import socket
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class PortForwarder(threading.Thread):
    """Forwards every connection made to 127.0.0.1:<port> to 127.0.0.1:<target>."""

    def __init__(self):
        super(PortForwarder, self).__init__(daemon=True)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
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
            data = source.recv(65536)
            while data:
                sink.sendall(data)
                data = source.recv(65536)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@Pyro4.expose
class Service(object):
    def where(self):
        return "inside"


def serve_through(router, make_daemon):
    daemon = make_daemon()
    router.target = int(daemon.locationStr.rsplit(":", 1)[1])
    router.start()
    service = Service()
    uri = daemon.register(service, "example.nat")
    threading.Thread(target=daemon.requestLoop, daemon=True).start()
    try:
        assert uri == daemon.uriFor(service)
        assert uri.location == "127.0.0.1:%d" % router.port, uri
        assert daemon.natLocationStr == uri.location
        internal = daemon.uriFor(service, nat=False)
        assert internal.location == daemon.locationStr != uri.location, internal
        with Pyro4.Proxy(uri) as outside:
            assert outside.where() == "inside"
        assert router.forwarded >= 1, "the call did not go through the advertised address"
        with Pyro4.Proxy(internal) as local:
            assert local.where() == "inside"
    finally:
        daemon.shutdown()
        router.listener.close()


router = PortForwarder()
serve_through(
    router, lambda: Pyro4.Daemon(host="127.0.0.1", nathost="127.0.0.1", natport=router.port)
)
router = PortForwarder()
Pyro4.config.NATHOST = "127.0.0.1"
Pyro4.config.NATPORT = router.port
serve_through(router, lambda: Pyro4.Daemon(host="127.0.0.1"))
print("OK")
