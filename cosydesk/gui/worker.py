"""The runner's events as Qt signals, for the widgets and the controller on the GUI thread.

The engine lives on the runner's own thread (cosydesk.runner); `Worker` only listens to it.
Its signals are emitted on the runner's thread, so receivers on the GUI thread get them
queued, in the order the runner sent them. Requests go to the runner directly
(`worker.runner.submit(...)`, thread-safe), not through signals.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from cosydesk.runner.events import (
    Event,
    JobEnded,
    JobStarted,
    Loaded,
    LoadProgress,
    Progress,
    Reading,
    StateChanged,
    StatusChanged,
    Unloaded,
)
from cosydesk.runner.jobs import Outcome
from cosydesk.runner.runner import Runner

# Niceness of the runner's thread in the app: the window's thread keeps 0, so it is served first.
WORKER_NICE = 5


class Worker(QObject):
    """Re-emits the events of `runner` as signals; see the module docstring."""

    state_changed = Signal(str)  # a RunnerState value: "unloaded", "loading", "ready", ...
    load_progress = Signal(int, float, str)  # job id, fraction 0..1, message
    loaded = Signal(int, object)  # job id, EngineStatus
    unloaded = Signal(str)  # reason
    status_changed = Signal(object)  # EngineStatus, about once a second and after load/unload
    started = Signal(int)  # job id: the job left the queue and runs now
    progress = Signal(int, int, int)  # job id, characters done, characters in all
    # job id, first and end character of a part, the sample where its audio starts
    reading = Signal(int, int, int, int)
    finished = Signal(int, object)  # job id, result: None, the WAV path, a VoiceInfo, ...
    failed = Signal(int, str)  # job id, a sentence for a person
    cancelled = Signal(int)  # job id

    def __init__(self, runner: Runner) -> None:
        super().__init__()
        self.runner = runner
        runner.subscribe(self._relay)

    def _relay(self, event: Event) -> None:
        if isinstance(event, StatusChanged):
            self.status_changed.emit(event.status)
        elif isinstance(event, StateChanged):
            self.state_changed.emit(event.state.value)
        elif isinstance(event, Progress):
            self.progress.emit(event.job_id, event.done, event.total)
        elif isinstance(event, Reading):
            self.reading.emit(event.job_id, event.start, event.end, event.sample)
        elif isinstance(event, JobStarted):
            self.started.emit(event.job_id)
        elif isinstance(event, LoadProgress):
            self.load_progress.emit(event.job_id, event.fraction, event.message)
        elif isinstance(event, Loaded):
            self.loaded.emit(event.job_id, event.status)
        elif isinstance(event, Unloaded):
            self.unloaded.emit(event.reason)
        elif isinstance(event, JobEnded):
            if event.outcome is Outcome.DONE:
                self.finished.emit(event.job_id, event.result)
            elif event.outcome is Outcome.FAILED:
                self.failed.emit(event.job_id, event.message)
            else:
                self.cancelled.emit(event.job_id)
