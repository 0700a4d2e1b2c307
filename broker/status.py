"""The broker's ``Pyro.Daemon``: every daemon's own object, plus one read-only question.

``pools()`` tells operators (and the HTTP gateway's console) what the pools look like now: each
pool's daemons, their capacity, calls in flight, free slots, and what waits in the queue
(docs/BROKER.md). It changes nothing, so any caller may ask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zpyro.daemonobject import DaemonObject
from zpyro.exposure import expose


@expose
class BrokerDaemonObject(DaemonObject):
    def __init__(
        self,
        metadata: Callable[[str], dict[str, Any]],
        registered: Callable[[], list[str]],
        info: Callable[[], str],
        pools: Callable[[], dict[str, Any]],
    ) -> None:
        super().__init__(metadata, registered, info)
        self._pools = pools

    def pools(self) -> dict[str, Any]:
        """``{"epoch", "daemons", "max_queue", "pools": {object id: {...}}}`` (docs/BROKER.md)."""
        return self._pools()
