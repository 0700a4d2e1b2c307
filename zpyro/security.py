"""CURVE security: key files, server and client socket setup, ZAP authentication.

All the cryptography is ZeroMQ's (CurveZMQ) and the authentication handler is pyzmq's
(``zmq.auth.thread.ThreadAuthenticator``); this module only applies the configuration.

* A **server** (daemon, broker ROUTER and PUB) has a secret key file (``CURVE_SECRET_KEY``, or
  ``curve_secret_key=``): it then accepts only CURVE clients that know its public key, and, when
  ``CURVE_ALLOWED_CLIENTS`` names a directory of public key files, only those clients.
* A **client** (proxy, brokered daemon, SUB) that is given the server's public key
  (``CURVE_SERVER_PUBLIC_KEY``: the key's 40 z85 characters or a key file) uses CURVE, with its
  own key pair from ``CURVE_SECRET_KEY`` or a fresh one per process.

Key files are pyzmq's certificate files: ``zpyro-keygen NAME`` writes ``NAME.key`` (public) and
``NAME.key_secret`` (secret).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import threading
from typing import Any

import zmq
import zmq.auth

from . import errors
from .config import config

log = logging.getLogger("zpyro.security")

Keys = tuple[bytes, bytes]  # (public, secret), z85
# A CURVE broker forwards calls with route = MARK + caller's z85 key (40) + caller identity
ROUTE_KEY_MARK = b"K"

_auth: Any = None
_auth_lock = threading.Lock()
_domains = itertools.count(1)
_ephemeral: Keys | None = None


# -- Pyro's HMAC keys: refused where a program uses them, pointing to CURVE (SSL: configrules) ----

HMAC_REFUSED = (
    "HMAC keys are not supported: zpyro authenticates and encrypts with CURVE "
    "(zpyro-keygen, the CURVE_* config items; README section Security)"
)


def hmac_refusal(what: str) -> str:
    """Why `what` (an HMAC key setting) is refused."""
    return f"{what}: {HMAC_REFUSED}"


def load_keys(path: str) -> Keys:
    """(public, secret) from a secret key file."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise errors.SecurityError(f"cannot read CURVE key file {path!r}: {exc}") from None
    if secret is None:
        raise errors.SecurityError(f"{path!r} holds no secret key (use the .key_secret file)")
    return public, secret


def load_public(key_or_path: str | bytes) -> bytes:
    """A public key given as its 40 z85 characters or as a key file."""
    if isinstance(key_or_path, bytes):
        key_or_path = key_or_path.decode()
    text = key_or_path.strip()
    if len(text) == 40 and not os.path.exists(text):
        return text.encode()
    try:
        public, _ = zmq.auth.load_certificate(text)
    except (OSError, ValueError) as exc:
        raise errors.SecurityError(f"cannot read CURVE public key {text!r}: {exc}") from None
    return public


def server_keys(secret_file: str | None = None) -> Keys | None:
    """The server key pair from the argument or config, or None (no CURVE)."""
    path = secret_file or config.CURVE_SECRET_KEY
    return load_keys(path) if path else None


def client_keys() -> Keys:
    """This process's own key pair as a CURVE client."""
    global _ephemeral
    if config.CURVE_SECRET_KEY:
        return load_keys(config.CURVE_SECRET_KEY)
    if _ephemeral is None:
        _ephemeral = zmq.curve_keypair()
    return _ephemeral


def server_public(given: str | bytes | None = None) -> bytes | None:
    """The server public key a client should expect (argument or config), or None."""
    value = given or config.CURVE_SERVER_PUBLIC_KEY
    return load_public(value) if value else None


def allowed_clients(directory: str) -> set[bytes]:
    try:
        return set(zmq.auth.load_certificates(directory))
    except (OSError, ValueError) as exc:
        raise errors.SecurityError(
            f"cannot read allowed client keys in {directory!r}: {exc}"
        ) from None


class _Allow:
    """pyzmq credentials provider for one server socket's ZAP domain."""

    def __init__(self, allowed: set[bytes] | None) -> None:
        self.allowed = allowed  # None: any client that knows our public key

    def callback(self, domain: str, key: bytes) -> bool:
        ok = self.allowed is None or key in self.allowed
        if not ok:
            log.warning("CURVE client key %s refused (not in the allowed keys)", key.decode())
        return ok


def _authenticator(ctx: zmq.Context[zmq.Socket[bytes]]) -> Any:
    global _auth
    with _auth_lock:
        if _auth is None:
            from zmq.auth.thread import ThreadAuthenticator

            auth = ThreadAuthenticator(ctx, log=logging.getLogger("zpyro.security.zap"))
            auth.start()
            _auth = auth
        return _auth


def apply_server(
    sock: zmq.Socket[bytes],
    ctx: zmq.Context[zmq.Socket[bytes]],
    keys: Keys,
    allowed_dir: str | None = None,
    allowed_keys: set[bytes] | None = None,
) -> None:
    """Make `sock` a CURVE server (call before bind). Clients allowed: `allowed_keys` when
    given (public keys, z85), else those of `allowed_dir` (default CURVE_ALLOWED_CLIENTS), else
    any that knows our public key."""
    directory = allowed_dir if allowed_dir is not None else config.CURVE_ALLOWED_CLIENTS
    allowed = allowed_keys if allowed_keys is not None else None
    if allowed is None and directory:
        allowed = allowed_clients(directory)
    domain = f"zpyro-{next(_domains)}"
    # one provider per socket: allowlists of two daemons in one process stay apart
    _authenticator(ctx).configure_curve_callback(domain, _Allow(allowed))
    sock.zap_domain = domain.encode()
    sock.curve_publickey, sock.curve_secretkey = keys
    sock.curve_server = True


def apply_client(sock: zmq.Socket[bytes], server_key: bytes) -> None:
    """Make `sock` a CURVE client of the server with public key `server_key` (before connect)."""
    public, secret = client_keys()
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_key


def warn_if_exposed(host: str, what: str, secure: bool) -> None:
    """Binding beyond loopback without CURVE: anyone who can reach it can call it."""
    if secure or is_loopback(host):
        return
    log.warning(
        "%s binds %s without CURVE: anyone who can reach this address can call every exposed "
        "method (set CURVE_SECRET_KEY, see README 'Security')",
        what,
        host,
    )


def refuse_hmac(key: Any) -> None:
    """Pyro's HMAC key: refused, never accepted and ignored -- a server relying on it would let
    everyone in. SecurityError when a key is given."""
    if key:
        raise errors.SecurityError(HMAC_REFUSED)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def client_key_of(frame: Any) -> bytes | None:
    """The caller's CURVE public key (z85) from a received frame's metadata, if any."""
    try:
        user = frame.get("User-Id")
    except (zmq.ZMQError, AttributeError):
        return None
    return user.encode() if user else None


def keygen(directory: str, name: str) -> tuple[str, str]:
    """Write NAME.key and NAME.key_secret in `directory`; their paths."""
    os.makedirs(directory, exist_ok=True)
    public, secret = zmq.auth.create_certificates(directory, name)
    os.chmod(secret, 0o600)
    return public, secret


def main(argv: list[str] | None = None) -> int:
    """``zpyro-keygen NAME [--dir DIR]``: write a CURVE key pair."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="zpyro-keygen",
        description="Write a CURVE key pair: NAME.key (public, give it to peers) and "
        "NAME.key_secret (secret, keep it; mode 600).",
    )
    ap.add_argument("name", help="base name of the key files")
    ap.add_argument("--dir", default=".", help="where to write them (default: here)")
    args = ap.parse_args(argv)
    public, secret = keygen(args.dir, args.name)
    print(f"public key: {public}\nsecret key: {secret}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
