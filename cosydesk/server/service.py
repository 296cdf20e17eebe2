"""The server's state in one object: options, the runner its jobs go to, and the voice library.

The HTTP layer (app.py, speech.py) only translates between requests and this object. The model
lives on a `Runner` (cosydesk.runner) that the service does not own: `cosydesk serve` makes
one for the server alone; the tray app hands over its own, where the person's requests go
first and API jobs never load the model (`loads_model=False`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import Any

from cosydesk.engine.voices import VoiceInfo, VoiceLibrary
from cosydesk.runner import Job, JobContext, Origin, QueueStopped, Runner, RunnerStatus
from cosydesk.server.errors import VoiceNotFound
from cosydesk.server.options import ServerOptions

log = logging.getLogger(__name__)

WARMUP_TEXT = "Hello."
DEFAULT_VOICE_NAMES = ("", "default")


class SpeechService:
    """Everything a request needs. Start it before serving, stop it after."""

    def __init__(
        self,
        options: ServerOptions,
        runner: Runner,
        library: VoiceLibrary,
        *,
        loads_model: bool = True,
    ) -> None:
        self.options = options
        self.runner = runner
        runner.capacity = max(0, int(options.queue_size))  # API requests that may wait
        self.library = library
        self.loads_model = loads_model
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._jobs: set[Job] = set()  # submitted and not ended
        self._stopped = False

    def start(self) -> None:
        """Take requests (the runner must run already, or be started by its owner)."""
        with self._lock:
            self._stopped = False

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel this service's jobs and refuse new ones; False if one did not end in time."""
        with self._lock:
            self._stopped = True
            jobs = list(self._jobs)
        for job in jobs:
            self.runner.cancel(job.job_id)
        deadline = time.monotonic() + timeout
        for job in jobs:
            try:
                job.future.exception(timeout=max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                log.warning("A %s request did not stop within %.1f s", job.kind, timeout)
                return False
            except Exception:  # the future's own cancellation: ended all the same
                pass
        return True

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        """Queue `job` on the runner as an API job. Raises QueueFull (503 with Retry-After)
        when too many wait, QueueStopped when the server is shutting down."""
        job.origin = Origin.API
        job.loads_model = self.loads_model
        with self._lock:
            if self._stopped:
                raise QueueStopped("The server is shutting down: try again once it is back.")
            self.runner.submit(job)
            self._jobs.add(job)
        job.future.add_done_callback(lambda _: self._forget(job))
        return job

    def _forget(self, job: Job) -> None:
        with self._lock:
            self._jobs.discard(job)

    def withdraw(self, job: Job) -> None:
        """The client went away: stop `job`, or free its place in the queue at once."""
        self.runner.cancel(job.job_id)

    def status(self) -> RunnerStatus:
        return self.runner.status()

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
    def warmup_job(self) -> Job:
        """A job that loads the model when needed and times one short utterance."""

        def work(ctx: JobContext) -> dict[str, Any]:
            engine = ctx.engine()
            name = self.default_voice()
            result: dict[str, Any] = {
                "load_seconds": round(ctx.job.detail.get("load_seconds", 0.0), 3),
                "voice": name,
                "text": WARMUP_TEXT,
            }
            if name is None:
                result["note"] = (
                    "The model is loaded, but there is no voice to speak with yet: add one."
                )
                return result
            ctx.busy()
            started = time.perf_counter()
            voice = self.library.get(name, engine)
            samples, first = 0, None
            for chunk in engine.synthesize(WARMUP_TEXT, voice, stream=True, cancel=ctx.cancel):
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

        return Job("warmup", work, doing="warming up")

    def load_job(self) -> Job:
        """A job that only makes sure the model is loaded; its result is the seconds it took."""

        def work(ctx: JobContext) -> float:
            ctx.engine()
            return float(ctx.job.detail.get("load_seconds", 0.0))

        return Job("load", work, doing="loading the model")
