"""The server's state in one object: options, the engine host, its queue and the voice library.

The HTTP layer (app.py, speech.py) only translates between requests and this object; the
tray app and `cosydesk serve` build one each and hand it to `create_app`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cosydesk.engine.voices import VoiceInfo, VoiceLibrary
from cosydesk.server.errors import VoiceNotFound
from cosydesk.server.host import EngineHost
from cosydesk.server.options import ServerOptions
from cosydesk.server.queue import Job, ModelQueue

log = logging.getLogger(__name__)

WARMUP_TEXT = "Hello."
DEFAULT_VOICE_NAMES = ("", "default")


class SpeechService:
    """Everything a request needs. Start it before serving, stop it after."""

    def __init__(self, options: ServerOptions, host: EngineHost, library: VoiceLibrary) -> None:
        self.options = options
        self.host = host
        self.library = library
        self.queue = ModelQueue(host, options.queue_size)
        self.started_at = time.time()

    def start(self) -> None:
        self.queue.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel every request and end the model thread; False if it did not end in time."""
        return self.queue.stop(timeout)

    # -- voices -----------------------------------------------------------------------------
    def voices(self) -> list[VoiceInfo]:
        return self.library.list()

    def default_voice(self, voices: list[VoiceInfo] | None = None) -> str | None:
        """The configured default voice when it exists, else the first one; None if none."""
        voices = self.voices() if voices is None else voices
        wanted = self.options.default_voice
        if wanted and any(v.name == wanted for v in voices):
            return wanted
        if wanted:
            log.warning("The default voice %r is not in the library; using the first", wanted)
        return voices[0].name if voices else None

    def resolve_voice(self, name: str | None) -> str:
        """The library name for `name`: exact, else the one unique case-insensitive match;
        "default" or nothing gives the default voice. VoiceNotFound (a sentence) otherwise."""
        voices = self.voices()
        wanted = (name or "").strip()
        if wanted.lower() in DEFAULT_VOICE_NAMES:
            default = self.default_voice(voices)
            if default is None:
                raise VoiceNotFound(
                    "There is no voice yet: add one in cosydesk (Voices..., a clip of a few "
                    "seconds of clear speech plus what it says), then try again."
                )
            return default
        names = [v.name for v in voices]
        if wanted in names:
            return wanted
        folded = [n for n in names if n.casefold() == wanted.casefold()]
        if len(folded) == 1:
            return folded[0]
        known = ", ".join(repr(n) for n in names) or "none yet"
        raise VoiceNotFound(
            f"There is no voice called {wanted!r}: use one of {known} (GET /v1/audio/voices "
            "lists them), or 'default'."
        )

    # -- model work -------------------------------------------------------------------------
    def warmup_work(self) -> Any:
        """Work for the queue: the model is loaded by then; speak one short utterance."""

        def work(engine: Any, job: Job) -> dict[str, Any]:
            name = self.default_voice()
            result: dict[str, Any] = {
                "load_seconds": round(job.detail.get("load_seconds", 0.0), 3),
                "voice": name,
                "text": WARMUP_TEXT,
            }
            if name is None:
                result["note"] = (
                    "The model is loaded, but there is no voice to speak with yet: add one."
                )
                return result
            started = time.perf_counter()
            voice = self.library.get(name, engine)
            samples, first = 0, None
            for chunk in engine.synthesize(WARMUP_TEXT, voice, stream=True, cancel=job.cancel):
                if first is None:
                    first = time.perf_counter() - started
                samples += len(chunk)
            seconds = time.perf_counter() - started
            audio = samples / engine.sample_rate
            result.update(
                synthesis_seconds=round(seconds, 3),
                first_chunk_seconds=round(first, 3) if first is not None else None,
                audio_seconds=round(audio, 3),
                real_time_factor=round(seconds / audio, 3) if audio else None,
            )
            return result

        return work

    def load_work(self) -> Any:
        """Work for the queue that only makes sure the model is loaded."""

        def work(engine: Any, job: Job) -> float:
            return float(job.detail.get("load_seconds", 0.0))

        return work
