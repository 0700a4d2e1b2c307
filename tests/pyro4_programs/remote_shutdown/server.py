"""A served object stops its own daemon through self._pyroDaemon (a common Pyro idiom)."""

import signal

import Pyro4

signal.alarm(60)


@Pyro4.expose
class Service(object):
    def whoami(self):
        return self._pyroId  # the object id it was registered under

    @Pyro4.oneway
    def shutdown(self):
        print("shutting down on request", flush=True)
        self._pyroDaemon.shutdown()


with Pyro4.Daemon(host="127.0.0.1") as daemon:
    uri = daemon.register(Service(), "example.service")
    print("uri:", uri, flush=True)
    daemon.requestLoop()
print("server stopped", flush=True)
