"""zpyro configuration: one `Config` dataclass, defaults with their reasons, `ZPYRO_*` overrides.

Pyro habit: change `zpyro.config.ITEM` before creating proxies or daemons. Every item can also
be set in the environment as `ZPYRO_<ITEM>`, converted to the type of its default; adding an
item is adding one field. `python -m zpyro.configure` prints the effective values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, fields
from typing import Any

__all__ = ["Config", "config", "ENV_PREFIX"]

ENV_PREFIX = "ZPYRO_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, text: str, default: Any) -> Any:
    """Turn an environment string into the type of `default`; ValueError names the variable."""
    kind = type(default)
    try:
        if kind is bool:  # before int: bool is an int subclass
            word = text.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValueError(text)
        if kind is frozenset:
            return frozenset(item.strip().lower() for item in text.split(",") if item.strip())
        return kind(text.strip()) if kind in (int, float) else kind(text)
    except ValueError:
        raise ValueError(
            f"{ENV_PREFIX}{name}={text!r}: expected {kind.__name__}"
            + (" (1/0/true/false/yes/no/on/off)" if kind is bool else "")
        ) from None


def _show(value: Any) -> str:
    if isinstance(value, (set, frozenset)):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


@dataclass(slots=True)
class Config:
    """All zpyro settings; slots make a misspelt item an AttributeError instead of a no-op."""

    HOST: str = "localhost"  # daemons bind here unless told otherwise (never a wildcard by default)
    NS_HOST: str = "localhost"  # the broker/name server normally runs on this machine (a
    # broker pair: both, "h1:9090,h2:9090" or "h1,h2" on NS_PORT; docs/BROKER.md)
    NS_PORT: int = 9090  # Pyro's name server port, so habits and firewall rules carry over
    NS_PUB_PORT: int = 9091  # announcements next to the call port, easy to remember and open
    SERIALIZER: str = "serpent"  # safe default (no code execution on load), like Pyro
    # marshal/pickle can execute or forge objects: only when a server opts in
    SERIALIZERS_ACCEPTED: frozenset[str] = frozenset({"serpent", "json", "msgpack"})
    REQUIRE_EXPOSE: bool = True  # nothing is remotely callable by accident
    COMMTIMEOUT: float = 0.0  # seconds a proxy waits for a reply; 0 = no limit (calls may be long)
    CONNECT_TIMEOUT: float = 5.0  # seconds a proxy waits for its first answer from a daemon
    MAX_MESSAGE_SIZE: int = 1073741824  # 1 GiB: big payloads work, a runaway one cannot eat RAM
    THREADPOOL_SIZE: int = 32  # max worker threads per daemon: enough concurrency, bounded memory
    THREADPOOL_SIZE_MIN: int = 2  # threads kept even when idle, so a quiet daemon answers at once
    OOB_THRESHOLD: int = 32768  # bytes-like values at least this big travel as separate frames
    HEARTBEAT_INTERVAL: float = 1.0  # zmq heartbeat on connections, seconds (dead-peer detection)
    HEARTBEAT_TIMEOUT: float = 5.0  # a few missed intervals before a peer counts as dead
    DETAILED_TRACEBACK: bool = False  # local variables in remote tracebacks can leak secrets
    MAX_PENDING_CALLS: int = 100_000  # per proxy connection: beyond, an error (bounded memory)
    MAX_RETRIES: int = 0  # automatic retries of a call after a lost connection (Pyro4 habit)
    POLL_TIMEOUT: float = 0.5  # seconds a request loop waits before re-checking loop_condition
    ITER_STREAMING: bool = True  # returned generators stream lazily instead of being refused
    ITER_STREAM_LIFETIME: float = 0.0  # seconds a stream may live; 0 = as long as it is used
    ITER_STREAM_LINGER: float = 30.0  # seconds an abandoned stream is kept for a reconnecting proxy
    # CURVE (README "Security"); empty = off. Paths of pyzmq key files (zpyro-keygen writes them).
    CURVE_SECRET_KEY: str = ""  # our own key pair (.key_secret): a server needs one to use CURVE
    CURVE_SERVER_PUBLIC_KEY: str = ""  # clients: the server's public key (z85 text or .key file)
    CURVE_ALLOWED_CLIENTS: str = ""  # servers: directory of allowed client .key files; "" = any

    use_environment: InitVar[bool] = True

    def __post_init__(self, use_environment: bool) -> None:
        if use_environment:
            self._apply_environment(os.environ)

    def _apply_environment(self, environ: Mapping[str, str]) -> None:
        for f in fields(self):
            text = environ.get(ENV_PREFIX + f.name)
            if text is not None:
                setattr(self, f.name, _convert(f.name, text, f.default))

    def reset(self, use_environment: bool = True) -> None:
        """Back to the defaults, then (by default) the ZPYRO_* environment on top."""
        for f in fields(self):
            setattr(self, f.name, f.default)
        if use_environment:
            self._apply_environment(os.environ)

    def as_dict(self) -> dict[str, Any]:
        """Item name -> current value."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    asDict = as_dict  # Pyro4 name

    def dump(self) -> str:
        """One `ITEM = value` line per item, sorted by name."""
        return "\n".join(
            f"{name} = {_show(value)}" for name, value in sorted(self.as_dict().items())
        )

    def copy(self) -> Config:
        """An independent Config with the same values (the environment is not re-read)."""
        return Config(use_environment=False, **self.as_dict())


config = Config()
