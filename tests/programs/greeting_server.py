# The greeting server of Pyro4's "Intro and Example" (direct mode, no name server), in Python 3.
# Ported by changing the import only. Run with ZPYRO_HOST=127.0.0.1 to bind the loopback address.
import zpyro as Pyro4


@Pyro4.expose
class GreetingMaker:
    def get_fortune(self, name):
        return (
            f"Hello, {name}. Here is your fortune message:\n"
            "Behold the warranty -- the bold print giveth and the fine print taketh away."
        )


greeting_maker = GreetingMaker()

daemon = Pyro4.Daemon()  # make a Pyro daemon
uri = daemon.register(greeting_maker)  # register the greeting object as a Pyro object

print("Ready. Object uri =", uri)  # print the uri so we can use it in the client later
daemon.requestLoop()  # start the event loop of the server to wait for calls
