"""The tutorial's greeting server: an exposed class, a daemon, a printed URI, a request loop."""

import signal

import Pyro4

signal.alarm(60)  # bounded: the client stops this server long before


@Pyro4.expose
class GreetingMaker(object):
    def get_fortune(self, name):
        return "Hello, {0}. Here is your fortune message:\nTomorrow's lucky number is 12345678.".format(
            name
        )


daemon = Pyro4.Daemon(host="127.0.0.1")  # a free port
uri = daemon.register(GreetingMaker)
print("Ready. Object uri =", uri, flush=True)
daemon.requestLoop()
