"""``Pyro4`` as a ported program sees it: zpyro, through its supported alias helper.

Put this directory on PYTHONPATH to run an unchanged Pyro4 program on zpyro
(tests/test_pyro4_programs.py does): its ``import Pyro4`` lands here, which makes ``Pyro4`` (and
every ``Pyro4.X``, and ``python -m Pyro4.X``) zpyro with ``zpyro.alias_as("Pyro4")``, exactly as
a program would with that one line. A ``Pyro4.X`` that zpyro lacks is a ModuleNotFoundError, and
a name zpyro lacks is an AttributeError.
"""

import zpyro

zpyro.alias_as("Pyro4")  # replaces this module in sys.modules: `import Pyro4` gives zpyro
