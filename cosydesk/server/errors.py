"""Errors as the API reports them: OpenAI's shape, a sentence for a person, the right status.

Body: ``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}``, which the openai
client turns into its BadRequestError, NotFoundError, ... with our sentence as the message.
No response names a file by its absolute path or carries an exception's raw text (a server on
a network must not tell strangers its folders or its internals): `public_text` shortens paths
to their last part, and unexpected errors are answered with a reference the log has beside
the details.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from fastapi.responses import JSONResponse

from cosydesk.engine.errors import Cancelled, EngineError, VoiceError
from cosydesk.runner.jobs import ModelUnavailable, QueueFull, QueueStopped

log = logging.getLogger(__name__)

_TYPES = {
    401: "authentication_error",
    404: "not_found_error",
    503: "server_busy",
}
# An absolute path of at least two parts, POSIX or Windows; group 1 is its last part.
_ABSOLUTE_PATH = re.compile(
    r"""(?<![\w.~:/\\])(?:/|[A-Za-z]:[\\/])(?:[^\s/\\'"]+[/\\])+([^\s/\\'"]+)[/\\]?"""
)


def public_text(text: str) -> str:
    """`text` with every absolute path cut to its last part ("/home/ann/voices/a/clip.wav"
    becomes "clip.wav"), for a response that anyone on the network may read."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), text)


def error_type(status: int) -> str:
    """OpenAI's error type for an HTTP status."""
    return _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")


class ApiError(Exception):
    """An error the client should see as `status` with `message` (a sentence)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": error_type(self.status),
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


class BadInput(EngineError):
    """The text (or another field) cannot be spoken as given."""


class VoiceNotFound(VoiceError):
    """No voice of that name in the library."""


def to_api_error(exc: BaseException, doing: str = "speaking") -> ApiError:
    """The ApiError that reports `exc`, raised while `doing` (e.g. "speaking"), to a client."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, EngineError):  # sentences, but they may name files by their full path
        return _engine_error(exc)
    reference = secrets.token_hex(4)
    log.error("Unexpected error %s while %s", reference, doing, exc_info=exc)
    return ApiError(
        500,
        f"Something went wrong while {doing}: the server log has the details (look for "
        f"{reference}).",
        code="internal_error",
    )


def _engine_error(exc: EngineError) -> ApiError:
    message = public_text(str(exc))
    if isinstance(exc, QueueFull):
        return ApiError(503, message, code="queue_full", retry_after=exc.retry_after)
    if isinstance(exc, ModelUnavailable):
        return ApiError(503, message, code="model_unavailable", retry_after=5)
    if isinstance(exc, QueueStopped):
        return ApiError(503, message, code="shutting_down", retry_after=5)
    if isinstance(exc, Cancelled):
        return ApiError(503, "The request was cancelled: try again.", code="cancelled")
    if isinstance(exc, VoiceNotFound):
        return ApiError(404, message, code="voice_not_found", param="voice")
    if isinstance(exc, BadInput):
        return ApiError(400, message, code="invalid_input", param="input")
    log.info("Engine error: %s", exc)  # the full text, paths included, stays in the log
    return ApiError(500, message, code="engine_error")
