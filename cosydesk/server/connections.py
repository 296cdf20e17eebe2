"""The server's connections: how many may be open, and how long each may take to send a request.

uvicorn's h11 protocol gives a connection all the time it wants for its request line, headers
and body, and uvicorn accepts connections until the process runs out of file descriptors;
asyncio then logs every failed accept with a traceback (tens of thousands a second). So the
speech server runs uvicorn with `GuardedH11Protocol`, uvicorn's own protocol plus these rules,
all decided from h11's connection state (IDLE: waiting for a request; SEND_BODY: the body is
arriving; DONE: the request is complete and the app takes the time it needs):

- a connection has `header_timeout` seconds, from its start or from the end of its previous
  response, to complete its request headers; then it is closed (with a 408 when it had sent
  part of a request);
- a request has `body_timeout` seconds after its headers to complete its body (408, closed);
- at most `connection_limit()` connections are open at once (well below the descriptor limit):
  one more closes the connection that has waited longest for a request, or, when every
  connection has a request in progress, is answered 503 and closed;
- a malformed request gets a 400 in OpenAI's error shape, and what the connections log is
  rate limited, so that no client can fill the disk with the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from cosydesk.server.errors import ApiError
from cosydesk.server.options import ServerOptions

log = logging.getLogger(__name__)

LOG_WINDOW_S = 10.0


class LogLimiter:
    """Lets one record per kind through every `window` seconds and counts the others."""

    def __init__(self, window: float = LOG_WINDOW_S) -> None:
        self.window = window
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, kind: str) -> int | None:
        """None when a record of `kind` should be dropped; otherwise how many were dropped
        since the last one let through (to say so in this one)."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.window:
            self._held[kind] = self._held.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._held.pop(kind, 0)


def _more(held: int) -> str:
    return f" ({held} more like this in the last {LOG_WINDOW_S:g} s)" if held else ""


class QuietLogger:
    """A stand-in for uvicorn's logger inside one server's connections: the same records, at
    most one of each message every LOG_WINDOW_S seconds."""

    def __init__(self, logger: logging.Logger, limiter: LogLimiter) -> None:
        self._logger = logger
        self._limiter = limiter

    @property
    def level(self) -> int:
        return self._logger.level

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self._logger.isEnabledFor(level):
            return
        held = self._limiter.allow(f"uvicorn:{msg}")
        if held is not None:
            self._logger.log(level, f"{msg}{_more(held)}", *args, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)


def error_bytes(status: int, message: str, code: str) -> bytes:
    """A whole HTTP/1.1 response carrying `message` in OpenAI's error shape, then closing."""
    body = json.dumps(ApiError(status, message, code=code).body()).encode()
    reason = {400: "Bad Request", 408: "Request Timeout", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class ConnectionGuard:
    """The limits of one server and the connections it holds (used on its event loop only)."""

    def __init__(self, options: ServerOptions) -> None:
        self.limit = options.connection_limit()
        self.header_timeout = float(options.header_timeout)
        self.body_timeout = float(options.body_timeout)
        self.limiter = LogLimiter()
        # Insertion-ordered; a connection leaves it when it closes or is closed by the guard.
        self._open: dict[GuardedH11Protocol, None] = {}

    def admit(self, connection: GuardedH11Protocol) -> bool:
        """Take `connection` in, closing the one that has waited longest for a request when
        the limit is reached; False when every open connection has a request in progress."""
        if len(self._open) >= self.limit:
            idle = [c for c in self._open if c.waiting_since is not None]
            if not idle:
                self.note("refused", "every connection has a request in progress")
                return False
            oldest = min(idle, key=lambda c: c.waiting_since or 0.0)
            self.forget(oldest)
            oldest.drop("evicted")
        self._open[connection] = None
        return True

    def forget(self, connection: GuardedH11Protocol) -> None:
        self._open.pop(connection, None)

    def note(self, kind: str, why: str = "") -> None:
        """Log (rate limited) that a connection was closed or refused, and why."""
        held = self.limiter.allow(kind)
        if held is None:
            return
        what = {
            "evicted": "Closed the connection that waited longest for a request",
            "refused": "Refused a connection",
            "headers": f"Closed a connection that sent no complete request headers within "
            f"{self.header_timeout:g} s",
            "body": f"Closed a connection that sent no complete body within "
            f"{self.body_timeout:g} s",
        }[kind]
        level = logging.INFO  # slow or idle clients are routine; reaching the limit is not
        if kind in ("evicted", "refused"):
            what += f" (the limit of {self.limit} open connections was reached)"
            level = logging.WARNING
        log.log(level, "%s%s%s", what, f": {why}" if why else "", _more(held))

    def loop_errors(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's exception handler: each kind of error logged at most once per
        LOG_WINDOW_S seconds. A failed accept (too many open files) names what to do."""
        message = str(context.get("message", ""))
        held = self.limiter.allow(f"loop:{message}")
        if held is None:
            return
        if message.startswith("socket.accept() out of system resource"):
            log.error(
                "Could not accept a connection: %s. Lower COSYDESK_MAX_CONNECTIONS or raise "
                "the limit on open files (ulimit -n).%s",
                context.get("exception"),
                _more(held),
            )
            return
        if held:
            context = {**context, "message": f"{message}{_more(held)}"}
        loop.default_exception_handler(context)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the timeouts and the limit of `guard` (see the module)."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.logger = QuietLogger(self.logger, guard.limiter)  # type: ignore[assignment]
        # Since when it waits for request headers; None while a request is in progress.
        self.waiting_since: float | None = None
        self._phase = ""
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio's callbacks ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.write(
                error_bytes(
                    503,
                    "The server has as many connections open as it allows, all of them busy: "
                    "try again in a few seconds.",
                    "too_many_connections",
                )
            )
            transport.close()
            return
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def send_400_response(self, msg: str) -> None:
        """A malformed request: a sentence in OpenAI's error shape, then close."""
        self.transport.write(
            error_bytes(
                400,
                "The request is not valid HTTP/1.1 (its request line or headers are malformed "
                "or too long): send a well-formed request.",
                "invalid_http",
            )
        )
        self.transport.close()

    # -- the rules --------------------------------------------------------------------------
    def drop(self, kind: str, response: bytes = b"") -> None:
        """Close the connection (after writing `response`, if any); logged as `kind`."""
        self._cancel_timer()
        if self.transport is None or self.transport.is_closing():
            return
        if response:
            self.transport.write(response)
        self.transport.close()
        self.guard.note(kind)

    def _follow(self) -> None:
        """Arm the timer that fits h11's state now (headers, body, or none)."""
        if self.transport is None or self.transport.is_closing():
            self._cancel_timer()
            return
        theirs, ours = self.conn.their_state, self.conn.our_state
        if theirs is h11.IDLE and ours is h11.IDLE:
            phase = "headers"
        elif theirs is h11.SEND_BODY:
            phase = "body"
        else:
            phase = ""
        if phase == self._phase:
            return
        self._phase = phase
        self._cancel_timer()
        self.waiting_since = time.monotonic() if phase == "headers" else None
        if phase == "headers":
            self._timer = self.loop.call_later(self.guard.header_timeout, self._headers_late)
        elif phase == "body":
            self._timer = self.loop.call_later(self.guard.body_timeout, self._body_late)

    def _headers_late(self) -> None:
        self._timer = None
        partial, _closed = self.conn.trailing_data
        response = b""
        if partial:  # a client that sent nothing (or an idle keep-alive) just gets closed
            response = error_bytes(
                408,
                f"The request line and headers did not arrive within "
                f"{self.guard.header_timeout:g} s: send the whole request at once.",
                "request_timeout",
            )
        self.drop("headers", response)

    def _body_late(self) -> None:
        self._timer = None
        response = b""
        if self.conn.our_state is h11.SEND_RESPONSE:  # no answer has started yet
            response = error_bytes(
                408,
                f"The request body did not arrive within {self.guard.body_timeout:g} s of its "
                "headers: send the whole request at once.",
                "request_timeout",
            )
        self.drop("body", response)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
