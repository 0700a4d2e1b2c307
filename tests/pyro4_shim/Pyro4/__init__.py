"""``Pyro4`` as a ported program sees it: the package is ``zpyro``, and every ``Pyro4.X`` is
``zpyro.X`` (the same module object, imported once; ``python -m Pyro4.X`` runs ``zpyro.X``).

Put this directory on PYTHONPATH to run an unchanged Pyro4 program on zpyro
(tests/test_pyro4_programs.py does). A ``Pyro4.X`` that zpyro lacks is a ModuleNotFoundError,
and a name zpyro lacks is an AttributeError: exactly what the program would meet after
``import zpyro as Pyro4``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import CodeType, ModuleType

import zpyro

ALIAS, REAL = "Pyro4", "zpyro"


def _real_name(fullname: str) -> str:
    return REAL + fullname[len(ALIAS) :]


def _real_spec(fullname: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(_real_name(fullname))
    except ModuleNotFoundError:  # a missing parent package (Pyro4.test.echoserver, ...)
        return None


class _ZpyroAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``Pyro4.X`` as the module ``zpyro.X``."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(ALIAS + "."):
            return None
        real = _real_spec(fullname)
        if real is None:
            return None  # -> ModuleNotFoundError: No module named 'Pyro4.X'
        spec = importlib.util.spec_from_loader(fullname, self, origin=real.origin)
        assert spec is not None
        if real.submodule_search_locations is not None:
            spec.submodule_search_locations = list(real.submodule_search_locations)
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(_real_name(spec.name))
        spec.loader_state = module.__spec__  # the import system overwrites it: restored below
        return module

    def exec_module(self, module: ModuleType) -> None:
        # already executed as zpyro.X: nothing to run, only its own spec to put back
        alias_spec = module.__spec__
        if alias_spec is not None and alias_spec.loader_state is not None:
            module.__spec__ = alias_spec.loader_state

    def get_code(self, fullname: str) -> CodeType | None:
        """For ``python -m Pyro4.X``: the code of ``zpyro.X``."""
        real = _real_spec(fullname)
        if real is None or real.loader is None:
            raise ImportError(f"No module named {fullname!r}")
        return real.loader.get_code(_real_name(fullname))  # type: ignore[attr-defined]


sys.meta_path.insert(0, _ZpyroAlias())
sys.modules[ALIAS] = zpyro
