"""serpent / json / msgpack / marshal / pickle behind one dumps/loads interface.

``dumps(obj)`` returns ``(payload, buffers)``: big byte buffers are left out of the payload and
travel as extra frames (:mod:`zpyro.oob`); ``loads(payload, buffers)`` puts them back, as
``bytes``. Markers, and the escape of user maps shaped like one, live there too (a marker the
receiver does not know is an error, never data).

Rules every serializer keeps here:

- ``bytes`` arrive as ``bytes``; bytearray and memoryview arrive as ``bytes`` too.
- Custom classes go through one registry (:mod:`zpyro.classdicts`): registered classes travel
  as their converter's dict, other objects as ``{"__class__": "mod.QualName", **vars(obj)}``;
  pickle keeps real objects and ignores the registry; marshal cannot carry objects at all.
- Every failure (unserializable value, corrupt payload) is a :class:`~zpyro.errors.SerializeError`
  naming the serializer.

.. warning:: marshal and pickle are unsafe to *load* from untrusted peers: pickle can run
   arbitrary code, and a few bytes of marshal can make it allocate gigabytes and spin for
   seconds. Whether to accept them is the daemon's decision, not this module's.

The instances are shared and thread-safe: no per-call state lives on them. Nothing here reads the
global config; thresholds are parameters.

Speed: plain data (exact str/int/float/bool/None/bytes in lists, tuples and dicts, checked by
C-level type scans) skips the out-of-band walk, and serpent writes it with ``repr`` and reads
simple documents without ``ast`` (:mod:`zpyro.serpent_text`); both give what serpent would.
"""

from __future__ import annotations

import binascii
import io
import json
import marshal
import pickle
import threading
from collections.abc import Sequence
from typing import Any

import msgpack
import serpent

from . import wire
from .classdicts import (
    autoproxy_dict,
    autoproxy_reduce,
    class_name,
    plain_default,
    register_class_to_dict,
    register_dict_to_class,
    registered_dict,
    to_class,
    unregister_class_to_dict,
    unregister_dict_to_class,
)
from .classdicts import class_to_dict as _class_to_dict
from .classdicts import dict_to_class as _dict_to_class
from .errors import SerializeError
from .oob import (
    BINARY,
    BYTES_KEY,
    LEAF,
    MARKER_TEXT,
    SIMPLE,
    as_bytes,
    extract,
    mentions_markers,
    oob_hook,
    plain,
    read_marker,
    reserved_key,
    revive,
)
from .serpent_text import NotSimple, dumps_plain, fast_loads
from .speedups import accelerator

# serpent_text.fast_loads in C (zpyro/_speedups.c), when built: the same subset, the same values
_read_serpent = None if accelerator is None else accelerator.serpent_loads

__all__ = [
    "OOB_THRESHOLD",
    "Serializer",
    "SERIALIZERS",
    "BY_ID",
    "get_serializer",
    "register_class_to_dict",
    "unregister_class_to_dict",
    "register_dict_to_class",
    "unregister_dict_to_class",
]

OOB_THRESHOLD = 32 * 1024

_tls = threading.local()  # per-thread msgpack Packer


# ---- the interface ------------------------------------------------------------------------------


class Serializer:
    """One wire format. Subclasses implement ``_encode`` and ``_decode``."""

    name: str = ""
    serializer_id: int = 0

    def dumps(self, obj: Any, oob_threshold: int = OOB_THRESHOLD) -> tuple[bytes, list[Any]]:
        """Serialize obj; returns ``(payload, out_of_band_buffers)``."""
        bufs: list[Any] = []
        try:
            if plain(obj, oob_threshold):
                return self._encode_plain(obj), bufs
            if type(obj) not in LEAF:
                try:
                    obj = extract(obj, oob_threshold, bufs)
                except RecursionError:
                    if not self._cycles_ok:
                        raise
                    bufs = []  # cyclic data (pickle can carry it): send inline
            return self._encode(obj), bufs
        except SerializeError as exc:
            raise SerializeError(f"{self.name}: {exc}") from exc
        except Exception as exc:
            raise SerializeError(
                f"{self.name} cannot serialize: {type(exc).__name__}: {exc}"
            ) from exc

    def dumps_call(
        self, args: Sequence[Any], kwargs: dict[str, Any], oob_threshold: int = OOB_THRESHOLD
    ) -> tuple[bytes, list[Any]]:
        """``dumps([args, kwargs])``, the body of a call; arguments that are all exact
        str/int/bool/None (the common call) skip the plain-data walk."""
        if not kwargs and SIMPLE.issuperset(map(type, args)):
            try:
                return self._encode_plain([args, kwargs]), []
            except Exception:
                pass  # (dumps below names the problem)
        return self.dumps([args, kwargs], oob_threshold)

    def loads(self, payload: bytes | bytearray | memoryview, buffers: Sequence[Any] = ()) -> Any:
        """Deserialize a payload, putting ``buffers`` (extra frames) back in place of markers."""
        try:
            return self._decode(payload, as_bytes(buffers) if buffers else None)
        except SerializeError as exc:
            raise SerializeError(f"{self.name}: {exc}") from exc
        except Exception as exc:
            raise SerializeError(
                f"{self.name} cannot deserialize: {type(exc).__name__}: {exc}"
            ) from exc

    _cycles_ok = False

    def _encode(self, obj: Any) -> bytes:
        raise NotImplementedError

    def _encode_plain(self, obj: Any) -> bytes:
        """_encode for data that plain() accepted; a serializer may have a faster way."""
        return self._encode(obj)

    def _decode(self, payload: Any, bufs: list[bytes] | None) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} id={self.serializer_id}>"


def _serpent_registered(obj: Any, writer: Any, out: Any, level: int) -> None:
    writer.ser_builtins_dict(registered_dict(obj), out, level)


class _SerpentWriter(serpent.Serializer):  # type: ignore[misc]  # (serpent has no types)
    """serpent, plus our class_to_dict registry (without touching serpent's global one)."""

    # serpent copies its global special-class registry into this attribute at the start of each
    # serialize() and consults it before its own dispatch (its fallback to ser_default_class
    # ignores overrides in subclasses), so our registered classes are merged in as it is set.
    @property
    def special_classes_registry_copy(self) -> Any:
        return self._zpyro_specials

    @special_classes_registry_copy.setter
    def special_classes_registry_copy(self, value: Any) -> None:
        if value is not None and _class_to_dict:
            value = {**value, **dict.fromkeys(_class_to_dict, _serpent_registered)}
        self._zpyro_specials = value

    def ser_default_class(self, obj: Any, out: Any, level: int) -> None:
        d = registered_dict(obj) or autoproxy_dict(obj)
        if d is None:
            super().ser_default_class(obj, out, level)
        else:
            self.ser_builtins_dict(d, out, level)

    # serpent's last resort for an unknown class is its own ser_default_class, whatever a
    # subclass defines; but it first walks the class's MRO through `dispatch`, so `object` there
    # brings every unknown class to ours (registered objects travel as proxies)
    dispatch = {**serpent.Serializer.dispatch, object: ser_default_class}

    def get_class_name(self, obj: Any) -> str:
        return class_name(type(obj))  # same "module.QualName" as json/msgpack


_MEMO_BYTES = 64  # header (26 bytes) + a short body
_MEMO_SIZE = 256


class SerpentSerializer(Serializer):
    name = "serpent"
    serializer_id = wire.SERPENT_ID

    def _encode(self, obj: Any) -> bytes:
        # bytes_repr: bytes as a b'...' literal, which literal_eval gives back as bytes (no base64)
        writer = _SerpentWriter(indent=False, module_in_classname=True, bytes_repr=True)
        text: bytes = writer.serialize(obj)
        return text

    def _encode_plain(self, obj: Any) -> bytes:
        return dumps_plain(obj)  # what serpent writes for plain data, without its Python walk

    # Short documents that come again and again (the body of a call without arguments, a
    # result like None or True) are read once: payload -> marshal of the value, which gives a
    # fresh copy (no shared lists or dicts) in well under a µs. The marshal bytes are made here,
    # never received, so loading them is safe.
    _memo: dict[bytes, bytes] = {}

    def _decode(self, payload: Any, bufs: list[bytes] | None) -> Any:
        if _read_serpent is not None and type(payload) is bytes:
            try:
                obj = _read_serpent(payload)  # C; NotImplemented: outside the simple subset
            except (ValueError, TypeError, OverflowError):
                obj = NotImplemented  # (serpent says what is wrong)
            if obj is not NotImplemented:
                return _revived(obj, payload, bufs)
        memo = self._memo
        short = type(payload) is bytes and len(payload) <= _MEMO_BYTES
        frozen = memo.get(payload) if short else None
        if frozen is not None:
            obj = marshal.loads(frozen)
        else:
            try:
                obj = fast_loads(str(payload, "utf-8"))
                if short:
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    memo[payload] = marshal.dumps(obj)
            except (NotSimple, ValueError, TypeError, OverflowError):
                # outside the fast reader's subset (or bad: then serpent names the problem)
                obj = serpent.loads(payload)
        return _revived(obj, payload, bufs)


def _revived(obj: Any, payload: Any, bufs: list[bytes] | None) -> Any:
    """obj with its markers read and registered classes made, if its payload has any (found by
    C-level searches: `find`, as `in` first tries the needle as an int and costs twice as much)."""
    data = payload if type(payload) is bytes else bytes(payload)
    classes = bool(_dict_to_class) and data.find(b"__class__") >= 0
    if bufs or classes or data.find(MARKER_TEXT) >= 0:
        return revive(obj, bufs, classes)
    return obj


def _object_hook(d: dict[Any, Any]) -> Any:
    """json's and msgpack's object_hook: markers (buffers: oob_hook) and registered classes.
    It runs for every map anyway (zpyro's URI class is always registered), so reading markers
    here costs a length test per map, and no search of the payload."""
    if len(d) == 1:
        key = next(iter(d))
        if reserved_key(key):
            return read_marker(key, d[key], None)
    if _dict_to_class and "__class__" in d:
        return to_class(d)
    return d


def _json_default(obj: Any) -> Any:
    if isinstance(obj, BINARY):
        return {BYTES_KEY: binascii.b2a_base64(obj, newline=False).decode("ascii")}
    return plain_default(obj)


class JsonSerializer(Serializer):
    name = "json"
    serializer_id = wire.JSON_ID
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)
    _decoder = json.JSONDecoder(object_hook=_object_hook)

    def _encode(self, obj: Any) -> bytes:
        return self._encoder.encode(obj).encode("utf-8")

    def _decode(self, payload: Any, bufs: list[bytes] | None) -> Any:
        text = bytes(payload).decode("utf-8") if type(payload) is not bytes else payload.decode()
        if bufs is None:
            return self._decoder.decode(text)
        return json.JSONDecoder(object_hook=oob_hook(bufs, _object_hook)).decode(text)


class MsgpackSerializer(Serializer):
    name = "msgpack"
    serializer_id = wire.MSGPACK_ID

    def _encode(self, obj: Any) -> bytes:
        # A per-thread Packer saves ~0.2 µs of packb's setup. It is taken out while in use, so a
        # converter that calls dumps re-entrantly gets a fresh one; after an error it is dropped.
        d = _tls.__dict__
        packer = d.pop("packer", None) or msgpack.Packer(use_bin_type=True, default=plain_default)
        payload: bytes = packer.pack(obj)
        d["packer"] = packer
        return payload

    def _decode(self, payload: Any, bufs: list[bytes] | None) -> Any:
        hook = _object_hook if bufs is None else oob_hook(bufs, _object_hook)
        return msgpack.unpackb(payload, raw=False, strict_map_key=False, object_hook=hook)


class MarshalSerializer(Serializer):
    """marshal (version 4). Builtin types only. Unsafe to load from untrusted peers."""

    name = "marshal"
    serializer_id = wire.MARSHAL_ID

    def _encode(self, obj: Any) -> bytes:
        try:
            return marshal.dumps(obj, 4)
        except ValueError as exc:
            raise SerializeError(
                "can carry only builtin types (None, bool, int, float, complex, str, bytes,"
                " tuple, list, dict, set); use serpent, json or msgpack for custom classes"
                f" ({exc})"
            ) from exc

    def _decode(self, payload: Any, bufs: list[bytes] | None) -> Any:
        obj = marshal.loads(payload)
        return _revived(obj, payload, bufs)


class _Pickler(pickle.Pickler):
    """pickle, with objects registered in a daemon pickled as proxies to them (autoproxy)."""

    reducer_override = staticmethod(autoproxy_reduce)


class PickleSerializer(Serializer):
    """pickle (the highest protocol unless set: config PICKLE_PROTOCOL_VERSION, which the package
    passes to `set_protocol`). Keeps real objects; ignores the class/dict registries.

    Loading pickle from an untrusted peer runs arbitrary code.
    """

    name = "pickle"
    serializer_id = wire.PICKLE_ID
    _cycles_ok = True
    protocol = pickle.HIGHEST_PROTOCOL

    @classmethod
    def set_protocol(cls, protocol: int) -> None:
        cls.protocol = pickle.HIGHEST_PROTOCOL if protocol < 0 else protocol

    def _encode(self, obj: Any) -> bytes:
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=self.protocol).dump(obj)
        return buffer.getvalue()

    def _decode(self, payload: Any, bufs: list[bytes] | None) -> Any:
        obj = pickle.loads(payload)
        if bufs is None and not mentions_markers(payload):
            return obj
        return revive(obj, bufs, False)


SERIALIZERS: dict[str, Serializer] = {
    s.name: s
    for s in (
        SerpentSerializer(),
        JsonSerializer(),
        MsgpackSerializer(),
        MarshalSerializer(),
        PickleSerializer(),
    )
}
BY_ID: dict[int, Serializer] = {s.serializer_id: s for s in SERIALIZERS.values()}
# A daemon lists the serializers it accepts in this order, its preference first: a proxy on its
# default serializer takes the first one it has (docs/PROTOCOL.md, "Agreeing on a serializer").
PREFERENCE = ("serpent", "msgpack", "json", "marshal", "pickle")


def get_serializer(name_or_id: str | int) -> Serializer:
    """The serializer with that name or wire id; unknown -> SerializeError."""
    s = SERIALIZERS.get(name_or_id) if isinstance(name_or_id, str) else BY_ID.get(name_or_id)
    if s is None:
        raise SerializeError(
            f"unknown serializer {name_or_id!r}; known: {', '.join(SERIALIZERS)}"
            f" (ids {', '.join(map(str, BY_ID))})"
        )
    return s
