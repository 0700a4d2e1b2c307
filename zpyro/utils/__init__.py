"""Pyro5's ``Pyro5.utils`` package: holds ``echoserver`` (zpyro's echo server under that name)."""
