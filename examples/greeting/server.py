"""The greeting server from Pyro's intro, on zpyro (direct mode: no name server)."""

import zpyro


@zpyro.expose
class GreetingMaker:
    def get_fortune(self, name):
        return (
            f"Hello, {name}. Here is your fortune message:\n"
            "Behold the warranty -- the bold print giveth and the fine print taketh away."
        )


daemon = zpyro.Daemon()  # make a zpyro daemon (tcp, localhost, random port)
uri = daemon.register(GreetingMaker)  # register the greeting maker as a zpyro object

print("Ready. Object uri =", uri, flush=True)  # print the uri so we can use it in the client
daemon.request_loop()  # start the event loop of the server to wait for calls
