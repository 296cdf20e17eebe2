"""What a job's work gets from the runner: the engine (loaded on demand), the job's cancel, and
ways to report progress that reach the runner's listeners under the job's id."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.runner.events import Progress, Reading, RunnerState
from cosydesk.runner.jobs import Job, ModelUnavailable, Origin, load_failure_text

if TYPE_CHECKING:
    import threading

    from cosydesk.engine.protocols import SpeechEngine
    from cosydesk.runner.runner import Runner

log = logging.getLogger(__name__)


class JobContext:
    """Handed to a job's work on the runner thread; not to be kept beyond it."""

    def __init__(self, runner: Runner, job: Job, load_cancel: threading.Event) -> None:
        self._runner = runner
        self.job = job
        self._load_cancel = load_cancel

    @property
    def cancel(self) -> threading.Event:
        return self.job.cancel

    def engine(self) -> SpeechEngine:
        """The loaded engine, loaded first (with `LoadProgress` under this job's id) when it is
        not, or when the model configuration changed. Raises Cancelled, or what loading
        raises (an EngineError sentence for a bad folder); for an API job, ModelUnavailable
        instead, which says that the model could not be loaded, or is not loaded and the job
        may not load it."""
        job = self.job
        if not job.loads_model and self._runner._loaded_engine() is None:
            raise ModelUnavailable(
                "The model is not loaded in cosydesk yet: load it (speak something, or wait "
                "for it to finish loading) and try again."
            )
        started = time.monotonic()
        try:
            engine = self._runner._ensure_engine(job, self._load_cancel)
        except Cancelled:
            raise
        except Exception as exc:
            if job.origin is Origin.APP:
                raise
            if isinstance(exc, EngineError):
                log.info("The model could not be loaded: %s", exc)
            else:  # its text is for the log only
                log.error("The model could not be loaded", exc_info=exc)
            raise ModelUnavailable(
                f"The model could not be loaded: {load_failure_text(exc)}"
            ) from exc
        job.detail["load_seconds"] = time.monotonic() - started
        return engine

    def loaded_engine(self) -> SpeechEngine | None:
        """The engine if one is loaded (whatever its configuration), else None; never loads."""
        return self._runner._loaded_engine()

    def busy(self) -> None:
        """Say that the model works for this job now (the state listeners see)."""
        self._runner._set_state(RunnerState.BUSY)

    def check(self) -> None:
        """Raise Cancelled when the job was cancelled; between chunks, also a status tick."""
        if self.job.cancel.is_set():
            raise Cancelled("Cancelled.")
        self._runner._tick_if_due()

    def progress(self, done: int, total: int) -> None:
        """Characters of the job's text rendered so far, of `total`."""
        self.job.detail.update(chars_done=int(done), chars_total=int(total))
        self._runner._emit(Progress(self.job.job_id, int(done), int(total)))

    def reading(self, start: int, end: int, sample: int) -> None:
        """The audio from sample `sample` on speaks characters [start, end) of the text."""
        self._runner._emit(Reading(self.job.job_id, int(start), int(end), int(sample)))
