"""``zpyro.api``: a Pyro5 program's ``from Pyro5.api import ...`` ports by changing the module."""

from __future__ import annotations

import pytest
from conftest import serving

import zpyro
import zpyro.api

# Pyro5 5.17's ``Pyro5.api`` names (dir() of the module, public ones)
PYRO5_API = [
    "BatchProxy", "Daemon", "DaemonObject", "Proxy", "SerializedBlob", "SerializerBase", "URI",
    "behavior", "callback", "config", "current_context", "expose", "locate_ns", "oneway",
    "register_class_to_dict", "register_dict_to_class", "resolve", "serve", "start_ns",
    "start_ns_loop", "type_meta", "unregister_class_to_dict", "unregister_dict_to_class",
]  # fmt: skip


@pytest.mark.parametrize("name", PYRO5_API)
def test_every_pyro5_api_name_is_the_packages_own(name: str) -> None:
    assert getattr(zpyro.api, name) is getattr(zpyro, name)


def test_a_pyro5_style_program_runs_with_zpyro_api() -> None:
    from zpyro.api import Proxy, behavior, expose

    @behavior(instance_mode="single")
    @expose
    class Adder:
        def add(self, a: int, b: int) -> int:
            return a + b

    with serving() as daemon:
        uri = daemon.register(Adder, "adder")
        with Proxy(uri) as p:
            assert p.add(2, 3) == 5
