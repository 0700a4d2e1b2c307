"""``Pyro.Daemon``: the object every daemon serves about itself, and so does the broker.

A proxy asks it for metadata when it connects; it also answers pings, lists what is served,
hands out the chunks of remote iterators and drops a departed proxy's session. It knows its
host only through the callables it is given, so a daemon and the broker share this one class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors
from .context import current_context
from .exposure import expose, oneway
from .streams import StreamRegistry


@expose
class DaemonObject:
    """The daemon's own object (``Pyro.Daemon``): liveness and metadata for proxies."""

    def __init__(
        self,
        metadata: Callable[[str], dict[str, Any]],
        registered: Callable[[], list[str]],
        info: Callable[[], str],
        release: Callable[[bytes], None] | None = None,
        streams: StreamRegistry | None = None,
    ) -> None:
        self._metadata = metadata
        self._registered = registered
        self._info = info
        self._release = release  # None: the host keeps no per-proxy state here
        self._streams = streams  # None: streaming is off (or done elsewhere)

    def ping(self) -> None:
        pass

    def registered(self) -> list[str]:
        return self._registered()

    def get_metadata(self, objectId: str, as_lists: bool = False) -> dict[str, Any]:  # noqa: N803
        """Pyro's names; `as_lists` is accepted (zpyro's metadata always has lists)."""
        return self._metadata(objectId)

    def info(self) -> str:
        return self._info()

    def stream_next(self, stream_id: str) -> list[Any]:
        """The next chunk of a remote iterator: [items, finished, error]."""
        if self._streams is None:
            raise errors.DaemonError("streaming is off in this daemon")
        return self._streams.next_chunk(stream_id, current_context.client_id)

    @oneway
    def stream_close(self, stream_id: str) -> None:
        if self._streams is not None:
            self._streams.close(stream_id)

    @oneway
    def release_session(self) -> None:
        """The calling proxy is gone: drop its session instances and streams."""
        if self._release is not None:
            self._release(current_context.client_id)
