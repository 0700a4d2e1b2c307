"""The greeting client of Pyro's intro, name server version: no uri to paste any more."""

import zpyro as Pyro4

name = input("What is your name? ").strip()

greeting_maker = Pyro4.Proxy("PYRONAME:example.greeting")  # name server object lookup shortcut
print(greeting_maker.get_fortune(name))
