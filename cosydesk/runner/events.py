"""What the runner tells its listeners, as plain frozen records.

Listeners are called on the runner's thread (the outcome of a job withdrawn while it waited
comes from the thread that withdrew it), so they must return quickly and must not call the
engine: a GUI re-emits them as queued signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cosydesk.engine.types import EngineStatus, Word
from cosydesk.runner.jobs import Outcome


class RunnerState(Word):
    """What the model is doing: nothing loaded, loading, ready, working on a job, or failed."""

    UNLOADED = "unloaded"
    LOADING = "loading"
    READY = "ready"
    BUSY = "busy"
    ERROR = "error"


@dataclass(frozen=True)
class StateChanged:
    state: RunnerState


@dataclass(frozen=True)
class StatusChanged:
    """The engine's status, card memory included; about once a second while loaded."""

    status: EngineStatus


@dataclass(frozen=True)
class JobStarted:
    """The job left the queue and runs now."""

    job_id: int


@dataclass(frozen=True)
class LoadProgress:
    """Loading the model for job `job_id`: `fraction` in [0, 1] and a message for a person."""

    job_id: int
    fraction: float
    message: str


@dataclass(frozen=True)
class Loaded:
    job_id: int
    status: EngineStatus


@dataclass(frozen=True)
class Unloaded:
    reason: str


@dataclass(frozen=True)
class Progress:
    """Characters of the job's text that are rendered, of `total`."""

    job_id: int
    done: int
    total: int


@dataclass(frozen=True)
class Reading:
    """The audio from sample `sample` on speaks characters [start, end) of the job's text."""

    job_id: int
    start: int
    end: int
    sample: int


@dataclass(frozen=True)
class JobEnded:
    """The job's one outcome; `message` is the sentence of a failure, `result` the work's."""

    job_id: int
    outcome: Outcome
    result: Any = None
    message: str = ""


Event = (
    StateChanged
    | StatusChanged
    | JobStarted
    | LoadProgress
    | Loaded
    | Unloaded
    | Progress
    | Reading
    | JobEnded
)
Listener = Callable[[Event], None]
