"""The optional C accelerator, ``zpyro/_speedups.c``, or None.

None when it was not built (no C compiler at install time) or when ``ZPYRO_PURE_PYTHON=1`` asks
for the pure-Python paths. Its users take what they need from it: ``zpyro.sockets`` the whole
message sent or received in one call (after binding it to the libzmq pyzmq loaded),
``zpyro.serializers`` the serpent reader.
"""

from __future__ import annotations

import importlib
import os
from typing import Any


def _load() -> Any:
    if os.environ.get("ZPYRO_PURE_PYTHON"):
        return None
    try:  # (by name: importing it from the package would look like importing the package)
        return importlib.import_module("._speedups", __package__)
    except ImportError:
        return None


accelerator: Any = _load()
