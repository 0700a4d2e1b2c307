"""Pyro4's ``message`` constants (Pyro5: ``protocol``) that mean something in zpyro.

The ``FLAGS_*`` values are zpyro's wire flags (``zpyro.wire``), so a served call's
``current_context.msg_flags & message.FLAGS_ONEWAY`` tests what it says, and ``MSG_*`` are
zpyro's message kinds. Pyro's message class and its connect handshake messages have no
counterpart (zpyro's frames are another format; a proxy connects with a metadata call): those
names raise an AttributeError that says so.
"""

from __future__ import annotations

import hmac
from typing import Any

from . import wire

__all__ = [
    "MSG_INVOKE",
    "MSG_RESULT",
    "MSG_PING",
    "FLAGS_ONEWAY",
    "FLAGS_BATCH",
    "FLAGS_COMPRESSED",
    "FLAGS_ITEMSTREAMRESULT",
    "FLAGS_META_ON_CONNECT",
    "secure_compare",
]

MSG_INVOKE = wire.CALL
MSG_RESULT = wire.RESULT
MSG_PING = wire.PING
FLAGS_ONEWAY = wire.FLAG_ONEWAY
FLAGS_BATCH = wire.FLAG_BATCH
FLAGS_COMPRESSED = wire.FLAG_COMPRESSED
FLAGS_ITEMSTREAMRESULT = wire.FLAG_STREAM
FLAGS_META_ON_CONNECT = wire.FLAG_META  # (zpyro: metadata asked for with a call)
secure_compare = hmac.compare_digest

_OTHER_FORMAT = "zpyro's messages are ZeroMQ frames of another layout (docs/PROTOCOL.md)"
_REFUSED = {
    "Message": _OTHER_FORMAT,
    "SendingMessage": _OTHER_FORMAT,
    "ReceivingMessage": _OTHER_FORMAT,
    "MSG_CONNECT": "a proxy connects with a metadata call, not a connect message",
    "MSG_CONNECTOK": "a proxy connects with a metadata call, not a connect message",
    "MSG_CONNECTFAIL": "a proxy connects with a metadata call, not a connect message",
    "FLAGS_EXCEPTION": "an error reply is a message kind of its own (wire.ERROR), not a flag",
    "FLAGS_KEEPSERIALIZED": "there are no pass-through serialized blobs",
    "FLAGS_CORR_ID": "the correlation id travels in the call's annotations",
}


def __getattr__(name: str) -> Any:
    why = _REFUSED.get(name)
    if why is not None:
        raise AttributeError(f"zpyro.message.{name} is not supported: {why}")
    raise AttributeError(f"module 'zpyro.message' has no attribute {name!r}")
