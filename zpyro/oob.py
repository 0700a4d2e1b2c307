"""Markers and out-of-band buffers: big byte buffers travel as extra frames. Pure.

Send side: :func:`plain` tells (by C-level type scans) whether a value is plain data with
nothing to take out of band; otherwise :func:`extract` swaps every bytes/bytearray/memoryview of
at least ``threshold`` bytes, found at the top level or inside list/tuple/dict values/set/
frozenset, for the marker ``{"__zpyro_oob__": index}`` and appends the original object (not a
copy) to ``buffers``, which the caller sends as extra zmq frames with ``copy=False``.

Receive side: :func:`revive` (or :func:`oob_hook` for the json and msgpack decoders) puts the
buffers back in place of the markers, as ``bytes``, and converts registered class dicts.

Markers (docs/PROTOCOL.md, "Markers") are maps of exactly one entry whose key is ``__zpyro_``
+ a name: ``__zpyro_oob__``, ``__zpyro_oobset__`` and json's ``__zpyro_bytes__``. A user's own
one-entry map whose key looks like that (two or more underscores, then ``zpyro_``) travels
escaped, with one more leading underscore (:func:`extract` adds it), and the receiver takes it
off again (:func:`read_marker`); so every map round-trips as data, and a marker the receiver does
not know is an error, never data.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from .classdicts import to_class
from .errors import SerializeError

OOB_KEY = "__zpyro_oob__"  # {OOB_KEY: index} stands for buffers[index]
OOB_SET_KEY = "__zpyro_oobset__"  # a set holding markers (dicts are unhashable) travels as this
BYTES_KEY = "__zpyro_bytes__"  # json writes bytes as {BYTES_KEY: base64 text}
MARKER_TEXT = b"zpyro_"  # in every marker and escaped key: a payload without it has neither

LEAF = frozenset({str, int, float, bool, type(None)})
BINARY = (bytes, bytearray, memoryview)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_BINARY_T = frozenset(BINARY)
_CONTAINER_T = frozenset(_CONTAINERS)
_ROWS = frozenset({list, tuple})
_DICT_ONLY = {dict}
_DECODED = frozenset({list, tuple, dict})  # what the receive-side walk enters

# ---- markers and their escape ------------------------------------------------------------------


def reserved_key(key: Any) -> bool:
    """A key that a one-entry map may not carry as it is: a marker's, or an escaped one."""
    return type(key) is str and key[:2] == "__" and key.lstrip("_")[:6] == "zpyro_"


def needs_escape(d: dict[Any, Any]) -> bool:
    """A user's one-entry map whose key looks like a marker's: it travels escaped."""
    return len(d) == 1 and reserved_key(next(iter(d)))


def read_marker(key: str, value: Any, bufs: list[bytes] | None) -> Any:
    """The value a one-entry map {key: value} with a reserved key stands for (its value already
    read). Escaped user maps lose one underscore; unknown markers are errors."""
    if key[2] == "_":  # three or more underscores: a user's map, escaped by its sender
        return {key[1:]: value}
    if key == OOB_KEY:
        return take(bufs or [], value)
    if key == BYTES_KEY:
        if type(value) is not str:
            raise SerializeError(f"bytes marker holds {type(value).__name__}, not base64 text")
        return binascii.a2b_base64(value)
    if key == OOB_SET_KEY:
        if not isinstance(value, (list, tuple)):
            raise SerializeError("set marker holds no list")
        return set(value)
    raise SerializeError(f"unknown marker {key!r}")


def mentions_markers(payload: Any) -> bool:
    """Whether a payload may hold markers or escaped maps (a C-level substring search; find,
    not `in`, which first tries the needle as an int and costs twice as much)."""
    return (payload if type(payload) is bytes else bytes(payload)).find(MARKER_TEXT) >= 0


# ---- plain data: nothing to take out of band, and repr() is its serpent text --------------------

SIMPLE = frozenset({str, int, bool, type(None)})  # exact types whose repr() is a literal
_SIMPLE = SIMPLE
_NESTED = frozenset({list, tuple, dict})
_PLAIN_TYPES = _SIMPLE | _NESTED | {float, bytes}
_PLAIN_KEYS = frozenset({str, int})
_PLAIN_DEPTH = 100  # deeper (or cyclic) data takes the general path


def plain(obj: Any, threshold: int, depth: int = 0) -> bool:
    """True if obj is built only of exact str/int/bool/None, finite floats, bytes shorter than
    `threshold`, lists, tuples and dicts with str/int keys.

    Such data needs no out-of-band walk (extract) and ``repr()`` writes it as serpent would.
    The checks are C-level type scans per container; Python recursion only enters containers.
    """
    t = type(obj)
    if t in _SIMPLE:
        return True
    if t is float:
        return math.isfinite(obj)
    if t is bytes:
        return len(obj) < threshold
    if t is dict:
        if not obj:
            return True
        if not _PLAIN_KEYS.issuperset(map(type, obj)) or (
            len(obj) == 1 and reserved_key(next(iter(obj)))
        ):
            return False  # (a marker-shaped user map is escaped by extract)
        values: Any = obj.values()
    elif t is list or t is tuple:
        if not obj:
            return True
        values = obj
    else:
        return False
    kinds = set(map(type, values))
    if kinds <= _SIMPLE:
        return True
    if not kinds <= _PLAIN_TYPES:
        return False
    if float in kinds:
        floats = values if len(kinds) == 1 else [v for v in values if type(v) is float]
        if not all(map(math.isfinite, floats)):  # inf and nan have no repr literal
            return False
    if bytes in kinds and max([len(v) for v in values if type(v) is bytes]) >= threshold:
        return False
    if kinds & _NESTED:
        if depth >= _PLAIN_DEPTH:
            return False
        depth += 1
        for v in values:
            if type(v) in _NESTED and v and not plain(v, threshold, depth):  # () {} []: plain
                return False
    return True


# ---- out-of-band buffers: send side -------------------------------------------------------------


def extract(obj: Any, threshold: int, bufs: list[Any]) -> Any:
    """obj with big buffers swapped for markers and small bytearray/memoryview for bytes.

    Containers are copied only along paths that change; the caller's data is never mutated.
    Exact type checks first: this runs on every call, so the common shapes must stay cheap.
    """
    t = type(obj)
    if t in _CONTAINER_T:
        base: type = t
    elif t in _BINARY_T or isinstance(obj, BINARY):
        if (obj.nbytes if t is memoryview else len(obj)) >= threshold:
            bufs.append(obj)
            return {OOB_KEY: len(bufs) - 1}
        return obj if t is bytes else bytes(obj)
    elif isinstance(obj, _CONTAINERS):  # namedtuple, OrderedDict...: rebuilt as the base type
        base = next(c for c in _CONTAINERS if isinstance(obj, c))
    else:
        return obj
    if not obj:
        return obj
    if base is dict and needs_escape(obj):  # a user's marker-shaped map: escaped, as data
        key, value = next(iter(obj.items()))
        return {"_" + key: extract(value, threshold, bufs)}
    values: Any = obj.values() if base is dict else obj
    # Big containers of plain values (10**6 ints) or of rows of them (tuples, lists, dicts) are
    # cleared by C-level type scans instead of a Python call per element.
    if len(obj) > 16:
        kinds = set(map(type, values))
        if kinds <= LEAF:
            return obj
        if kinds <= _ROWS:
            inner = chain.from_iterable(values)
        elif kinds == _DICT_ONLY and not any(map(needs_escape, values)):
            inner = chain.from_iterable(map(dict.values, values))
        else:
            inner = None
        if inner is not None and set(map(type, inner)) <= LEAF:
            return obj
    out: list[Any] | None = None
    i = -1
    for v in values:
        i += 1
        if type(v) in LEAF:
            continue
        r = extract(v, threshold, bufs)
        if r is not v:
            if out is None:
                out = list(values)
            out[i] = r
    if out is None:
        return obj
    if base is list:
        return out
    if base is tuple:
        return tuple(out)
    if base is dict:
        return dict(zip(obj, out, strict=True))
    if any(type(v) is dict for v in out):  # a set holding markers (dicts are unhashable)
        return {OOB_SET_KEY: out}
    return base(out)


# ---- out-of-band buffers and class dicts: receive side ------------------------------------------


def take(bufs: list[bytes], index: Any) -> bytes:
    if type(index) is not int or not 0 <= index < len(bufs):
        raise SerializeError(f"bad out-of-band buffer reference {index!r} ({len(bufs)} buffers)")
    return bufs[index]


def revive(obj: Any, bufs: list[bytes] | None, classes: bool) -> Any:
    """Replace markers (by buffers, bytes, sets; escaped maps by the user's) and convert
    registered class dicts, in place where possible (the structure was just decoded, nobody
    else holds it)."""
    t = type(obj)
    if t is dict:
        if len(obj) == 1:
            key, value = next(iter(obj.items()))
            if reserved_key(key):
                if type(value) in _DECODED:
                    value = revive(value, bufs, classes)
                return read_marker(key, value, bufs)
        for k, v in obj.items():
            if type(v) in _DECODED:
                obj[k] = revive(v, bufs, classes)  # same key: allowed while iterating
        return to_class(obj) if classes and "__class__" in obj else obj
    if t is list:
        for i, v in enumerate(obj):
            if type(v) in _DECODED:
                obj[i] = revive(v, bufs, classes)
        return obj
    if t is tuple:
        return tuple([revive(v, bufs, classes) if type(v) in _DECODED else v for v in obj])
    return obj


def as_bytes(buffers: Sequence[Any]) -> list[bytes]:
    # zmq.Frame, memoryview, bytearray all support the buffer protocol; bytes(b) is the one copy
    return [b if type(b) is bytes else bytes(b) for b in buffers]


def oob_hook(bufs: list[bytes] | None, then: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """object_hook that reads markers (hooks run bottom-up, so their values are read already)."""

    def hook(d: dict[str, Any]) -> Any:
        if len(d) == 1:
            key = next(iter(d))
            if reserved_key(key):
                return read_marker(key, d[key], bufs)
        return then(d)

    return hook
