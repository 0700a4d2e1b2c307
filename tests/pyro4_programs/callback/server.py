"""A server that calls back the client: the client's callback object arrives as a proxy."""

import signal

import Pyro4

signal.alarm(60)


@Pyro4.expose
class Worker(object):
    def work(self, steps, callback):
        for step in range(steps):
            callback.progress(step)
        callback.done(steps)  # oneway on the client: the server does not wait for it
        try:
            callback.failing()
        except ValueError as x:
            caught = str(x)
        else:
            caught = None
        return "worked %d steps; the callback raised %r" % (steps, caught)


daemon = Pyro4.Daemon(host="127.0.0.1")
print("uri:", daemon.register(Worker, "example.worker"), flush=True)
daemon.requestLoop()
