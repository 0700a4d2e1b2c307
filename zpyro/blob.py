"""``SerializedBlob``: data passed through a daemon without the daemon deserializing it (Pyro's
"blob dispatch": a dispatcher in the middle forwards what it does not need to understand).

A blob holds some small ``info`` (plain data anyone may read) and its data. It travels as the map
``{"__class__": "zpyro.SerializedBlob", "info": ..., "blob": <bytes>}`` where the bytes are the
data serialized with serpent once, by its sender. Whoever receives it gets a ``SerializedBlob``
whose data stays those bytes, also when it passes the blob on; ``deserialized()`` loads them
(with serpent, which never runs code, and the custom class registry of that process).
"""

from __future__ import annotations

from typing import Any

from .classdicts import register_class_to_dict, register_dict_to_class
from .errors import SerializeError
from .serializers import get_serializer

__all__ = ["SerializedBlob"]

_CLASS = "zpyro.SerializedBlob"
_INLINE = 2**62  # (the inner data is one piece of bytes: no out-of-band frames inside it)


class SerializedBlob:
    """Pyro's ``SerializedBlob(info, data)``: `info` is readable by all; `data` only by whoever
    calls ``deserialized()``."""

    def __init__(self, info: Any, data: Any, is_blob: bool = False) -> None:
        self.info = info
        self._data = data
        self._serialized: bytes | None = bytes(data) if is_blob else None  # is_blob: serpent bytes

    def deserialized(self) -> Any:
        """The data (loaded now, when it arrived serialized)."""
        if self._serialized is None:
            return self._data
        return get_serializer("serpent").loads(self._serialized)

    def _blob(self) -> bytes:
        if self._serialized is None:
            self._serialized = get_serializer("serpent").dumps(self._data, _INLINE)[0]
        return self._serialized

    def __repr__(self) -> str:
        return f"<zpyro.SerializedBlob info={self.info!r}>"


def _to_dict(blob: SerializedBlob) -> dict[str, Any]:
    return {"__class__": _CLASS, "info": blob.info, "blob": blob._blob()}


def _from_dict(_classname: str, data: dict[str, Any]) -> SerializedBlob:
    payload = data.get("blob")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise SerializeError("a SerializedBlob arrived without its bytes")
    return SerializedBlob(data.get("info"), payload, is_blob=True)


register_class_to_dict(SerializedBlob, _to_dict)
register_dict_to_class(_CLASS, _from_dict)
