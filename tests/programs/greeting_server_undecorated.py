# The greeting server exactly as the old Pyro4 intro has it: the class is NOT decorated with
# @expose. zpyro serves it only when ZPYRO_REQUIRE_EXPOSE=0 (config.REQUIRE_EXPOSE = False).
import zpyro as Pyro4


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
