"""Pyro4's ``Pyro4.test`` package: holds ``echoserver`` (zpyro's echo server under that name)."""
