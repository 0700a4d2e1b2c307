"""The greeting client from Pyro's intro: asks for the uri and your name, calls the server."""

import zpyro

uri = input("What is the zpyro uri of the greeting object? ").strip()
name = input("What is your name? ").strip()

greeting_maker = zpyro.Proxy(uri)  # get a proxy to the greeting object
print(greeting_maker.get_fortune(name))  # call method normally
