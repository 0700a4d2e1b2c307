"""What a remote caller may reach: @expose, @oneway, @idempotent, @callback, @behavior. Pure.

Rules, in order:

* a name with a leading underscore is never reachable, whatever the decorators say, except a
  "dunder" method (``__len__``, ``__getitem__``, ...) that is explicitly exposed: decorated
  itself, or defined by a class decorated with ``@expose`` (as in Pyro). Dunders of Python's own
  machinery (``__init__``, ``__getattr__``, ``__reduce__``, ... :data:`PRIVATE_DUNDERS`) never;
* with ``REQUIRE_EXPOSE`` on (the default), a member is reachable when it is decorated with
  ``@expose`` or its class is;
* with ``REQUIRE_EXPOSE`` off, every public method and property is reachable (old Pyro4 code),
  dunders only when exposed as above;
* properties are "attrs": readable remotely, writable when they have a setter.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .wire import GETATTR, SETATTR

T = TypeVar("T")

# Pyro's list of dunder methods that are never reachable, plus newer ones of Python's machinery
PRIVATE_DUNDERS = frozenset(
    {
        "__init__", "__init_subclass__", "__class__", "__module__", "__weakref__", "__call__",
        "__new__", "__del__", "__repr__", "__unicode__", "__str__", "__format__", "__nonzero__",
        "__bool__", "__coerce__", "__cmp__", "__eq__", "__ne__", "__hash__", "__ge__", "__gt__",
        "__le__", "__lt__", "__dir__", "__enter__", "__exit__", "__copy__", "__deepcopy__",
        "__sizeof__", GETATTR, SETATTR, "__hasattr__", "__getattribute__", "__delattr__",
        "__instancecheck__", "__subclasscheck__", "__getinitargs__", "__getnewargs__",
        "__getnewargs_ex__", "__getstate__", "__setstate__", "__reduce__", "__reduce_ex__",
        "__getstate_for_dict__", "__setstate_from_dict__", "__subclasshook__", "__annotate__",
        "__set_name__", "__class_getitem__", "__post_init__", "__prepare__", "__aenter__",
        "__aexit__", "__get__", "__set__", "__delete__", "__buffer__",
        "__release_buffer__", "__replace__",
    }
)  # fmt: skip

INSTANCE_MODES = ("single", "session", "percall")


class Members:
    """The reachable members of one class (computed once per class and exposure mode)."""

    __slots__ = (
        "methods",
        "oneway",
        "attrs",
        "writable_attrs",
        "coroutines",
        "idempotent",
        "_metadata",
    )

    def __init__(
        self,
        methods: frozenset[str],
        oneway: frozenset[str],
        attrs: frozenset[str],
        writable_attrs: frozenset[str],
        coroutines: frozenset[str],
        idempotent: frozenset[str] = frozenset(),
    ) -> None:
        self.methods = methods
        self.oneway = oneway
        self.attrs = attrs
        self.writable_attrs = writable_attrs
        self.coroutines = coroutines
        self.idempotent = idempotent
        self._metadata = {
            "methods": sorted(methods),
            "oneway": sorted(oneway),
            "attrs": sorted(attrs),
        }
        if idempotent:  # a broker may re-run these on another daemon of the pool
            self._metadata["idempotent"] = sorted(idempotent)

    def as_metadata(self) -> dict[str, list[str]]:
        """What a proxy needs to know, in a form every serializer carries (a fresh copy)."""
        return dict(self._metadata)


def expose(obj: T) -> T:
    """Make a class, method or property reachable by remote callers."""
    if isinstance(obj, property):
        for accessor in (obj.fget, obj.fset, obj.fdel):
            if accessor is not None:
                accessor._pyroExposed = True  # type: ignore[union-attr]
        return obj
    if isinstance(obj, (staticmethod, classmethod)):
        obj.__func__._pyroExposed = True  # type: ignore[union-attr]
        return obj
    name = getattr(obj, "__name__", "")
    if not is_reachable_name(name) and not inspect.isclass(obj):
        raise AttributeError(f"cannot expose private member {name!r}")
    obj._pyroExposed = True  # type: ignore[attr-defined]
    return obj


def oneway(method: T) -> T:
    """Mark a method as oneway: the caller does not wait for it, and gets no result."""
    target = method.__func__ if isinstance(method, (staticmethod, classmethod)) else method
    target._pyroOneway = True  # type: ignore[union-attr]
    return method


def idempotent(method: T) -> T:
    """Mark a method as safe to run twice: if the brokered daemon running it dies, the broker
    sends the call to another daemon of the pool instead of failing it."""
    target = method.__func__ if isinstance(method, (staticmethod, classmethod)) else method
    target._pyroIdempotent = True  # type: ignore[union-attr]
    return method


def callback(method: T) -> T:
    """Mark a method as a callback: an exception in it is logged locally as well as raised."""
    method._pyroCallback = True  # type: ignore[attr-defined]
    return method


def behavior(
    instance_mode: str = "session", instance_creator: Callable[[type], Any] | None = None
) -> Callable[[type[T]], type[T]]:
    """Set how instances of a registered *class* are made: single, session or percall."""
    if not isinstance(instance_mode, str) or instance_mode not in INSTANCE_MODES:
        raise ValueError(f"instance_mode must be one of {INSTANCE_MODES}, not {instance_mode!r}")
    if instance_creator is not None and not callable(instance_creator):
        raise TypeError("instance_creator must be callable")

    def decorate(cls: type[T]) -> type[T]:
        if not inspect.isclass(cls):
            raise TypeError("@behavior goes on a class")
        cls._pyroInstancing = (instance_mode, instance_creator)  # type: ignore[attr-defined]
        return cls

    return decorate


def instancing_of(cls: type) -> tuple[str, Callable[[type], Any] | None]:
    """(instance_mode, creator) of a class; Pyro's default for a registered class is session."""
    return getattr(cls, "_pyroInstancing", ("session", None))


def is_private(name: str) -> bool:
    return name.startswith("_")


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def is_reachable_name(name: str) -> bool:
    """Whether a member of this name may be exposed at all (a public name, or an exposable
    dunder)."""
    return not name.startswith("_") or (is_dunder(name) and name not in PRIVATE_DUNDERS)


def is_callback(func: Any) -> bool:
    return bool(getattr(func, "_pyroCallback", False))


_cache: dict[tuple[type, bool], Members] = {}
_cache_lock = threading.Lock()


def members_of(obj: Any, require_expose: bool = True) -> Members:
    """Reachable members of an object (or of a class, when given one)."""
    cls = obj if inspect.isclass(obj) else type(obj)
    key = (cls, require_expose)
    found = _cache.get(key)
    if found is None:
        found = _compute(cls, require_expose)
        with _cache_lock:
            _cache[key] = found
    return found


def forget(cls: type) -> None:
    """Drop what was computed for a class (its members changed at run time)."""
    with _cache_lock:
        for require in (True, False):
            _cache.pop((cls, require), None)


def _compute(cls: type, require_expose: bool) -> Members:
    methods: set[str] = set()
    oneways: set[str] = set()
    attrs: set[str] = set()
    writable: set[str] = set()
    coroutines: set[str] = set()
    idempotents: set[str] = set()
    for name, value, owner in _static_members(cls):
        dunder = is_private(name)  # (past the next line, the only private names are dunders)
        if dunder and not is_reachable_name(name):
            continue
        # @expose on a class covers what that class itself defines (as in Pyro5), so an
        # undecorated subclass does not silently expose its new members
        class_exposed = "_pyroExposed" in vars(owner)
        if isinstance(value, property):
            if dunder:
                continue
            accessor = value.fget
            if not (class_exposed or not require_expose or _marked(accessor)):
                continue
            attrs.add(name)
            if value.fset is not None:
                writable.add(name)
            continue
        func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if not inspect.isroutine(func):
            continue
        if not (class_exposed or (not require_expose and not dunder) or _marked(func)):
            continue
        methods.add(name)
        if getattr(func, "_pyroOneway", False):
            oneways.add(name)
        if inspect.iscoroutinefunction(func):
            coroutines.add(name)
        if getattr(func, "_pyroIdempotent", False):
            idempotents.add(name)
    return Members(
        frozenset(methods),
        frozenset(oneways),
        frozenset(attrs),
        frozenset(writable),
        frozenset(coroutines),
        frozenset(idempotents),
    )


def _static_members(cls: type) -> list[tuple[str, Any, type]]:
    """(name, value, defining class) without triggering descriptors; nearest definition wins."""
    found: dict[str, tuple[str, Any, type]] = {}
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, value in vars(klass).items():
            found.setdefault(name, (name, value, klass))
    return list(found.values())


def _marked(func: Any) -> bool:
    return bool(getattr(func, "_pyroExposed", False))
