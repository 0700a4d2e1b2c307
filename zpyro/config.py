"""zpyro configuration: one `Config` dataclass, defaults with their reasons, environment overrides.

Pyro habit: change `zpyro.config.ITEM` before creating proxies or daemons. Every item can also
be set in the environment as `ZPYRO_<ITEM>` or, as in Pyro, `PYRO_<ITEM>` (`ZPYRO_` wins),
converted to the type of its default; adding an item is adding one field. `zpyro-check-config`
(also `python -m zpyro.configure`) prints the effective values.

Every Pyro4/Pyro5 item name is known here. Assigning one either takes effect, or raises
`ValueError` saying why zpyro does not do that (`SSL = True`: use CURVE), or, for a setting that
only tunes what ZeroMQ does by itself, is accepted with a logged note (the rules are in
:mod:`zpyro.configrules`). A name that is no item at all is an `AttributeError` naming it.
"""

from __future__ import annotations

import os
import pickle
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field, fields
from typing import Any

from . import configrules
from .constants import PROTOCOL_VERSION, VERSION

__all__ = ["Config", "config", "ENV_PREFIX", "PYRO_ENV_PREFIX", "NO_SIZE_LIMIT", "size_limit"]

ENV_PREFIX = "ZPYRO_"
PYRO_ENV_PREFIX = "PYRO_"  # Pyro's own variables are honoured too; ZPYRO_ ones win

NO_SIZE_LIMIT = 2**62  # what MAX_MESSAGE_SIZE = 0 ("no limit", as in Pyro) means inside


def size_limit(value: int) -> int:
    """A MAX_MESSAGE_SIZE as a bound: 0 (Pyro's "no limit") becomes NO_SIZE_LIMIT."""
    return value if value > 0 else NO_SIZE_LIMIT


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, text: str, default: Any, prefix: str = ENV_PREFIX) -> Any:
    """Turn an environment string into the type of `default`; ValueError names the variable."""
    kind = type(default)
    try:
        if kind is bool:  # before int: bool is an int subclass
            word = text.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValueError(text)
        if kind in (set, frozenset):
            return {item.strip().lower() for item in text.split(",") if item.strip()}
        if default is None:
            return text
        return kind(text.strip()) if kind in (int, float) else kind(text)
    except ValueError:
        raise ValueError(
            f"{prefix}{name}={text!r}: expected {kind.__name__}"
            + (" (1/0/true/false/yes/no/on/off)" if kind is bool else "")
        ) from None


def _show(value: Any) -> str:
    if isinstance(value, (set, frozenset)):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def _default_accepted() -> set[str]:
    # marshal/pickle can execute or forge objects: only when a server opts in
    return {"serpent", "json", "msgpack"}


@dataclass(slots=True)
class Config:
    """All zpyro settings; slots make a misspelt item an AttributeError instead of a no-op."""

    HOST: str = "localhost"  # daemons bind here unless told otherwise (never a wildcard by default)
    NS_HOST: str = "localhost"  # the broker/name server normally runs on this machine (a
    # broker pair: both, "h1:9090,h2:9090" or "h1,h2" on NS_PORT; docs/BROKER.md)
    NS_PORT: int = 9090  # Pyro's name server port, so habits and firewall rules carry over
    NS_PUB_PORT: int = 9091  # announcements next to the call port, easy to remember and open
    SERIALIZER: str = "serpent"  # safe default (no code execution on load), like Pyro
    # what a daemon accepts: a set, changed in place as in Pyro (`.add("pickle")`); a daemon
    # takes a copy when it is created
    SERIALIZERS_ACCEPTED: set[str] = field(default_factory=_default_accepted)
    REQUIRE_EXPOSE: bool = True  # nothing is remotely callable by accident
    COMMTIMEOUT: float = 0.0  # seconds a proxy waits for a reply; 0 = no limit (calls may be long)
    CONNECT_TIMEOUT: float = 5.0  # seconds a proxy waits for its first answer from a daemon
    # 1 GiB: big payloads work, a runaway one cannot eat RAM; 0 = no limit (as in Pyro)
    MAX_MESSAGE_SIZE: int = 1073741824
    THREADPOOL_SIZE: int = 32  # max worker threads per daemon: enough concurrency, bounded memory
    THREADPOOL_SIZE_MIN: int = 2  # threads kept even when idle, so a quiet daemon answers at once
    OOB_THRESHOLD: int = 32768  # bytes-like values at least this big travel as separate frames
    HEARTBEAT_INTERVAL: float = 1.0  # zmq heartbeat on connections, seconds (dead-peer detection)
    HEARTBEAT_TIMEOUT: float = 5.0  # a few missed intervals before a peer counts as dead
    DETAILED_TRACEBACK: bool = False  # local variables in remote tracebacks can leak secrets
    MAX_PENDING_CALLS: int = 100_000  # per proxy connection: beyond, an error (bounded memory)
    # oneway calls a proxy may have unconfirmed per connection (credit; a daemon or broker grants
    # at most 1/4 of its queue bound): a few ms of a fast daemon's work, kilobytes of memory
    ONEWAY_CREDIT: int = 1000
    # calls a daemon's worker pool holds waiting for a thread before "daemon busy" (oneway calls
    # with credit are bounded by it instead): seconds of backlog, yet bounded memory
    DAEMON_MAX_QUEUE: int = 10_000
    # calls that may wait per pool in a broker before "broker busy" (zpyro-broker --max-queue)
    BROKER_MAX_QUEUE: int = 10_000
    MAX_RETRIES: int = 0  # retries of a call that timed out or lost its connection (Pyro4 habit)
    POLL_TIMEOUT: float = 0.5  # seconds a request loop waits before re-checking loop_condition
    ITER_STREAMING: bool = True  # returned generators stream lazily instead of being refused
    ITER_STREAM_LIFETIME: float = 0.0  # seconds a stream may live; 0 = as long as it is used
    ITER_STREAM_LINGER: float = 30.0  # seconds an abandoned stream is kept for a reconnecting proxy
    # CURVE (README "Security"); empty = off. Paths of pyzmq key files (zpyro-keygen writes them).
    CURVE_SECRET_KEY: str = ""  # our own key pair (.key_secret): a server needs one to use CURVE
    CURVE_SERVER_PUBLIC_KEY: str = ""  # clients: the server's public key (z85 text or .key file)
    CURVE_ALLOWED_CLIENTS: str = ""  # servers: directory of allowed client .key files; "" = any

    # -- Pyro4/Pyro5 items that zpyro maps onto its own design --------------------------------
    SERVERTYPE: str = (
        "thread"  # "thread": calls of many clients at once; "multiplex": one at a time
    )
    COMPRESSION: bool = False  # zlib costs CPU on every big message; worth it on slow links only
    # seconds a PYRONAME:/lookup waits for a missing name (the broker parks it); 0 = fail at once
    NS_LOOKUP_DELAY: float = 0.0
    PREFER_IP_VERSION: int = 4  # socketutil's address lookups (4, 6, or 0: the OS decides)
    # pickle's protocol (-1: the highest), for peers on an older Python
    PICKLE_PROTOCOL_VERSION: int = pickle.HIGHEST_PROTOCOL
    LOGLEVEL: str = ""  # level of the "zpyro" loggers (DEBUG, INFO, ...); "" = leave logging alone
    LOGFILE: str = ""  # where LOGLEVEL sends the log; "" or "{stderr}" = standard error

    # -- Pyro items zpyro always behaves one way for (other values refused or noted) ----------
    ONEWAY_THREADED: bool = True  # oneway calls never hold up the next call (always so here)
    METADATA: bool = True  # proxies learn methods/properties on connect (no extra round trip)
    AUTOPROXY: bool = True  # registered objects travel as proxies (always so here)
    SOCK_REUSE: bool = True  # ZeroMQ sets SO_REUSEADDR on what it binds
    SOCK_NODELAY: bool = True  # ZeroMQ sets TCP_NODELAY on its connections
    USE_MSG_WAITALL: bool = True  # a socket receive flag; ZeroMQ does its own reads
    SERPENT_BYTES_REPR: bool = True  # bytes always arrive as bytes, whatever the serializer
    JSON_MODULE: str = "json"  # the json serializer uses the standard library's json
    LOGWIRE: bool = False  # zpyro has no wire-level message log
    FLAME_ENABLED: bool = False  # no Flame: remote code execution by design
    DILL_PROTOCOL_VERSION: int = -1  # no dill serializer (Pyro4's value when dill is missing)
    # Pyro's NAT: the address daemons put in their URIs when clients reach them through NAT
    NATHOST: str | None = None  # None: URIs carry the bound address
    NATPORT: int = 0  # with NATHOST: 0 = the bound port
    NS_AUTOCLEAN: float = 0.0  # only 0: brokered daemons' names are leases (configrules)
    BROADCAST_ADDRS: str = "<broadcast>, 0.0.0.0"  # zpyro never broadcasts: locate uses NS_HOST
    NS_BCHOST: str | None = None  # (the broadcast responder zpyro does not have)
    NS_BCPORT: int = 9091  # (likewise; not NS_PUB_PORT, which merely shares Pyro's number)
    SSL: bool = False  # no TLS: CURVE encrypts and authenticates (README "Security")
    SSL_REQUIRECLIENTCERT: bool = False  # (TLS)
    SSL_SERVERCERT: str = ""  # (TLS)
    SSL_SERVERKEY: str = ""  # (TLS)
    SSL_SERVERKEYPASSWD: str = ""  # (TLS)
    SSL_CLIENTCERT: str = ""  # (TLS)
    SSL_CLIENTKEY: str = ""  # (TLS)
    SSL_CLIENTKEYPASSWD: str = ""  # (TLS)
    SSL_CACERTS: str = ""  # (TLS)
    SSL_CLIENT_CERTVALIDATION: bool = False  # (TLS; in Pyro's manual, not a Pyro4 item)

    use_environment: InitVar[bool] = True

    def __post_init__(self, use_environment: bool) -> None:
        if use_environment:
            self._apply_environment(os.environ)

    def __setattr__(self, name: str, value: Any) -> None:
        name = configrules.ALIASES.get(name, name)
        rule = configrules.RULES.get(name)
        if rule is not None:
            value = rule(name, value)
        elif name not in _FIELD_NAMES:
            raise AttributeError(
                f"zpyro.config has no item {name!r} (neither has Pyro4 nor Pyro5; a typo?)"
            )
        object.__setattr__(self, name, value)
        watcher = _watchers.get(name)
        if watcher is not None and self is globals().get("config"):
            watcher(value)

    # Pyro's name for POLL_TIMEOUT (a view of it, not an item of its own)
    @property
    def POLLTIMEOUT(self) -> float:  # noqa: N802
        return self.POLL_TIMEOUT

    @POLLTIMEOUT.setter
    def POLLTIMEOUT(self, value: float) -> None:  # noqa: N802
        self.POLL_TIMEOUT = value

    def _apply_environment(self, environ: Mapping[str, str]) -> None:
        for f in fields(self):
            for prefix, name in (
                (ENV_PREFIX, f.name),
                (PYRO_ENV_PREFIX, f.name),
                *((PYRO_ENV_PREFIX, alias) for alias in configrules.ALIASES_OF.get(f.name, ())),
            ):
                text = environ.get(prefix + name)
                if text is not None:
                    setattr(self, f.name, _convert(name, text, _default_of(f.name), prefix))
                    break  # the first one found wins: ZPYRO_ before PYRO_

    def reset(self, use_environment: bool = True, useenvironment: bool | None = None) -> None:
        """Back to the defaults, then (by default) the environment on top (`useenvironment`:
        Pyro4's spelling)."""
        if useenvironment is not None:
            use_environment = useenvironment
        for f in fields(self):
            setattr(self, f.name, _default_of(f.name))
        if use_environment:
            self._apply_environment(os.environ)

    def as_dict(self) -> dict[str, Any]:
        """Item name -> current value (Pyro's names for the same item included)."""
        items = {f.name: getattr(self, f.name) for f in fields(self)}
        for alias, target in configrules.ALIASES.items():
            items[alias] = items[target]
        return items

    asDict = as_dict  # Pyro4 name

    def dump(self) -> str:
        """A few lines on where this is, then one `ITEM = value` line per item, sorted by name."""
        header = [
            f"zpyro version: {VERSION}",
            f"Loaded from: {os.path.dirname(os.path.abspath(__file__))}",
            f"Python version: {platform.python_implementation()} {platform.python_version()} "
            f"({platform.system()}, {os.name})",
            f"Protocol version: {PROTOCOL_VERSION}",
            "Currently active configuration settings:",
        ]
        return "\n".join(
            header + [f"{name} = {_show(value)}" for name, value in sorted(self.as_dict().items())]
        )

    def copy(self) -> Config:
        """An independent Config with the same values (the environment is not re-read)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["SERIALIZERS_ACCEPTED"] = set(values["SERIALIZERS_ACCEPTED"])
        return Config(use_environment=False, **values)


_FIELD_NAMES = frozenset(f.name for f in fields(Config))
_DEFAULTS = Config.__dataclass_fields__  # name -> Field (default or default_factory)


def _default_of(name: str) -> Any:
    f = _DEFAULTS[name]
    factory: Any = f.default_factory
    return factory() if callable(factory) else f.default


# item -> called with the new value of the process-wide config (wired by the package, so that
# the layers below config need not read it: the pickle serializer's protocol, for one)
_watchers: dict[str, Callable[[Any], None]] = {}


def watch(item: str, callback: Callable[[Any], None]) -> None:
    """Call `callback(value)` now and whenever `config.<item>` is assigned."""
    _watchers[item] = callback
    callback(getattr(config, item))


config = Config()
configrules.apply_logging(config.LOGLEVEL, config.LOGFILE)
_watchers["LOGLEVEL"] = lambda level: configrules.apply_logging(level, config.LOGFILE)
_watchers["LOGFILE"] = lambda path: configrules.apply_logging(config.LOGLEVEL, path)


def main() -> None:
    """`zpyro-check-config`: print config.dump() (defaults, then the environment on top)."""
    print(config.dump())
    sys.stdout.flush()
