"""What every part of ``Proxy`` shares: its state, and the stub a remote method is.

``zpyro.client.Proxy`` is put together from this base, the parts in ``proxyhandshake.py``,
``proxyrecovery.py`` and ``proxystyles.py`` (mixins: their methods stay the proxy's own, so a
subclass of Proxy overrides any ``_pyro*`` method as in Pyro), and its call path in
``client.py``. The attributes below are set in ``Proxy.__init__``, straight into the instance
dict; they are only declared here (no class attributes: a name on the class would be taken for
the proxy's own by ``Proxy.__setattr__`` and never reach ``__getattr__``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .uri import URI

Deliver = Callable[[Any, BaseException | None], None]  # deliver(value, error)

DEFAULT_HANDSHAKE = "hello"  # Pyro's default Proxy._pyroHandshake


class ProxyBase:
    """The proxy's state (see Proxy.__init__), and the core methods its parts call."""

    _pyroUri: URI
    _pyroTarget: URI  # the PYRO: URI connected to: _pyroUri, or what a name resolved to
    _pyroTimeout: float | None
    _pyroSerializer: str
    _pyroSerializerSet: bool
    _pyroAccepted: frozenset[str] | None
    _pyroOneway: set[str]
    _pyroMethods: set[str]
    _pyroAttrs: set[str]
    _pyroIdempotent: frozenset[str]
    _pyroPaired: bool
    _pyroMaxRetries: int
    _pyroConnection: Any
    _pyroMaxMessageSize: int
    _pyroMetaFresh: bool
    _pyroMetaFromCache: bool
    _pyroCreditWindow: int | None
    _pyroSessions: bool
    _pyroStreamed: bool
    _pyroAsyncMode: bool
    _pyroCurveServerKey: str | None
    _pyroHandshake: Any
    _pyroLastResponseAnnotations: dict[str, Any]
    # Proxy's private attributes, by the names Python mangles ``self.__lock`` to in Proxy
    _Proxy__lock: threading.RLock
    _Proxy__serializer: Any

    # Proxy's own methods (client.py) that its parts call
    _pyroInvoke: Callable[..., Any]
    _pyroCall: Callable[..., Any]
    _pyroDecode: Callable[..., Any]
    _pyroBind: Callable[[], bool]
    _pyroRelease: Callable[[], None]


class RemoteMethod:
    """``proxy.name``: calling it calls the remote method `name` (kept in the proxy's dict)."""

    __slots__ = ("_proxy", "_name")

    def __init__(self, proxy: ProxyBase, name: str) -> None:
        self._proxy = proxy
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._proxy._pyroInvoke(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<remote method {self._name} of {self._proxy._pyroUri}>"
