"""zpyro's HTTP gateway: zpyro objects for browsers and any HTTP client (extra ``zpyro[gateway]``).

An ASGI application (Starlette) with Pyro's HTTP interface -- ``GET|POST /pyro/<name>/<method>``,
``$meta``, ``X-Pyro-Options``, ``X-Pyro-Gateway-Key``, ``X-Pyro-Correlation-Id``, Pyro's status
codes and JSON -- and a live console of the name server, the pools and the announcements at
``/``. ``zpyro-gateway`` (``python -m zpyro.gateway``) serves it with uvicorn; ``create_app()``
gives the app to mount in any ASGI server or framework. README, "HTTP gateway".
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        f"the HTTP gateway needs the gateway extra: pip install 'zpyro[gateway]' ({exc})"
    ) from exc

from .app import Gateway, create_app  # noqa: E402
from .httpio import DEFAULT_EXPOSE, DEFAULT_MAX_BODY  # noqa: E402

__all__ = ["DEFAULT_EXPOSE", "DEFAULT_MAX_BODY", "Gateway", "create_app"]
