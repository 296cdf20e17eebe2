"""How the speech server is set up: one frozen record, filled from arguments and environment.

Environment variables (each overrides the default, an argument overrides it):
``COSYDESK_API_KEY`` (the Bearer key), ``COSYDESK_MAX_INPUT_CHARS`` (4096, OpenAI's limit),
``COSYDESK_QUEUE_SIZE`` (requests that may wait for the model, 4),
``COSYDESK_MAX_CONNECTIONS`` (connections open at once; by default 100, or a quarter of the
process's file-descriptor limit when that is lower), ``COSYDESK_HEADER_TIMEOUT`` (seconds a
client has to send its request line and headers, 10) and ``COSYDESK_BODY_TIMEOUT`` (seconds it
has to send the body after them, 10).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cosydesk.config import option
from cosydesk.engine.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT: int = option("api_port").default
MAX_INPUT_CHARS = 4096
QUEUE_SIZE = 4
MAX_CONNECTIONS = 100
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 3600.0
# A JSON body holds `input` and `instructions` (each up to max_input_chars characters, at most
# 12 bytes each when escaped as a surrogate pair) plus a few short fields.
_BYTES_PER_CHAR = 2 * 12
_BODY_OVERHEAD_BYTES = 16 * 1024
MODEL_ID = "cosyvoice3"
# Names OpenAI clients send by default; they all mean the one model served here.
MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


@dataclass(frozen=True)
class ServerOptions:
    """Where the server listens and what it accepts. `validate()` says whether it may start."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str = ""
    max_input_chars: int = MAX_INPUT_CHARS
    queue_size: int = QUEUE_SIZE
    default_voice: str = ""
    model_id: str = MODEL_ID
    max_connections: int = 0  # 0: MAX_CONNECTIONS, fewer when the descriptor limit is low
    header_timeout: float = HEADER_TIMEOUT_S
    body_timeout: float = BODY_TIMEOUT_S

    @property
    def max_body_bytes(self) -> int:
        """The largest request body taken: enough for a request at the input limit."""
        return _BODY_OVERHEAD_BYTES + _BYTES_PER_CHAR * self.max_input_chars

    def connection_limit(self) -> int:
        """How many connections may be open at once (max_connections, or the default)."""
        if self.max_connections > 0:
            return self.max_connections
        descriptors = descriptor_limit()
        if descriptors is None:
            return MAX_CONNECTIONS
        # A quarter leaves the rest to the model, the app and the accepts asyncio batches.
        return max(1, min(MAX_CONNECTIONS, descriptors // 4))

    def validate(self) -> ServerOptions:
        """Itself, when it is safe and sane to start; ConfigError with a sentence otherwise."""
        from cosydesk.server.auth import check_bind

        check_bind(self.host, self.api_key)
        if not 0 <= self.port <= 65535:  # the ports TCP has; 0 picks a free one
            raise ConfigError(f"Port {self.port} does not exist: choose one from {port_range()}.")
        if self.max_input_chars < 1:
            raise ConfigError("The input limit must be at least 1 character.")
        if self.queue_size < 0:
            raise ConfigError("The queue size cannot be negative: use 0 or more.")
        for name, seconds in (("header", self.header_timeout), ("body", self.body_timeout)):
            if not 0 < seconds <= MAX_TIMEOUT_S:
                raise ConfigError(
                    f"The {name} timeout of {seconds:g} s is not allowed: use more than 0 and at "
                    f"most {MAX_TIMEOUT_S:g} seconds."
                )
        descriptors = descriptor_limit()
        if self.max_connections < 0:
            raise ConfigError("The connection limit cannot be negative: use 1 or more.")
        if descriptors is not None and self.max_connections > descriptors // 2:
            # Every connection holds a descriptor; the model, the log and the listening socket
            # need theirs too, and accepting past the limit floods the log with errors.
            raise ConfigError(
                f"A limit of {self.max_connections} connections is too high for this process, "
                f"which may open only {descriptors} files: use at most {descriptors // 2}, or "
                "raise the limit (ulimit -n) first."
            )
        return self

    def with_env(self, environ: Mapping[str, str] | None = None) -> ServerOptions:
        """A copy with the COSYDESK_* variables applied where they are set."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        key = env.get("COSYDESK_API_KEY", "").strip()
        if key:
            changes["api_key"] = key
        for variable, field_name, kind in (
            ("COSYDESK_MAX_INPUT_CHARS", "max_input_chars", int),
            ("COSYDESK_QUEUE_SIZE", "queue_size", int),
            ("COSYDESK_MAX_CONNECTIONS", "max_connections", int),
            ("COSYDESK_HEADER_TIMEOUT", "header_timeout", float),
            ("COSYDESK_BODY_TIMEOUT", "body_timeout", float),
        ):
            raw = env.get(variable, "").strip()
            if not raw:
                continue
            try:
                changes[field_name] = kind(raw)
            except ValueError:
                words = "a whole number" if kind is int else "a number of seconds"
                raise ConfigError(
                    f"The environment variable {variable} is {raw!r}, which is not allowed: "
                    f"use {words}, or unset it."
                ) from None
        return replace(self, **changes)

    def accepts_model(self, name: str | None) -> bool:
        """True for the served model's id, OpenAI's default names, or no name at all."""
        return not name or name == self.model_id or name in MODEL_ALIASES


def port_range() -> str:
    """The ports a person may choose, in words ("<lowest> to <highest>"), as the API port
    setting declares them."""
    ports = option("api_port")
    return f"{ports.minimum} to {ports.maximum}"


def descriptor_limit() -> int | None:
    """How many files (sockets included) this process may open; None when unknown or unlimited."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to respect
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else int(soft)
