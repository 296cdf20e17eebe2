"""The records of the runner: who asked (and so who goes first), a job, how it ended.

A job carries its own `threading.Event`: whoever holds the job may set it to cancel, and the
runner also sets it for `Runner.cancel(job_id)`. Its outcome is exactly one of done, failed
(with a sentence for a person) or cancelled, told by one `JobEnded` event and by its future.
"""

from __future__ import annotations

import concurrent.futures
import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cosydesk.engine.errors import EngineError

if TYPE_CHECKING:
    from cosydesk.runner.context import JobContext


class Origin(enum.IntEnum):
    """Who asked for a job; a lower value is served first."""

    APP = 0  # the person at the keyboard, through the app's window, tray or hotkey
    API = 1  # a client of the speech API

    @property
    def label(self) -> str:
        """Words for messages: "the app" or "a speech API request"."""
        return "the app" if self is Origin.APP else "a speech API request"


class Outcome(str, enum.Enum):
    """How a job ended; each job has exactly one."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# (the job's context on the runner thread) -> the job's result
Work = Callable[["JobContext"], Any]


@dataclass(frozen=True)
class JobInfo:
    """What others may know of a job: its id, what it does and for whom."""

    job_id: int
    kind: str
    origin: Origin


@dataclass(eq=False)
class Job:
    """One unit of work for the runner thread.

    `doing` names the work in sentences and the log ("speaking", "loading the model").
    `detail` is free for the work to report figures in (other threads may read it).
    A job that needs the model loads it when none is loaded, unless `loads_model` is false.
    `job_id`, `submitted` and `behind` are set by `Runner.submit`: `behind` is the job that was
    running then, which this one waits for.
    """

    kind: str
    work: Work
    origin: Origin = Origin.APP
    doing: str = "working"
    cancel: threading.Event = field(default_factory=threading.Event)
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    detail: dict[str, Any] = field(default_factory=dict)
    loads_model: bool = True  # False: a job that needs the model fails while none is loaded
    job_id: int = 0
    submitted: float = 0.0
    behind: JobInfo | None = None

    @property
    def info(self) -> JobInfo:
        return JobInfo(self.job_id, self.kind, self.origin)


@dataclass(frozen=True)
class JobRecord:
    """How a finished job went: its outcome and how long it waited and ran."""

    job_id: int
    kind: str
    origin: Origin
    outcome: Outcome
    wait_seconds: float
    run_seconds: float
    detail: dict[str, Any]
    error: str = ""


class QueueFull(EngineError):
    """Too many API requests wait for the model; `retry_after` is a whole number of seconds."""

    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueStopped(EngineError):
    """The runner is shutting down and takes no more work."""


class ModelUnavailable(EngineError):
    """An API job needs the model, which is not loaded and cannot be loaded for it now; the
    request may be tried again later."""


def load_failure_text(exc: BaseException) -> str:
    """Why loading failed, in words anyone may read: an EngineError's sentence, else no more
    than that something unexpected happened (its text may name internals; the log has it)."""
    if isinstance(exc, EngineError):
        return str(exc)
    return "an unexpected error stopped it (the log has the details)."


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
