"""Builds zpyro's optional C accelerator, ``zpyro/_speedups.c``; everything else is in setup.cfg.

The extension needs a C compiler and Python's headers, nothing more: no zmq.h, no Cython, no
library to link (see the C file for why). When it cannot be built, zpyro installs without it and
runs in pure Python, as it does when ``ZPYRO_PURE_PYTHON=1`` (at build time: do not build it; at
run time: do not use it).
"""

import os

from setuptools import Extension, setup

ext_modules = []
if not os.environ.get("ZPYRO_PURE_PYTHON"):
    ext_modules.append(
        Extension(
            "zpyro._speedups",
            ["zpyro/_speedups.c"],
            optional=True,  # a failed build leaves the pure-Python path, it does not fail
            extra_compile_args=["-O2"],
        )
    )

setup(ext_modules=ext_modules)
