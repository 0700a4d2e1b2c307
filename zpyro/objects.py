"""The objects a daemon serves: object id -> instance, or class with an instance mode.

An instance may be registered weakly (Pyro5's ``register(obj, weak=True)``): the registry then
does not keep it alive, and it is unregistered when it is collected.
"""

from __future__ import annotations

import inspect
import threading
import uuid
import weakref
from typing import Any

from .errors import DaemonError
from .exposure import instancing_of


class _ClassEntry:
    """A registered class: instances made on demand per its instance mode."""

    __slots__ = ("cls", "mode", "creator", "single", "sessions", "lock")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.mode, self.creator = instancing_of(cls)
        self.single: Any = None
        self.sessions: dict[bytes, Any] = {}
        self.lock = threading.Lock()

    def make(self) -> Any:
        return self.creator(self.cls) if self.creator is not None else self.cls()

    def instance_for(self, client: bytes) -> Any:
        if self.mode == "percall":
            return self.make()
        with self.lock:
            if self.mode == "single":
                if self.single is None:
                    self.single = self.make()
                return self.single
            inst = self.sessions.get(client)
            if inst is None:
                inst = self.sessions[client] = self.make()
            return inst


class _WeakEntry:
    """A weakly registered instance."""

    __slots__ = ("ref",)

    def __init__(self, ref: weakref.ref[Any]) -> None:
        self.ref = ref


def _live(target: Any) -> Any:
    """The served object of a registry entry (None: a weak one that was collected)."""
    return target.ref() if isinstance(target, _WeakEntry) else target


def _registered(target: Any) -> Any:
    """What was registered for a registry entry: the class, or the (live) instance."""
    return target.cls if isinstance(target, _ClassEntry) else _live(target)


class ObjectRegistry:
    """Thread-safe map of object ids to served objects."""

    def __init__(self) -> None:
        self._objects: dict[str, Any] = {}
        self._instances: dict[int, str] = {}  # id(instance) -> object id, for autoproxy
        self._lock = threading.Lock()
        self.has_sessions = False  # a session-mode class is registered: clients hold state
        self.version = (
            0  # changes whenever an id is added or removed (for lookups cached elsewhere)
        )

    def add(
        self, obj: Any, object_id: str | None = None, force: bool = False, weak: bool = False
    ) -> str:
        if object_id is None:
            object_id = "obj_" + uuid.uuid4().hex
        if not isinstance(object_id, str) or not object_id:
            raise DaemonError("object id must be a non-empty string")
        if inspect.isclass(obj):
            if weak:
                raise DaemonError("weak=True registers an instance; a class is kept anyway")
            target: Any = _ClassEntry(obj)
        elif weak:
            registry = weakref.ref(self)

            def collected(_ref: Any, object_id: str = object_id) -> None:
                live = registry()
                if live is not None:
                    live._collected(object_id, entry)

            try:
                entry = target = _WeakEntry(weakref.ref(obj, collected))
            except TypeError:
                raise DaemonError(
                    f"{type(obj).__name__} objects cannot be referenced weakly: "
                    "register them without weak=True"
                ) from None
        else:
            target = obj
        with self._lock:
            if not force:
                if object_id in self._objects:
                    raise DaemonError(f"object id {object_id!r} is already registered")
                if any(_same(existing, obj) for existing in self._objects.values()):
                    raise DaemonError("object or class is already registered")
            self._objects[object_id] = target
            self.version += 1
            if not isinstance(target, _ClassEntry):
                self._instances[id(obj)] = object_id
            self._note_sessions()
        return object_id

    def _collected(self, object_id: str, entry: _WeakEntry) -> None:
        """A weakly registered object was collected: it is no longer served."""
        with self._lock:
            if self._objects.get(object_id) is entry:
                del self._objects[object_id]
                self.version += 1
                for key, value in list(self._instances.items()):
                    if value == object_id:
                        del self._instances[key]

    def _note_sessions(self) -> None:
        self.has_sessions = any(
            isinstance(t, _ClassEntry) and t.mode == "session" for t in self._objects.values()
        )

    def remove(self, obj_or_id: Any) -> tuple[str, Any] | None:
        """Unregister; (object id, the object or class) when it was registered."""
        with self._lock:
            if isinstance(obj_or_id, str):
                key: str | None = obj_or_id
                target = self._objects.pop(obj_or_id, None)
            else:
                key = target = None
                for found, existing in list(self._objects.items()):
                    if _same(existing, obj_or_id):
                        key, target = found, self._objects.pop(found)
                        break
            if key is None or target is None:
                return None
            self.version += 1
            served = _registered(target)
            if served is not None:
                self._instances.pop(id(served), None)
            self._note_sessions()
            return key, served

    def id_of_instance(self, obj: Any) -> str | None:
        """The object id of a registered instance (fast: used on every result for autoproxy)."""
        object_id = self._instances.get(id(obj))
        if object_id is not None and _live(self._objects.get(object_id)) is obj:
            return object_id
        return None

    def id_of(self, obj: Any) -> str | None:
        with self._lock:
            for key, existing in self._objects.items():
                if _same(existing, obj):
                    return key
        return None

    def resolve(self, object_id: str, client: bytes) -> Any:
        """The instance that serves a call from `client`; DaemonError if the id is unknown."""
        target = self._objects.get(object_id)
        if target is None:
            raise DaemonError(f"unknown object {object_id!r}")
        if isinstance(target, _ClassEntry):
            return target.instance_for(client)
        if isinstance(target, _WeakEntry):
            target = target.ref()
            if target is None:
                raise DaemonError(f"unknown object {object_id!r} (it was collected)")
        return target

    def entry(self, object_id: str) -> tuple[Any, bool] | None:
        """What serves `object_id`: (the instance, True) or (its class entry, False), whose
        ``instance_for(client)`` gives the instance per its instance mode; None if unknown or
        weakly registered (not to be kept alive by a lookup cached elsewhere)."""
        target = self._objects.get(object_id)
        if target is None or isinstance(target, _WeakEntry):
            return None
        return (target, not isinstance(target, _ClassEntry))

    def target_class(self, object_id: str) -> type | None:
        target = self._objects.get(object_id)
        if target is None:
            return None
        if isinstance(target, _ClassEntry):
            return target.cls
        live = _live(target)
        return None if live is None else type(live)

    def snapshot(self) -> dict[str, Any]:
        """Object id -> the registered object or class, as it is now."""
        with self._lock:
            items = list(self._objects.items())
        found = {}
        for key, target in items:
            served = _registered(target)
            if served is not None:
                found[key] = served
        return found

    def instance_modes(self) -> dict[str, str]:
        """Object id -> instance mode, for the objects that are registered classes."""
        with self._lock:
            return {k: t.mode for k, t in self._objects.items() if isinstance(t, _ClassEntry)}

    def drop_session(self, client: bytes) -> int:
        """Forget the session instances of a client that went away; returns how many."""
        dropped = 0
        with self._lock:
            entries = [t for t in self._objects.values() if isinstance(t, _ClassEntry)]
        for entry in entries:
            with entry.lock:
                if entry.sessions.pop(client, None) is not None:
                    dropped += 1
        return dropped

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._objects)

    def __len__(self) -> int:
        return len(self._objects)


def _same(entry: Any, obj: Any) -> bool:
    if isinstance(entry, _ClassEntry):
        return entry.cls is obj
    return _live(entry) is obj
