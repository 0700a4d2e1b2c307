"""The optional C accelerator, ``zpyro/_speedups.c``, or None.

None when it was not built (no C compiler at install time) or when ``ZPYRO_PURE_PYTHON=1`` asks
for the pure-Python paths. Its users take what they need from it: ``zpyro.sockets`` the whole
message sent or received in one call (after binding it to the libzmq pyzmq loaded),
``zpyro.serializers`` the serpent reader.
"""

from __future__ import annotations

import os
from typing import Any


def _load() -> Any:
    if os.environ.get("ZPYRO_PURE_PYTHON"):
        return None
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _speedups


accelerator: Any = _load()
