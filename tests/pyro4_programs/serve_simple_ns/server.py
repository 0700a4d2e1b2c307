"""serveSimple with the name server (ns=True, the default): registers the name there too."""

import signal
import sys

import Pyro4

signal.alarm(60)


@Pyro4.expose
@Pyro4.behavior(instance_mode="single")
class Warehouse(object):
    def __init__(self):
        self.contents = ["chair", "bike", "flashlight", "laptop", "couch"]

    def list_contents(self):
        return self.contents

    def take(self, name, item):
        self.contents.remove(item)
        return "{0} took the {1}.".format(name, item)

    def store(self, name, item):
        self.contents.append(item)
        return "{0} stored the {1}.".format(name, item)


Pyro4.config.NS_HOST = "127.0.0.1"
Pyro4.config.NS_PORT = int(sys.argv[1])
Pyro4.Daemon.serveSimple({Warehouse: "example.warehouse"}, host="127.0.0.1")
