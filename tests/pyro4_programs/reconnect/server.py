"""A server that can be restarted on the same port with the same object id."""

import signal
import sys

import Pyro4

signal.alarm(60)


@Pyro4.expose
class Service(object):
    def generation(self):
        return int(sys.argv[2])


daemon = Pyro4.Daemon(host="127.0.0.1", port=int(sys.argv[1]))
print("uri:", daemon.register(Service(), "example.autoreconnect"), flush=True)
daemon.requestLoop()
