"""The raw pyzmq contender's two protocols, shared by its server and its clients.

* **bytes only** (the ZeroMQ floor the targets are measured against): a DEALER sends the frames
  a zpyro call would send (a 4-byte signature, a header of the same size, the payload the row's
  serializer makes of ``[args, kwargs]``), made once; the ROUTER sends them straight back.
  No serializing, no dispatch: a DEALER/ROUTER round trip of the same message.
* **raw RPC** (for reference): frames ``[serializer name, dumps((method, args))]``; the server
  loads, calls ``getattr(service, method)(*args)``, dumps and replies; the client loads. A result
  of BIG_THRESHOLD bytes or more goes back as its own frame (``copy=False``).
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Callable
from typing import Any

import msgpack
import serpent

RAW_SIGNATURE = b"RAW\x01"  # first frame of a bytes-only request (zpyro's is b"ZPY\x01")
BIG_THRESHOLD = 64 * 1024


def _json_dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _msgpack_dumps(obj: Any) -> bytes:
    return msgpack.packb(obj)  # type: ignore[no-any-return]


RAW_SERIALIZERS: dict[str, tuple[Callable[[Any], bytes], Callable[[Any], Any]]] = {
    "serpent": (serpent.dumps, serpent.loads),
    "json": (_json_dumps, json.loads),
    "msgpack": (_msgpack_dumps, msgpack.unpackb),
    "marshal": (marshal.dumps, marshal.loads),
}


def bytes_message(serializer: str, object_id: str, method: str, arg: Any) -> list[bytes]:
    """The frames of a zpyro-sized call of ``method(arg)``, for the bytes-only round trip."""
    dumps = RAW_SERIALIZERS[serializer][0]
    header = bytes(12) + object_id.encode() + method.encode()  # zpyro: 12 fixed + 2 strings
    return [RAW_SIGNATURE, header, dumps([[arg], {}])]
