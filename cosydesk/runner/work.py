"""The jobs that use the model: speak into a sound sink, save a WAV file, add a voice.

The app and the speech API build their jobs here, so a request is spoken the same way
whoever asked. Chunks go straight from the runner's thread into the sink (the app's player,
the API's response queue): nothing waits for a GUI event loop to pass them on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from cosydesk.engine.errors import EngineError
from cosydesk.runner.context import JobContext
from cosydesk.runner.jobs import Job, Origin

if TYPE_CHECKING:
    from cosydesk.engine.protocols import SpeechEngine, VoiceStore
    from cosydesk.engine.voices import Voice, VoiceInfo

log = logging.getLogger(__name__)


class AudioSink(Protocol):
    """Where a speech job's chunks go, from the runner's thread (so: thread-safe)."""

    def feed(self, chunk: np.ndarray) -> None:
        """One float32 mono chunk at the engine's sample rate."""

    def finish(self) -> None:
        """No more chunks: the whole text was rendered (not called on failure or cancel)."""


@dataclass(frozen=True)
class Speech:
    """What to say and how. `voice` None: the library's first voice."""

    text: str
    voice: str | None = None
    speed: float = 1.0
    stream: bool = True
    instruct: str | None = None
    normalization: str | None = None  # "wetext" or "basic"; None: the engine's default


def speech_job(
    library: VoiceStore, speech: Speech, sink: AudioSink, origin: Origin = Origin.APP
) -> Job:
    """A job that speaks `speech` into `sink`; its result is the number of samples made.

    `job.detail` carries sample_rate, samples and audio_seconds as they grow, and
    chars_done / chars_total.
    """

    def work(ctx: JobContext) -> int:
        engine = ctx.engine()
        voice = _voice(library, speech.voice, engine)
        ctx.busy()
        for chunk in _chunks(ctx, engine, voice, speech):
            sink.feed(chunk)
        sink.finish()
        return int(ctx.job.detail["samples"])

    return Job("speech", work, origin, doing="speaking")


def save_job(library: VoiceStore, speech: Speech, path: Path, *, overwrite: bool = False) -> Job:
    """A job that renders `speech` into the WAV file `path`; its result is the path. Nothing
    is left behind when it fails or is cancelled; an existing file is replaced only with
    `overwrite`."""

    def work(ctx: JobContext) -> Path:
        from cosydesk.audio.wavfile import WavWriter

        engine = ctx.engine()
        voice = _voice(library, speech.voice, engine)
        ctx.busy()
        # Leaving the block by an exception (Cancelled too) deletes the temp file: no partial WAV.
        with WavWriter(path, engine.sample_rate, overwrite=overwrite) as writer:
            for chunk in _chunks(ctx, engine, voice, speech):
                writer.write(chunk)
        log.info("Saved speech to %s", path)
        return Path(path)

    return Job("save", work, doing="saving the WAV file")


def voice_job(library: VoiceStore, name: str, audio_path: Path, transcript: str) -> Job:
    """A job that adds a voice to `library` (its prompt features need the model); its result
    is the new VoiceInfo."""

    def work(ctx: JobContext) -> VoiceInfo:
        engine = ctx.engine()
        ctx.check()
        ctx.busy()
        info = library.add(name, Path(audio_path), transcript, engine)
        log.info("Added voice %r from %s", info.name, audio_path)
        return info

    return Job("voice", work, doing="adding the voice")


def _chunks(
    ctx: JobContext, engine: SpeechEngine, voice: Voice, speech: Speech
) -> Iterator[np.ndarray]:
    """The engine's chunks for `speech`, stopping with Cancelled between chunks once the job is
    cancelled. Each part's `Reading` event says from which sample on its audio is heard (the
    samples of the chunks handed on before it); `job.detail` counts them."""
    rate = int(engine.sample_rate)
    ctx.job.detail.update(sample_rate=rate, samples=0, audio_seconds=0.0)
    fed = 0

    def reading(start: int, end: int) -> None:
        ctx.reading(start, end, fed)

    chunks = engine.synthesize(
        speech.text,
        voice,
        stream=speech.stream,
        speed=speech.speed,
        instruct=speech.instruct,
        cancel=ctx.cancel,
        progress=ctx.progress,
        normalization=speech.normalization,
        reading=reading,
    )
    for chunk in chunks:
        ctx.check()
        yield chunk
        fed += len(chunk)
        ctx.job.detail.update(samples=fed, audio_seconds=fed / rate)
    ctx.check()


def _voice(library: VoiceStore, name: str | None, engine: SpeechEngine) -> Voice:
    if not name:
        voices = library.list()
        if not voices:
            raise EngineError(
                "There is no voice yet: open Voices... and add one (a clip of a few seconds "
                "of clear speech plus what it says), or record one with your microphone."
            )
        name = voices[0].name
    return library.get(name, engine)
