"""Who may talk to the server: loopback by default, a Bearer key for anything wider.

Rules:
- binding an address other than loopback needs an API key of at least 16 characters;
- with a key, every request must carry ``Authorization: Bearer <key>``;
- without a key (loopback only), a request must name a loopback host and, when a browser sends
  an Origin, a loopback origin: a web page elsewhere cannot make this machine speak, neither
  through a cross-site request nor through DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from cosydesk.engine.errors import ConfigError

MIN_KEY_LENGTH = 16
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True when `host` (a name or an address, IPv6 with or without brackets) is this machine
    only. Empty, wildcard ("0.0.0.0", "::") and other names count as reachable from outside."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str) -> None:
    """Refuse (ConfigError with a sentence) to serve beyond loopback without a usable key, or
    with a key that no client could send."""
    if api_key and (api_key != api_key.strip() or any(c.isspace() for c in api_key)):
        raise ConfigError("The API key must not contain spaces: choose a key without them.")
    if api_key and not (api_key.isascii() and api_key.isprintable()):
        # HTTP headers carry bytes that servers read as Latin-1, clients send as whatever they
        # like: a key beyond ASCII could never be matched reliably.
        raise ConfigError(
            "The API key may use only ASCII letters, digits and punctuation: choose another "
            "key (for example the output of "
            'python -c "import secrets; print(secrets.token_urlsafe(24))").'
        )
    if is_loopback(host):
        return
    hint = 'python -c "import secrets; print(secrets.token_urlsafe(24))"'
    if not api_key:
        raise ConfigError(
            f"Serving on {host or 'every address'} would let other machines use the model, so "
            "it needs an API key: set COSYDESK_API_KEY (for example to the output of "
            f"{hint}), or serve on 127.0.0.1."
        )
    if len(api_key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"The API key is too short to guard a server on {host}: use at least "
            f"{MIN_KEY_LENGTH} characters (for example the output of {hint})."
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _host_of(value: str) -> str:
    """The host part of a Host header ("127.0.0.1:8000", "[::1]:80", "localhost")."""
    return _hostname(f"//{value}")


def _hostname(url: str) -> str:
    """The host of `url`; "" when it has none or cannot be read ("http://[::1" has a bracket
    that does not close: urlsplit raises), which no rule takes for this machine."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def key_matches(authorization: str | None, api_key: str) -> bool:
    """True when the Authorization header is `Bearer <api_key>` (compared in constant time)."""
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), api_key.encode())


class AccessGuard:
    """ASGI middleware applying the rules above before any route runs."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, code, message = problem
        body = json.dumps(
            {
                "error": {
                    "message": message,
                    "type": "authentication_error",
                    "param": None,
                    "code": code,
                }
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            # The body (if any) is never read: the connection cannot carry another request.
            (b"connection", b"close"),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _problem(self, scope: Scope) -> tuple[int, str, str] | None:
        if self.api_key:
            if key_matches(_header(scope, b"authorization"), self.api_key):
                return None
            return (
                401,
                "invalid_api_key",
                "This server needs an API key: send the header "
                "'Authorization: Bearer <key>' with the key it was started with.",
            )
        host = _header(scope, b"host")
        if host is not None and not is_loopback(_host_of(host)):
            return (
                403,
                "forbidden_host",
                f"This server answers only requests addressed to 127.0.0.1 or localhost, not "
                f"{host!r}: use http://127.0.0.1:<port>/.",
            )
        origin = _header(scope, b"origin")
        # "null" too: any page can send it from a sandboxed frame.
        if origin and not is_loopback(_hostname(origin)):
            return (
                403,
                "forbidden_origin",
                f"Web pages from {origin} may not use this server: only pages served from this "
                "machine may (start the server with an API key to allow others).",
            )
        return None
