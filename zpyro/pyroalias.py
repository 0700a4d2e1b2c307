"""Run a Pyro program unchanged: ``zpyro.alias_as("Pyro4")`` makes ``import Pyro4`` give zpyro.

After it, ``import Pyro4``, ``import Pyro4.core``, ``from Pyro4.util import SerializerBase`` and
``python -m Pyro4.naming`` (with the alias installed by a ``sitecustomize``, say) all reach the
same module objects as ``zpyro``, ``zpyro.core``, ``zpyro.util``, ``zpyro.naming``. A submodule
zpyro lacks is a ModuleNotFoundError, a name it lacks an AttributeError: loud, at the first line
that needs it. ``alias_as("Pyro5")`` does the same with Pyro5's module names (``Pyro5.api`` is
``zpyro``, ``Pyro5.nameserver`` is ``zpyro.naming``, ...).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

__all__ = ["alias_as"]

REAL = "zpyro"
# Pyro5's submodule names that zpyro spells differently ("" = the package itself)
RENAMED = {
    "Pyro5": {
        "api": "",
        "nameserver": "naming",
        "protocol": "message",
    },
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``<alias>.X`` as the module ``zpyro.X`` (the same object, imported once)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.renamed = RENAMED.get(alias, {})

    def real_name(self, fullname: str) -> str:
        sub = fullname[len(self.alias) + 1 :]
        sub = self.renamed.get(sub, sub)
        return f"{REAL}.{sub}" if sub else REAL

    def _real_spec(self, fullname: str) -> importlib.machinery.ModuleSpec | None:
        try:
            return importlib.util.find_spec(self.real_name(fullname))
        except ModuleNotFoundError:  # a missing parent package (Pyro4.test.echoserver, ...)
            return None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.alias + "."):
            return None
        real = self._real_spec(fullname)
        if real is None:
            return None  # -> ModuleNotFoundError: No module named 'Pyro4.X'
        spec = importlib.util.spec_from_loader(fullname, self, origin=real.origin)
        assert spec is not None
        if real.submodule_search_locations is not None:
            spec.submodule_search_locations = list(real.submodule_search_locations)
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.real_name(spec.name))
        spec.loader_state = module.__spec__  # the import system overwrites it: put back below
        return module

    def exec_module(self, module: ModuleType) -> None:
        # already executed as zpyro.X: nothing to run, only its own spec to restore
        alias_spec = module.__spec__
        if alias_spec is not None and alias_spec.loader_state is not None:
            module.__spec__ = alias_spec.loader_state

    def get_code(self, fullname: str) -> CodeType | None:
        """For ``python -m Pyro4.X``: the code of ``zpyro.X``."""
        real = self._real_spec(fullname)
        if real is None or real.loader is None:
            raise ImportError(f"No module named {fullname!r}")
        get_code = getattr(real.loader, "get_code", None)
        if get_code is None:
            raise ImportError(f"cannot run {fullname!r}")
        code: CodeType | None = get_code(self.real_name(fullname))
        return code


def alias_as(name: str = "Pyro4") -> ModuleType:
    """Make ``import <name>`` (and ``<name>.X``) give zpyro (and ``zpyro.X``); returns zpyro.

    Call it before the program's own ``import Pyro4``. Calling it again is harmless.
    """
    if not name.isidentifier() or name == REAL:
        raise ValueError(f"cannot alias zpyro as {name!r}")
    package = importlib.import_module(REAL)
    if not any(isinstance(f, _Alias) and f.alias == name for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias(name))
    sys.modules[name] = package
    return package
