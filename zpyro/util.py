"""Pyro's ``util`` module as ported code uses it: tracebacks, custom class (de)serialization.

* ``getPyroTraceback``, ``formatTraceback``, ``excepthook`` (Pyro5: ``errors.get_pyro_traceback``,
  ``format_traceback``, the same functions);
* ``SerializerBase.register_class_to_dict`` / ``register_dict_to_class`` and their
  ``unregister_`` twins: zpyro's one registry that every serializer consults
  (``zpyro.register_class_to_dict`` is the same function);
* ``get_exposed_members``, ``is_private_attribute``.

Pyro's serializer objects (``get_serializer(name).dumps(...)``) have no counterpart with the same
interface; those names raise an AttributeError that says what to use instead.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import classdicts, errors
from .exposure import is_private, members_of

__all__ = [
    "SerializerBase",
    "getPyroTraceback",
    "formatTraceback",
    "excepthook",
    "get_remote_traceback",
    "get_exposed_members",
    "is_private_attribute",
]

excepthook = errors.excepthook
get_remote_traceback = errors.get_remote_traceback


getPyroTraceback = errors.get_pyro_traceback  # Pyro4's name


def formatTraceback(  # noqa: N802 (Pyro4 name)
    ex_type: type[BaseException] | None = None,
    ex_value: BaseException | None = None,
    ex_tb: TracebackType | None = None,
    detailed: bool = False,
) -> list[str]:
    """Traceback lines (default: the exception being handled); `detailed` adds local values."""
    return errors.format_traceback(ex_type, ex_value, ex_tb, detailed)


_OTHER_INTERFACE = (
    "zpyro's serializers have another interface: "
    "zpyro.serializers.get_serializer(name).dumps(obj) -> (payload, buffers)"
)
# Pyro's SerializerBase methods that belong to its serializer objects, not to the registry
_SERIALIZER_METHODS = frozenset(
    {
        "dumps",
        "loads",
        "dumpsCall",
        "loadsCall",
        "serializeData",
        "deserializeData",
        "serializeCall",
        "deserializeCall",
        "make_exception",
        "recreate_classes",
    }
)


class _RefusingSerializerMethods(type):
    def __getattr__(cls, name: str) -> Any:
        if name in _SERIALIZER_METHODS:
            raise AttributeError(f"SerializerBase.{name} is not supported: {_OTHER_INTERFACE}")
        raise AttributeError(f"type object 'SerializerBase' has no attribute {name!r}")


class SerializerBase(metaclass=_RefusingSerializerMethods):
    """Pyro's home of the custom class registry; here a face of zpyro's one registry."""

    @staticmethod
    def register_class_to_dict(
        clazz: type, converter: Callable[[Any], dict[str, Any]], serpent_too: bool = True
    ) -> None:
        """Serialize instances of `clazz` as ``converter(obj)`` (a dict), with every serializer
        (`serpent_too` is Pyro's; zpyro has one registry for all)."""
        classdicts.register_class_to_dict(clazz, converter)

    @staticmethod
    def unregister_class_to_dict(clazz: type) -> None:
        classdicts.unregister_class_to_dict(clazz)

    @staticmethod
    def register_dict_to_class(
        classname: str, converter: Callable[[str, dict[str, Any]], Any]
    ) -> None:
        """Turn a received dict whose ``__class__`` is `classname` into ``converter(name, d)``."""
        classdicts.register_dict_to_class(classname, converter)

    @staticmethod
    def unregister_dict_to_class(classname: str) -> None:
        classdicts.unregister_dict_to_class(classname)

    @staticmethod
    def class_to_dict(obj: Any) -> dict[str, Any]:
        """The dict `obj` travels as (its registered converter's, else its class and vars)."""
        return classdicts.object_dict(obj)

    @staticmethod
    def dict_to_class(data: dict[str, Any]) -> Any:
        """What a received dict becomes: a registered class's object, else the dict itself
        (zpyro never constructs an unregistered class a peer names)."""
        return classdicts.to_class(data)

    @staticmethod
    def register_type_replacement(object_type: type, replacement_function: Any) -> None:
        raise AttributeError(
            "SerializerBase.register_type_replacement is not supported: use "
            "register_class_to_dict(cls, converter), which every serializer consults"
        )


def get_exposed_members(
    obj: Any, only_exposed: bool = True, as_lists: bool = False, use_cache: bool = True
) -> dict[str, Any]:
    """``{"methods", "oneway", "attrs"}`` of an object or class, as a proxy would see them."""
    meta = members_of(obj, only_exposed).as_metadata()
    names = ("methods", "oneway", "attrs")
    return {k: list(meta[k]) if as_lists else set(meta[k]) for k in names}


def is_private_attribute(attr_name: str) -> bool:
    """Never reachable remotely: a leading underscore."""
    return is_private(attr_name)


_DISPATCH_INTERNALS = (
    "Pyro's dispatcher internals; zpyro rebuilds only builtin, zpyro and allow-listed "
    "exceptions (errors.register_exception)"
)
_REFUSED = {
    "get_serializer": _OTHER_INTERFACE,
    "get_serializer_by_id": _OTHER_INTERFACE,
    "SerpentSerializer": _OTHER_INTERFACE,
    "JsonSerializer": _OTHER_INTERFACE,
    "MarshalSerializer": _OTHER_INTERFACE,
    "MsgpackSerializer": _OTHER_INTERFACE,
    "PickleSerializer": _OTHER_INTERFACE,
    "DillSerializer": "there is no dill serializer",
    "CloudpickleSerializer": "there is no cloudpickle serializer",
    "all_exceptions": _DISPATCH_INTERNALS,
    "get_exposed_property_value": _DISPATCH_INTERNALS,
    "set_exposed_property_value": _DISPATCH_INTERNALS,
    "reset_exposed_members": _DISPATCH_INTERNALS,
}


def __getattr__(name: str) -> Any:
    why = _REFUSED.get(name)
    if why is not None:
        raise AttributeError(f"zpyro.util.{name} is not supported: {why}")
    raise AttributeError(f"module 'zpyro.util' has no attribute {name!r}")
