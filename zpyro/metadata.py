"""What a proxy learns about its remote object when it connects, and the cache of it.

Metadata (which names are methods, oneway methods or properties, and the daemon's message-size
limit) comes with the answer to the connection handshake (``FLAG_HANDSHAKE``), or from the
daemon's own object (``Pyro.Daemon.get_metadata``). It is also kept per
URI in a small process-wide cache: a new proxy for a URI seen in the last
``META_TRUST_SECONDS`` skips that round trip; after that, it has the daemon confirm the metadata
along with its first call's reply (``FLAG_META``). A name missing from cached metadata always
triggers a fresh fetch, so a method added to a restarted daemon is never refused because of the
cache.

Metadata also lists the serializers the daemon accepts, its preference first; :func:`agree`
decides which one a proxy uses (docs/PROTOCOL.md, "Agreeing on a serializer").
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from . import errors, wire
from .config import NO_SIZE_LIMIT, size_limit
from .serializers import SERIALIZERS, Serializer, get_serializer

META_TRUST_SECONDS = 10.0  # cached metadata younger than this is used as it is
CACHE_SIZE = 1024  # URIs

_cache: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
_lock = threading.Lock()

Decode = Callable[[wire.Message, Serializer], Any]  # the proxy's reply decoder


def remember(uri: str, meta: dict[str, Any]) -> None:
    with _lock:
        _cache[uri] = (meta, time.monotonic())
        _cache.move_to_end(uri)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def forget(uri: str) -> None:
    with _lock:
        _cache.pop(uri, None)


def recall(uri: str) -> tuple[dict[str, Any], bool] | None:
    """(metadata, still trusted) for a URI seen before, else None."""
    with _lock:
        entry = _cache.get(uri)
    if entry is None:
        return None
    return entry[0], time.monotonic() - entry[1] < META_TRUST_SECONDS


def connect(
    conn: Any, object_id: str, serializer_name: str, timeout: float, decode: Decode, handshake: Any
) -> tuple[dict[str, Any], Any]:
    """The connection handshake, one round trip (docs/PROTOCOL.md): sends Pyro's handshake
    data, returns (the object's metadata, the daemon's handshake response). A refusal raises
    HandshakeError. Falls back to json as :func:`fetch` does."""
    answer = _ask(
        conn, serializer_name, timeout, decode, wire.FLAG_HANDSHAKE, object_id, "", handshake
    )
    if not isinstance(answer, dict) or not isinstance(answer.get("meta"), dict):
        raise errors.ProtocolError("daemon sent a malformed handshake answer")
    return answer["meta"], answer.get("handshake")


def fetch(conn: Any, object_id: str, serializer_name: str, timeout: float, decode: Decode) -> Any:
    """Ask the daemon over `conn` for the metadata of `object_id` (one round trip)."""
    return _ask(
        conn, serializer_name, timeout, decode, 0, wire.DAEMON_OBJECT_ID, "get_metadata", object_id
    )


def _ask(
    conn: Any,
    serializer_name: str,
    timeout: float,
    decode: Decode,
    flags: int,
    object_id: str,
    method: str,
    argument: Any,
) -> Any:
    """One CALL with one argument over `conn`, and its decoded answer.

    The answer may come from a broker that refuses our serializer (pickle, say) while the daemon
    behind it accepts it: what is asked here is plain data, so json is asked then.
    """

    def once(serializer: Serializer) -> Any:
        payload, _ = serializer.dumps([(argument,), {}])
        call_id = conn.next_call_id()
        frames = wire.encode(
            wire.CALL, flags, serializer.serializer_id, call_id, object_id, method, payload
        )
        return decode(conn.call(frames, call_id, timeout), serializer)

    try:
        return once(get_serializer(serializer_name))
    except errors.SerializeError:
        if serializer_name == "json":
            raise
        return once(get_serializer("json"))


def through_broker(meta: dict[str, Any], credit: int | None, limit: int) -> dict[str, Any]:
    """An object's metadata as its callers get it through a broker (the broker's answer, and a
    brokered daemon's to a handshake passed on): the broker's oneway credit window, and the
    smaller of the daemon's size limit and the broker's `limit` (0: none, as in the result)."""
    meta = dict(meta)
    if credit is not None:
        meta[wire.META_CREDIT] = credit
    smaller = min(size_limit(limit), size_limit(int(meta.get("max_message_size", 0))))
    meta["max_message_size"] = smaller if smaller < NO_SIZE_LIMIT else 0
    return meta


# -- serializer agreement ------------------------------------------------------------------------


def accepted_serializers(meta: dict[str, Any]) -> tuple[str, ...] | None:
    """The serializers the daemon accepts, its preference first; None if it does not say (an
    older daemon, or a broker's own object)."""
    accepted = meta.get("serializers")
    if isinstance(accepted, list) and accepted and all(isinstance(n, str) for n in accepted):
        return tuple(accepted)
    return None


def agree(current: str, chosen: bool, accepted: Sequence[str]) -> str:
    """The serializer to use with a daemon that accepts `accepted`: the default one (`chosen`
    False) gives way to the first listed that this process has; one the user chose never does
    (its calls then fail with SerializeError before they are sent, also oneway ones)."""
    if chosen or current in accepted:
        return current
    return next((name for name in accepted if name in SERIALIZERS), current)
