"""The runner: one plain Python thread that owns the engine and runs every job that uses it.

The engine is not thread-safe, so the app and the speech API both hand their work to one
`Runner`. Jobs wait in one queue (queue.py), the person at the keyboard before API clients;
a running job is never interrupted by another, only by its own cancel.

Every job ends in exactly one outcome (done, failed with a sentence, cancelled), told by a
`JobEnded` event and by the job's future. Loading, unloading and switching the model's
configuration are jobs too; a job that needs the model loads it on demand. While idle, the
thread reports the engine's status about once a `tick_s` and unloads the model after the idle
minutes. Any thread may read `status()`, a snapshot with the card's memory read afresh.

The thread runs at a lower CPU priority (`nice`), which the compute threads torch starts from
it inherit: on a machine with few cores the window (or the HTTP loop) is then served first.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.engine.protocols import SpeechEngine, VoiceStore
from cosydesk.engine.types import EngineStatus, ModelStatus
from cosydesk.runner.context import JobContext
from cosydesk.runner.events import (
    Event,
    JobEnded,
    JobStarted,
    Listener,
    Loaded,
    LoadProgress,
    RunnerState,
    StateChanged,
    StatusChanged,
    Unloaded,
)
from cosydesk.runner.jobs import (
    Job,
    JobInfo,
    JobRecord,
    Origin,
    Outcome,
    describe_failure,
)
from cosydesk.runner.model import EngineFactory, ModelConfig, ModelSlot, load_engine, with_card
from cosydesk.runner.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerStatus:
    """A snapshot for any thread: the engine's status (card memory read when taken), what the
    model does, what waits, and how the last load went."""

    engine: EngineStatus
    state: RunnerState
    running: JobInfo | None
    waiting: tuple[JobInfo, ...]
    finished: int
    capacity: int
    load_seconds: float | None
    load_progress: tuple[float, str] | None
    load_error: BaseException | None


class Runner:
    """Owns the engine on its own thread; see the module docstring. Start it, then submit."""

    def __init__(
        self,
        library: VoiceStore | None = None,
        factory: EngineFactory = load_engine,
        *,
        model: ModelConfig | None = None,
        capacity: int = 4,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        nice: int = 0,
        name: str = "cosydesk-runner",
    ) -> None:
        self.library = library
        self.name = name
        self._queue = JobQueue(capacity)
        self._slot = ModelSlot(factory, library, model)
        self._tick_s = tick_s
        self._clock = clock
        self._nice = nice
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: tuple[Listener, ...] = ()
        self._idle_s = 0.0
        self._last_used = clock()
        self._last_tick = 0.0
        self._state = RunnerState.UNLOADED
        self._status = self._slot.idle_status(ModelStatus.UNLOADED)

    @property
    def capacity(self) -> int:
        """How many API jobs may wait; one more is refused with QueueFull."""
        return self._queue.capacity

    @capacity.setter
    def capacity(self, value: int) -> None:
        self._queue.capacity = max(0, int(value))

    # -- life cycle (any thread) ------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(event)` for every event from now on (on the runner's thread)."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel every job, unload the model and end the thread; False (and a log line) if a
        job did not stop within `timeout` seconds."""
        self._stopping.set()
        self._queue.stop()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("The runner's thread did not stop within %.1f s", timeout)
            return False
        return True

    # -- jobs (any thread) ------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        """Queue `job`; returns it with its id and `behind` set. Its outcome comes as a
        `JobEnded` event and in `job.future`. Raises QueueFull when `capacity` API jobs wait
        already (only for API jobs), QueueStopped after `stop()`."""
        return self._queue.put(job)

    def cancel(self, job_id: int) -> bool:
        """Cancel the job: a waiting one leaves the queue at once (its place is free, its
        outcome is "cancelled" at once), a running one stops at its next chunk. False if no
        such job is waiting or running."""
        found, withdrawn = self._queue.cancel(job_id)
        if withdrawn is not None:
            log.info("%s job %d withdrawn before it started", withdrawn.kind, job_id)
            if not withdrawn.future.cancelled():
                withdrawn.future.set_exception(
                    Cancelled("The request was withdrawn before it started.")
                )
            self._emit(JobEnded(job_id, Outcome.CANCELLED))
        return found

    def load(self, model: ModelConfig, origin: Origin = Origin.APP) -> Job:
        """Submit a job that loads `model` (reloading when another configuration is loaded)
        and makes it the configuration that later jobs load on demand."""

        def work(ctx: JobContext) -> None:
            self._slot.config = model
            if self._slot.current:
                self._emit(Loaded(ctx.job.job_id, self._slot.status()))
            else:
                ctx.engine()

        return self.submit(Job("load", work, origin, doing="loading the model"))

    def unload(self, reason: str) -> Job:
        """Submit a job that unloads the model (nothing happens when none is loaded)."""
        return self.submit(Job("unload", lambda ctx: self._unload(reason), doing="unloading"))

    def set_idle_minutes(self, minutes: float) -> None:
        """Unload the model after `minutes` without a job; 0 never does."""
        with self._lock:
            self._idle_s = max(0.0, float(minutes)) * 60.0
            self._last_used = self._clock()
        self._queue.wake()

    # -- reading (any thread) ---------------------------------------------------------------

    def status(self) -> RunnerStatus:
        """A snapshot; see RunnerStatus."""
        slot = self._slot
        running, waiting, finished = self._queue.snapshot()
        with self._lock:
            status, state = self._status, self._state
        return RunnerStatus(
            engine=with_card(status),
            state=state,
            running=running,
            waiting=waiting,
            finished=finished,
            capacity=self.capacity,
            load_seconds=slot.load_seconds,
            load_progress=slot.load_progress,
            load_error=slot.load_error,
        )

    def records(self) -> list[JobRecord]:
        """The most recent finished jobs, oldest first."""
        return self._queue.records()

    def wait_finished(self, count: int, timeout: float) -> bool:
        """Block until `count` jobs have ended in all (any outcome); False on timeout."""
        return self._queue.wait_finished(count, timeout)

    def retry_after(self) -> int:
        """Seconds until a place in the queue is likely free."""
        return self._queue.retry_after()

    # -- the runner thread ------------------------------------------------------------------

    def _loop(self) -> None:
        _lower_priority(self._nice)
        self._send_status(self._idle_status(ModelStatus.UNLOADED))
        while True:
            job = self._queue.take(self._tick_s)
            if job is not None:
                self._run(job)
            elif self._queue.stopped:
                break
            else:
                self._idle_tick()
        self._slot.drop()

    def _run(self, job: Job) -> None:
        started = time.monotonic()
        waited = started - job.submitted
        self._emit(JobStarted(job.job_id))
        outcome, result, message = Outcome.DONE, None, ""
        error: BaseException | None = None
        try:
            if not job.future.set_running_or_notify_cancel():
                raise Cancelled("The request was withdrawn before it started.")
            if job.cancel.is_set() or self._stopping.is_set():
                raise Cancelled("Cancelled before it started.")
            result = job.work(JobContext(self, job, self._load_cancel(job)))
        except Cancelled as exc:
            outcome, error = Outcome.CANCELLED, exc
            log.info("Job %d cancelled while %s", job.job_id, job.doing)
        except Exception as exc:
            outcome, error, message = Outcome.FAILED, exc, describe_failure(exc, job.doing)
            if isinstance(exc, EngineError):
                log.warning("Job %d failed while %s: %s", job.job_id, job.doing, exc)
            else:
                log.exception("Job %d failed while %s", job.job_id, job.doing)
        ran = time.monotonic() - started
        log.info(
            "%s job %d %s after %.2f s (waited %.2f s)",
            job.kind,
            job.job_id,
            outcome.value,
            ran,
            waited,
        )
        with self._lock:
            self._last_used = self._clock()
        self._queue.end(job, outcome, waited, ran, str(error or ""))
        if error is None:
            job.future.set_result(result)
        elif not job.future.cancelled():
            job.future.set_exception(error)
        self._emit(JobEnded(job.job_id, outcome, result, message))
        self._set_state(self._slot.state())
        if self._slot.engine is not None:
            self._send_status(self._slot.status())

    def _load_cancel(self, job: Job) -> threading.Event:
        """What stops a load for `job`: its own cancel for the person's jobs; for an API job
        only the runner's stop, since others may be waiting for that load too."""
        return job.cancel if job.origin is Origin.APP else self._stopping

    def _ensure_engine(self, job: Job, cancel: threading.Event) -> SpeechEngine:
        """The engine for `job`, loaded first when needed; see JobContext.engine."""
        slot = self._slot
        if job.cancel.is_set():
            raise Cancelled("Cancelled before loading the model.")
        if slot.current and slot.engine is not None:
            return slot.engine
        if slot.config is None:
            raise EngineError(
                "No model folder is set: choose the CosyVoice3 model folder in Settings."
            )
        self._set_state(RunnerState.LOADING)
        self._send_status(slot.idle_status(ModelStatus.LOADING))

        def progress(fraction: float, message: str) -> None:
            self._emit(LoadProgress(job.job_id, float(fraction), message))

        try:
            engine = slot.load(cancel, progress)
        except Cancelled:
            self._set_state(RunnerState.UNLOADED)
            self._send_status(self._idle_status(ModelStatus.UNLOADED))
            raise
        except BaseException:
            self._set_state(RunnerState.ERROR)
            self._send_status(slot.idle_status(ModelStatus.ERROR))
            raise
        status = slot.status()
        self._send_status(status)
        self._emit(Loaded(job.job_id, status))
        return engine

    def _loaded_engine(self) -> SpeechEngine | None:
        return self._slot.engine

    def _unload(self, reason: str) -> bool:
        if not self._slot.drop():
            return False
        log.info("Unloaded the model: %s", reason)
        self._set_state(RunnerState.UNLOADED)
        self._emit(Unloaded(reason))
        self._send_status(self._idle_status(ModelStatus.UNLOADED))
        return True

    def _idle_tick(self) -> None:
        if self._slot.engine is None:
            return
        with self._lock:
            idle_s, unused = self._idle_s, self._clock() - self._last_used
        if idle_s > 0 and unused >= idle_s:
            minutes = idle_s / 60
            self._unload(f"unused for {minutes:g} minute{'s' if minutes != 1 else ''}")
            return
        self._tick_if_due()

    def _tick_if_due(self) -> None:
        """Report the status when a tick is due (long jobs call this between chunks)."""
        if self._slot.engine is not None and time.monotonic() - self._last_tick >= self._tick_s:
            self._send_status(self._slot.status())

    def _idle_status(self, state: ModelStatus) -> EngineStatus:
        return with_card(self._slot.idle_status(state))

    def _set_state(self, state: RunnerState) -> None:
        with self._lock:
            self._state = state
        self._emit(StateChanged(state))

    def _send_status(self, status: EngineStatus) -> None:
        self._last_tick = time.monotonic()
        with self._lock:
            self._status = status
        self._emit(StatusChanged(status))

    def _emit(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not end a job or the thread
                log.exception("A runner listener failed on %s", type(event).__name__)


def _lower_priority(nice: int) -> None:
    """Give this thread, and the compute threads it starts (torch's, which inherit it), a lower
    CPU priority than the window's: on a machine with few cores, loading and synthesis then
    no longer keep the window from answering (Linux and macOS; elsewhere nothing changes)."""
    if nice <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError) as exc:  # no per-thread priority here, or not allowed
        log.debug("Runner priority unchanged: %s", exc)
