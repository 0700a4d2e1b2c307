"""What assigning a config item does beyond storing it: Pyro's names, checks, refusals, notes.

Each rule takes ``(item, value)`` and returns the value to store, or raises ``ValueError`` saying
why zpyro does not do what the value asks. Items without a rule are stored as given. Pyro items
that only tune what ZeroMQ already does by itself are accepted with a logged note when set to
something zpyro does not do, never silently.
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ALIASES", "ALIASES_OF", "RULES", "NO_AUTOCLEAN", "apply_logging"]

log = logging.getLogger("zpyro.config")

Rule = Callable[[str, Any], Any]

# Pyro's name -> zpyro's item (the same setting)
ALIASES = {"POLLTIMEOUT": "POLL_TIMEOUT"}
ALIASES_OF: dict[str, tuple[str, ...]] = {}
for _alias, _item in ALIASES.items():
    ALIASES_OF[_item] = (*ALIASES_OF.get(_item, ()), _alias)


def _refuse(item: str, value: Any, why: str) -> ValueError:
    return ValueError(f"config.{item} = {value!r} is not supported by zpyro: {why}")


def only(allowed: Iterable[Any], why: str) -> Rule:
    """The item may only hold what zpyro does anyway; anything else is refused with `why`."""
    accepted = tuple(allowed)

    def check(item: str, value: Any) -> Any:
        if not any(value == a and type(value) is type(a) for a in accepted):
            raise _refuse(item, value, why)
        return value

    return check


def noted(silent: Iterable[Any], note: str) -> Rule:
    """Any value is accepted; one that asks for what zpyro does not do is logged with `note`."""
    quiet = tuple(silent)

    def check(item: str, value: Any) -> Any:
        if value not in quiet:
            log.warning("config.%s = %r has no effect in zpyro: %s", item, value, note)
        return value

    return check


def _accepted_set(item: str, value: Any) -> set[str]:
    if isinstance(value, str):
        value = value.split(",")
    try:
        names = {str(name).strip().lower() for name in value}
    except TypeError:
        raise ValueError(f"config.{item} must be a set of serializer names") from None
    return {name for name in names if name}


def _non_negative(item: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"config.{item} must be a number >= 0, not {value!r}")
    return value


def _host_or_none(item: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"config.{item} must be a host name or address (or None), not {value!r}")
    return value or None


def _port(item: str, value: Any) -> int:
    if type(value) is not int or not 0 <= value <= 65535:
        raise ValueError(f"config.{item} must be a port number from 0 to 65535, not {value!r}")
    return value


def _pickle_protocol(item: str, value: Any) -> int:
    if type(value) is not int or not -1 <= value <= pickle.HIGHEST_PROTOCOL:
        raise ValueError(
            f"config.{item} must be a pickle protocol from 0 to {pickle.HIGHEST_PROTOCOL} "
            f"(or -1: the highest), not {value!r}"
        )
    return value


def _log_level(item: str, value: Any) -> str:
    text = str(value or "").strip().upper()
    if text and not isinstance(logging.getLevelName(text), int):
        raise ValueError(f"config.{item} must be a logging level name (DEBUG, INFO, ...)")
    return text


_CURVE = "use CURVE instead, which encrypts and authenticates (README, 'Security')"
# why the name server has no cleaning thread (config NS_AUTOCLEAN, naming.AutoCleaner)
NO_AUTOCLEAN = (
    "the name server keeps hand-registered names until they are removed; the names of brokered "
    "daemons (Daemon(broker=True)) are leases the broker drops within HEARTBEAT_TIMEOUT of their "
    "daemon's death"
)

RULES: dict[str, Rule] = {
    "SERIALIZERS_ACCEPTED": _accepted_set,
    "MAX_MESSAGE_SIZE": _non_negative,
    "NS_LOOKUP_DELAY": _non_negative,
    "SERVERTYPE": only(
        ("thread", "multiplex"),
        "the server types are 'thread' (calls of many clients run at once) and 'multiplex' "
        "(one call at a time, in the request loop's thread)",
    ),
    "PREFER_IP_VERSION": only((4, 6, 0), "IP versions are 4, 6 and 0 (let the OS choose)"),
    "PICKLE_PROTOCOL_VERSION": _pickle_protocol,
    "LOGLEVEL": _log_level,
    "ONEWAY_THREADED": only(
        (True,), "oneway calls never hold up the calls after them; their order is not kept"
    ),
    "METADATA": only(
        (True,), "proxies need the metadata (oneway methods, properties); it costs no round trip"
    ),
    "AUTOPROXY": only((True,), "objects registered in a daemon always travel as proxies"),
    "JSON_MODULE": only(("json",), "the json serializer uses the standard library's json"),
    "LOGWIRE": only((False,), "there is no wire-level message log"),
    "FLAME_ENABLED": only((False,), "there is no Flame: it is remote code execution by design"),
    "DILL_PROTOCOL_VERSION": only((-1,), "there is no dill serializer"),
    "NATHOST": _host_or_none,
    "NATPORT": _port,
    "NS_AUTOCLEAN": only((0.0, 0), NO_AUTOCLEAN),
    "SOCK_REUSE": noted((True,), "ZeroMQ always sets SO_REUSEADDR on what it binds"),
    "SOCK_NODELAY": noted((True,), "ZeroMQ always sets TCP_NODELAY"),
    "USE_MSG_WAITALL": noted((True,), "ZeroMQ does its own socket reads"),
    "SERPENT_BYTES_REPR": noted((True,), "bytes always arrive as bytes, with every serializer"),
    "BROADCAST_ADDRS": noted(
        ("<broadcast>, 0.0.0.0",), "zpyro never broadcasts: locate_ns() asks NS_HOST:NS_PORT"
    ),
    "NS_BCHOST": noted((None,), "zpyro has no broadcast responder"),
    "NS_BCPORT": noted((9091,), "zpyro has no broadcast responder"),
    "SSL": only((False,), _CURVE),
    "SSL_REQUIRECLIENTCERT": only((False,), _CURVE + " (CURVE_ALLOWED_CLIENTS)"),
    "SSL_CLIENT_CERTVALIDATION": only((False,), _CURVE + " (CURVE_SERVER_PUBLIC_KEY)"),
}
for _item in (
    "SSL_SERVERCERT",
    "SSL_SERVERKEY",
    "SSL_SERVERKEYPASSWD",
    "SSL_CLIENTCERT",
    "SSL_CLIENTKEY",
    "SSL_CLIENTKEYPASSWD",
    "SSL_CACERTS",
):
    RULES[_item] = only(("",), _CURVE)


_handler: logging.Handler | None = None  # the one LOGLEVEL/LOGFILE installed


def apply_logging(level: str, path: str) -> None:
    """LOGLEVEL/LOGFILE (Pyro's PYRO_LOGLEVEL/PYRO_LOGFILE): the "zpyro" loggers at that level,
    written to that file (standard error by default). An empty level leaves logging alone."""
    global _handler
    logger = logging.getLogger("zpyro")
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler.close()
        _handler = None
    if not level:
        return
    if path and path != "{stderr}":
        _handler = logging.FileHandler(path)
    else:
        _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(
        logging.Formatter("[%(asctime)s,%(name)s,%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    logger.addHandler(_handler)
    logger.setLevel(level)
