"""``python -m Pyro4.utils.httpgateway`` / ``Pyro5.utils.httpgateway`` with Pyro pointing at
zpyro: the HTTP gateway (``zpyro-gateway``, extra ``zpyro[gateway]``) under Pyro's module path,
with Pyro's options (``-H -p -e -g -t``, Pyro5's ``-c``) and its ``Pyro HTTP gateway running on``
line. Pyro4's ``-k`` (HMAC) is refused: use CURVE."""

import sys

from zpyro.gateway.__main__ import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
