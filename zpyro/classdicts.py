"""Custom classes <-> dicts: the registry every serializer consults, and zpyro's own entries.

A class registered with :func:`register_class_to_dict` travels as its converter's dict (with a
``"__class__"`` key); an object registered in a daemon (it has Pyro's ``_pyroDaemon`` and
``_pyroId``) as a proxy to it (autoproxy, also for arguments: the callback idiom); other
objects as ``{"__class__": "mod.QualName", **vars(obj)}``. On loads,
a dict whose class name is registered with :func:`register_dict_to_class` is converted back;
otherwise it stays a dict (the Pyro habit).

zpyro's own classes are registered here, next to the serializers, so that serializing a URI
needs nothing above this layer: a ``URI`` travels as its text, and so does a ``Proxy``, whose
class the client module hands in (:func:`register_proxy_class`) since this layer cannot import it.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections.abc import Callable
from typing import Any

from .errors import SerializeError
from .uri import URI

__all__ = [
    "register_class_to_dict",
    "unregister_class_to_dict",
    "register_dict_to_class",
    "unregister_dict_to_class",
    "register_proxy_class",
]

# Shared with the serializers, which test them for emptiness on their fast paths.
class_to_dict: dict[type, Callable[[Any], dict[str, Any]]] = {}
dict_to_class: dict[str, Callable[[str, dict[str, Any]], Any]] = {}


def register_class_to_dict(cls: type, converter: Callable[[Any], dict[str, Any]]) -> None:
    """Serialize instances of ``cls`` (and subclasses) as ``converter(obj)``, a dict."""
    class_to_dict[cls] = converter


def unregister_class_to_dict(cls: type) -> None:
    class_to_dict.pop(cls, None)


def register_dict_to_class(classname: str, converter: Callable[[str, dict[str, Any]], Any]) -> None:
    """On loads, turn a dict whose ``"__class__"`` is ``classname`` into ``converter(name, d)``."""
    dict_to_class[classname] = converter


def unregister_dict_to_class(classname: str) -> None:
    dict_to_class.pop(classname, None)


def class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_dict(obj: Any) -> dict[str, Any] | None:
    """The registered converter's dict for obj (``__class__`` added), or None if unregistered."""
    if not class_to_dict:
        return None
    for klass in type(obj).__mro__:
        conv = class_to_dict.get(klass)
        if conv is not None:
            d = conv(obj)
            if not isinstance(d, dict):
                raise SerializeError(f"class_to_dict converter for {klass!r} did not return a dict")
            if "__class__" not in d:
                d = {"__class__": class_name(type(obj)), **d}
            return d
    return None


def autoproxy_dict(obj: Any) -> dict[str, Any] | None:
    """A daemon's registered object travels as a proxy to it: its dict, else None.

    Daemon.register gives the object ``_pyroDaemon`` and ``_pyroId``, as Pyro does."""
    daemon = getattr(obj, "_pyroDaemon", None)
    if daemon is None or isinstance(obj, type):
        return None
    try:
        uri = daemon.uri_for(obj._pyroId)
    except Exception:  # unregistered meanwhile, or someone else's attribute of that name
        return None
    return {"__class__": "zpyro.Proxy", "uri": str(uri)}


def autoproxy_reduce(obj: Any) -> Any:
    """pickle's reducer_override: a registered object pickles as a proxy to it."""
    d = autoproxy_dict(obj) if _proxy_class is not None else None
    return NotImplemented if d is None else (_proxy_class, (d["uri"],))


def object_dict(obj: Any) -> dict[str, Any]:
    d = registered_dict(obj) or autoproxy_dict(obj)
    if d is not None:
        return d
    try:
        attrs = vars(obj)
    except TypeError:
        raise TypeError(f"don't know how to serialize {type(obj).__qualname__} objects") from None
    return {"__class__": class_name(type(obj)), **attrs}


def to_class(d: dict[str, Any]) -> Any:
    name = d.get("__class__")
    if type(name) is str:
        conv = dict_to_class.get(name)
        if conv is not None:
            return conv(name, d)
    return d


def plain_default(obj: Any) -> Any:
    """Fallback for json/msgpack: a registered class's dict (registered wins, as with serpent),
    else what serpent does by itself, in plain types."""
    if class_to_dict and not isinstance(obj, (set, frozenset)):
        registered = registered_dict(obj)
        if registered is not None:
            return registered
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, (uuid.UUID, decimal.Decimal)):
        return str(obj)
    return object_dict(obj)


# -- zpyro's own classes: they travel as their URI text, with every serializer --------------------


def _uri_to_dict(uri: URI) -> dict[str, Any]:
    return {"__class__": "zpyro.URI", "uri": str(uri)}


def _dict_to_uri(_classname: str, data: dict[str, Any]) -> URI:
    return URI(data["uri"])


register_class_to_dict(URI, _uri_to_dict)
register_dict_to_class("zpyro.URI", _dict_to_uri)


_proxy_class: type | None = None


def register_proxy_class(proxy_class: type) -> None:
    """Proxies travel as ``{"__class__": "zpyro.Proxy", "uri": ...}`` and arrive as proxies made
    by `proxy_class(uri)` (called once, by zpyro.client, with its Proxy)."""
    global _proxy_class
    _proxy_class = proxy_class

    def to_dict(proxy: Any) -> dict[str, Any]:
        return {"__class__": "zpyro.Proxy", "uri": str(proxy._pyroUri)}

    def from_dict(_classname: str, data: dict[str, Any]) -> Any:
        return proxy_class(data["uri"])

    register_class_to_dict(proxy_class, to_dict)
    register_dict_to_class("zpyro.Proxy", from_dict)


def _dict_to_float(_classname: str, data: dict[str, Any]) -> Any:
    """serpent writes a NaN as ``{"__class__": "float", "value": "nan"}``: a float again, as
    Pyro does (anything else under that name stays the dict it is)."""
    value = data.get("value")
    return float(value) if value in ("nan", "-nan") and len(data) == 2 else data


register_dict_to_class("float", _dict_to_float)
