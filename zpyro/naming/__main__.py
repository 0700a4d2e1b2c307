"""``python -m zpyro.naming`` (= ``python -m Pyro4.naming`` after ``import zpyro as Pyro4``):
the name server, as ``zpyro-ns`` starts it."""

import sys

from zpyro.broker.pyro_ns import main

sys.exit(main())
