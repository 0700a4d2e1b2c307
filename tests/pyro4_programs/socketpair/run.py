"""A daemon and a proxy over an already connected socket pair (Pyro4 "socket_pair"):
Daemon(connected_socket=...) and Proxy(object_id, connected_socket=...)."""

import signal
import socket
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Echo(object):
    def echo(self, message):
        return "echo: " + message


server_end, client_end = socket.socketpair()
daemon = Pyro4.core.Daemon(connected_socket=server_end)
daemon.register(Echo(), "example.echo")
loop = threading.Thread(target=daemon.requestLoop)
loop.start()
try:
    with Pyro4.core.Proxy("example.echo", connected_socket=client_end) as echo:
        assert echo.echo("hi") == "echo: hi"
        assert echo.echo("again") == "echo: again"
finally:
    client_end.close()  # the daemon's loop ends when its connection does
    daemon.shutdown()
    loop.join(20)
assert not loop.is_alive()
print("OK")
