"""The greeting server of Pyro's intro, name server version, ported by changing the import.

It finds the name server through ZPYRO_NS_HOST/ZPYRO_NS_PORT and binds ZPYRO_HOST; run.py sets
them for the broker it starts (on 127.0.0.1).
"""

import zpyro as Pyro4


@Pyro4.expose
class GreetingMaker:
    def get_fortune(self, name):
        return f"Hello, {name}. Here is your fortune message:\nTomorrow's lucky number is 12345678."


greeting_maker = GreetingMaker()

daemon = Pyro4.Daemon()  # make a Pyro daemon
ns = Pyro4.locateNS()  # find the name server
uri = daemon.register(greeting_maker)  # register the greeting object as a Pyro object
ns.register("example.greeting", uri)  # register the object with a name in the name server

print("Ready.", flush=True)
daemon.requestLoop()  # start the event loop of the server to wait for calls
