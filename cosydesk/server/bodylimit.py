"""Request bodies no larger than the server takes: refused with 413 before they are read whole.

A request that declares a longer Content-Length is refused before any of its body is read; a
chunked body is counted as it arrives and refused as soon as it passes the limit. Either way the
server holds at most the limit (plus what uvicorn buffers, 64 KiB) of any body, and the 413
closes the connection so the rest is never read. Bodies within the limit are read here and
handed to the app unchanged; what the client sends after them (its disconnect) still reaches
the app, which listens for it while it speaks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cosydesk.server.errors import ApiError

log = logging.getLogger(__name__)


class BodyLimit:
    """ASGI middleware refusing bodies over `max_bytes`; `max_chars` is the input limit that
    the byte limit was derived from, named in the sentence."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_chars: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)
        self.max_chars = int(max_chars)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"is {declared:,} bytes")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before its body ended
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send, f"is longer than {self.max_bytes:,} bytes")
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, send: Send, size: str) -> None:
        log.info("Refused a request body that %s", size)
        error = ApiError(
            413,
            f"The request body {size}; this server takes at most {self.max_bytes:,} bytes "
            f"(input of up to {self.max_chars} characters): split the text and send it in parts.",
            code="request_too_large",
        )
        body = json.dumps(error.body()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            # The rest of the body is never read: the connection cannot carry another request.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:  # h11 refuses these before they get here; be safe anyway
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` whole first, then whatever `receive` gives (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
            return message
        return await receive()

    return replay
