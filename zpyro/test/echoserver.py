"""``python -m Pyro4.test.echoserver`` after ``import zpyro as Pyro4``: zpyro's echo server
(``zpyro.echo``, the ``zpyro-echo`` command) under Pyro4's module path."""

import sys

from zpyro.echo import EchoServer, main

__all__ = ["EchoServer", "main"]

if __name__ == "__main__":
    sys.exit(main())
