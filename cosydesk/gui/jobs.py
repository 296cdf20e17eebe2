"""The records that travel between the GUI and the worker, and how failures become sentences.

Each request carries its job id and its own `threading.Event`: the caller keeps the event and
sets it to cancel, so a job cancelled before the worker reaches it never starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosydesk.engine.errors import EngineError
from cosydesk.engine.types import EngineOptions

# (model_dir, options, *, progress, cancel) -> an engine with synthesize/status/unload.
EngineFactory = Callable[..., Any]


def load_engine(
    model_dir: Path,
    options: EngineOptions,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """The default factory: the real engine, imported here so that torch loads on this thread."""
    from cosydesk.engine.engine import Engine

    return Engine.load(model_dir, options, progress=progress, cancel=cancel)


@dataclass
class LoadJob:
    """Load (or reload) the model from `model_dir` with `options`."""

    job_id: int
    model_dir: Path
    options: EngineOptions
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class SpeechJob:
    """Speak `text` with the voice called `voice`; with `path`, write a WAV file there instead."""

    job_id: int
    text: str
    voice: str | None
    speed: float = 1.0
    stream: bool = True
    instruct: str | None = None
    normalization: str | None = None  # "wetext" or "basic"; None: the engine's default
    path: Path | None = None
    overwrite: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class VoiceJob:
    """Add a voice to the library; computing its prompt features needs the loaded model."""

    job_id: int
    name: str
    audio_path: Path
    transcript: str
    cancel: threading.Event = field(default_factory=threading.Event)


def describe_failure(exc: BaseException, doing: str) -> str:
    """A sentence for a person about `exc`, which happened while `doing` (e.g. "speaking")."""
    if isinstance(exc, EngineError):
        return str(exc)
    name = type(exc).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return (
            f"The GPU ran out of memory while {doing}: choose 4-bit quantisation in Settings, "
            "or close other programs that use the GPU, then try again."
        )
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"A file could not be read or written while {doing}{where}: {exc.strerror}."
    return (
        f"Something went wrong while {doing} ({name}: {exc}). The log file has the details; "
        "please include it if you report this."
    )
