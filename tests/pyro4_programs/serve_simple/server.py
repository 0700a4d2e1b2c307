"""Daemon.serveSimple without a name server: the most common first line of a Pyro4 server."""

import signal

import Pyro4

signal.alarm(60)


@Pyro4.expose
class Calculator(object):
    def add(self, a, b):
        return a + b


Pyro4.Daemon.serveSimple({Calculator: "example.calculator"}, host="127.0.0.1", ns=False)
