"""``python -m Pyro5.utils.echoserver`` with Pyro5 pointing at zpyro: zpyro's echo server
(``zpyro.echo``, the ``zpyro-echo`` command) under Pyro5's module path."""

import sys

from zpyro.echo import EchoServer, main

__all__ = ["EchoServer", "main"]

if __name__ == "__main__":
    sys.exit(main())
