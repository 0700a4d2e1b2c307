"""The public surface: what API.md promises is importable under the promised names."""

from __future__ import annotations
import __future__

import builtins
import types

import pytest

import zpyro

pytestmark = pytest.mark.timeout(30)

PROMISED = [
    "Daemon",
    "Proxy",
    "URI",
    "expose",
    "oneway",
    "callback",
    "behavior",
    "config",
    "errors",
    "current_context",
    "register_class_to_dict",
    "register_dict_to_class",
    "get_remote_traceback",
    "excepthook",
]


def test_all_lists_only_real_names() -> None:
    for name in zpyro.__all__:
        assert hasattr(zpyro, name), f"__all__ names {name!r} but zpyro has no such attribute"
    assert len(set(zpyro.__all__)) == len(zpyro.__all__)


def test_all_lists_every_public_name() -> None:
    """What `import zpyro` offers without an underscore is in __all__ (submodules, and the
    ``annotations`` that ``from __future__ import annotations`` leaves behind, are not names of
    the API; a submodule that is one, like ``errors``, is listed on purpose)."""
    public = {
        name
        for name, value in vars(zpyro).items()
        if not name.startswith("_")
        and not isinstance(value, (types.ModuleType, __future__._Feature))
    }
    assert public, "zpyro exports nothing: the test would prove nothing"
    assert sorted(public - set(zpyro.__all__)) == [], "public but missing from zpyro.__all__"


@pytest.mark.parametrize("name", PROMISED)
def test_promised_names_are_exported(name: str) -> None:
    assert name in zpyro.__all__
    assert getattr(zpyro, name) is not None


def test_version_is_a_string() -> None:
    assert isinstance(zpyro.__version__, str) and zpyro.__version__.count(".") == 2


def test_error_tree_matches_the_contract() -> None:
    e = zpyro.errors
    for cls in (
        e.CommunicationError,
        e.NamingError,
        e.DaemonError,
        e.SecurityError,
        e.SerializeError,
        e.MessageTooLargeError,
        e.RemoteError,
    ):
        assert issubclass(cls, e.ZPyroError)
    for cls in (e.ConnectionClosedError, e.TimeoutError, e.ProtocolError):
        assert issubclass(cls, e.CommunicationError)
    assert issubclass(e.TimeoutError, builtins.TimeoutError)
    assert e.PyroError is e.ZPyroError


def test_pyro4_spellings() -> None:
    import zpyro.core

    assert zpyro.Daemon.requestLoop is zpyro.Daemon.request_loop
    assert zpyro.Daemon.uriFor is zpyro.Daemon.uri_for
    assert zpyro.core.Proxy is zpyro.Proxy
    assert callable(zpyro.util.getPyroTraceback)
