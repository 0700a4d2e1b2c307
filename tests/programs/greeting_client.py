# The greeting client of Pyro4's "Intro and Example", in Python 3 (raw_input -> input).
import zpyro as Pyro4

uri = input("What is the Pyro uri of the greeting object? ").strip()
name = input("What is your name? ").strip()

greeting_maker = Pyro4.Proxy(uri)  # get a Pyro proxy to the greeting object
print(greeting_maker.get_fortune(name))  # call method normally
