"""How the speech server is set up: one frozen record, filled from arguments and environment.

Environment variables (each overrides the default, an argument overrides it):
``COSYDESK_API_KEY`` (the Bearer key), ``COSYDESK_MAX_INPUT_CHARS`` (4096, OpenAI's limit),
``COSYDESK_QUEUE_SIZE`` (requests that may wait for the model, 4).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cosydesk.engine.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_INPUT_CHARS = 4096
QUEUE_SIZE = 4
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

    def validate(self) -> ServerOptions:
        """Itself, when it is safe and sane to start; ConfigError with a sentence otherwise."""
        from cosydesk.server.auth import check_bind

        check_bind(self.host, self.api_key)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"Port {self.port} does not exist: choose one from 1024 to 65535.")
        if self.max_input_chars < 1:
            raise ConfigError("The input limit must be at least 1 character.")
        if self.queue_size < 0:
            raise ConfigError("The queue size cannot be negative: use 0 or more.")
        return self

    def with_env(self, environ: Mapping[str, str] | None = None) -> ServerOptions:
        """A copy with the COSYDESK_* variables applied where they are set."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        key = env.get("COSYDESK_API_KEY", "").strip()
        if key:
            changes["api_key"] = key
        for variable, field_name in (
            ("COSYDESK_MAX_INPUT_CHARS", "max_input_chars"),
            ("COSYDESK_QUEUE_SIZE", "queue_size"),
        ):
            raw = env.get(variable, "").strip()
            if not raw:
                continue
            try:
                changes[field_name] = int(raw)
            except ValueError:
                raise ConfigError(
                    f"The environment variable {variable} is {raw!r}, which is not allowed: "
                    "use a whole number, or unset it."
                ) from None
        return replace(self, **changes)

    def accepts_model(self, name: str | None) -> bool:
        """True for the served model's id, OpenAI's default names, or no name at all."""
        return not name or name == self.model_id or name in MODEL_ALIASES
