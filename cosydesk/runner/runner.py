"""The runner: one plain Python thread that owns the engine and runs every job that uses it.

The engine is not thread-safe, so the app and the speech API both hand their work to one
`Runner`. Jobs wait in one queue, the person at the keyboard (`Origin.APP`) before API clients
(`Origin.API`), in arrival order within each; a running job is never interrupted by another,
only by its own cancel. At most `capacity` API jobs wait; one more is refused at once with
`QueueFull`, which carries a Retry-After estimate from recent job times.

Every job ends in exactly one outcome (done, failed with a sentence, cancelled), told by a
`JobEnded` event and by the job's future. Loading, unloading and switching the model's
configuration are jobs too; a job that needs the model loads it on demand. While idle, the
thread reports the engine's status about once a `tick_s` and unloads the model after the idle
minutes. Any thread may read `status()`, a snapshot with the card's memory read afresh.

The thread runs at a lower CPU priority (`nice`), which the compute threads torch starts from
it inherit: on a machine with few cores the window (or the HTTP loop) is then served first.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.engine.types import EngineStatus
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
    QueueFull,
    QueueStopped,
    describe_failure,
)
from cosydesk.runner.model import EngineFactory, ModelConfig, ModelSlot, load_engine, with_card

log = logging.getLogger(__name__)

# Seconds a job is assumed to take before any has finished (for Retry-After).
_FIRST_GUESS_S = 3.0
_MAX_RETRY_AFTER_S = 300
_HISTORY = 32


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
        library: Any = None,
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
        self.capacity = max(0, int(capacity))
        self.name = name
        self._slot = ModelSlot(factory, library, model)
        self._tick_s = tick_s
        self._clock = clock
        self._nice = nice
        self._cond = threading.Condition()
        self._waiting: list[Job] = []  # in the order they will run
        self._running: Job | None = None
        self._records: collections.deque[JobRecord] = collections.deque(maxlen=_HISTORY)
        self._finished = 0
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: tuple[Listener, ...] = ()
        self._idle_s = 0.0
        self._last_used = clock()
        self._last_tick = 0.0
        self._state = RunnerState.UNLOADED
        self._status = self._slot.idle_status("unloaded")

    # -- life cycle (any thread) ------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(event)` for every event from now on (on the runner's thread)."""
        with self._cond:
            self._listeners = (*self._listeners, listener)

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel every job, unload the model and end the thread; False (and a log line) if a
        job did not stop within `timeout` seconds."""
        with self._cond:
            self._stopping.set()
            for job in self._waiting:
                job.cancel.set()
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("The model thread did not stop within %.1f s", timeout)
            return False
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- jobs (any thread) ------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        """Queue `job`; returns it with its id and `behind` set. Its outcome comes as a
        `JobEnded` event and in `job.future`. Raises QueueFull when `capacity` API jobs wait
        already (only for API jobs), QueueStopped after `stop()`."""
        with self._cond:
            if self._stopping.is_set():
                raise QueueStopped("cosydesk is shutting down: try again once it is back.")
            if job.origin is Origin.API:
                self._refuse_if_full()
            job.job_id = next(self._ids)
            job.submitted = time.monotonic()
            job.behind = self._running.info if self._running is not None else None
            place = sum(1 for waiting in self._waiting if waiting.origin <= job.origin)
            self._waiting.insert(place, job)
            self._cond.notify_all()
        return job

    def _refuse_if_full(self) -> None:
        clients = sum(1 for job in self._waiting if job.origin is Origin.API)
        busy = self._running is not None or bool(self._waiting)
        if not busy or clients < self.capacity:
            return
        wait = self._retry_after_locked()
        running = self._running
        if running is not None and running.origin is Origin.APP:
            doing = (
                "speaking for the person at this computer"
                if running.kind == "speech"
                else ("working for the person at this computer")
            )
            raise QueueFull(
                wait,
                f"The model is busy {doing} (in the cosydesk app) and {clients} request(s) "
                f"wait, so the queue is full: try again in about {wait} s.",
            )
        raise QueueFull(
            wait,
            f"The model is busy with {clients + 1} request(s) and the queue is full: try again "
            f"in about {wait} s.",
        )

    def cancel(self, job_id: int) -> bool:
        """Cancel the job: a waiting one leaves the queue at once (its place is free, its
        outcome is "cancelled" at once), a running one stops at its next chunk. False if no
        such job is waiting or running."""
        with self._cond:
            running = self._running
            if running is not None and running.job_id == job_id:
                running.cancel.set()
                return True
            job = next((j for j in self._waiting if j.job_id == job_id), None)
            if job is None:
                return False
            job.cancel.set()
            self._waiting.remove(job)
            waited = time.monotonic() - job.submitted
            self._record_locked(job, Outcome.CANCELLED, waited, 0.0, "")
        log.info("%s job %d withdrawn after waiting %.2f s", job.kind, job.job_id, waited)
        if not job.future.cancelled():
            job.future.set_exception(Cancelled("The request was withdrawn before it started."))
        self._emit(JobEnded(job.job_id, Outcome.CANCELLED))
        return True

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
        with self._cond:
            self._idle_s = max(0.0, float(minutes)) * 60.0
            self._last_used = self._clock()
            self._cond.notify_all()

    # -- reading (any thread) ---------------------------------------------------------------

    def status(self) -> RunnerStatus:
        """A snapshot; see RunnerStatus."""
        slot = self._slot
        with self._cond:
            running = self._running.info if self._running is not None else None
            waiting = tuple(job.info for job in self._waiting)
            finished, status, state = self._finished, self._status, self._state
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
        with self._cond:
            return list(self._records)

    def wait_finished(self, count: int, timeout: float) -> bool:
        """Block until `count` jobs have ended in all (any outcome); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._finished >= count, timeout)

    def retry_after(self) -> int:
        """Seconds until a place in the queue is likely free."""
        with self._cond:
            return self._retry_after_locked()

    def _retry_after_locked(self) -> int:
        times = [r.run_seconds for r in self._records if r.outcome is Outcome.DONE][-8:]
        per_job = sum(times) / len(times) if times else _FIRST_GUESS_S
        ahead = len(self._waiting) + (1 if self._running is not None else 0)
        # A place frees when the running job ends; queued ones are an upper bound, so half.
        estimate = per_job * max(1.0, ahead / 2)
        return max(1, min(_MAX_RETRY_AFTER_S, math.ceil(estimate)))

    # -- the runner thread ------------------------------------------------------------------

    def _loop(self) -> None:
        _lower_priority(self._nice)
        self._send_status(self._idle_status(RunnerState.UNLOADED))
        while True:
            with self._cond:
                if not self._waiting and not self._stopping.is_set():
                    self._cond.wait(self._tick_s)
                job = self._waiting.pop(0) if self._waiting else None
                self._running = job
            if job is not None:
                self._run(job)
            elif self._stopping.is_set():
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
            # An API client's cancel does not stop a load: others may be waiting for it too.
            load_cancel = job.cancel if job.origin is Origin.APP else self._stopping
            result = job.work(JobContext(self, job, load_cancel))
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
        with self._cond:
            self._running = None
            self._last_used = self._clock()
            self._record_locked(job, outcome, waited, ran, str(error or ""))
        if error is None:
            job.future.set_result(result)
        elif not job.future.cancelled():
            job.future.set_exception(error)
        self._emit(JobEnded(job.job_id, outcome, result, message))
        self._set_state(self._slot.state())
        if self._slot.engine is not None:
            self._send_status(self._slot.status())

    def _record_locked(
        self, job: Job, outcome: Outcome, waited: float, ran: float, error: str
    ) -> None:
        self._records.append(
            JobRecord(
                job.job_id, job.kind, job.origin, outcome, waited, ran, dict(job.detail), error
            )
        )
        self._finished += 1
        self._cond.notify_all()

    def _ensure_engine(self, job: Job, cancel: threading.Event) -> Any:
        """The engine for `job`, loaded first when needed; see JobContext.engine."""
        slot = self._slot
        if job.cancel.is_set():
            raise Cancelled("Cancelled before loading the model.")
        if slot.current:
            return slot.engine
        if slot.config is None:
            raise EngineError(
                "No model folder is set: choose the CosyVoice3 model folder in Settings."
            )
        self._set_state(RunnerState.LOADING)
        self._send_status(slot.idle_status("loading"))

        def progress(fraction: float, message: str) -> None:
            self._emit(LoadProgress(job.job_id, float(fraction), message))

        try:
            engine = slot.load(cancel, progress)
        except Cancelled:
            self._set_state(RunnerState.UNLOADED)
            self._send_status(self._idle_status(RunnerState.UNLOADED))
            raise
        except BaseException:
            self._set_state(RunnerState.ERROR)
            self._send_status(slot.idle_status("error"))
            raise
        status = slot.status()
        self._send_status(status)
        self._emit(Loaded(job.job_id, status))
        return engine

    def _loaded_engine(self) -> Any:
        return self._slot.engine

    def _unload(self, reason: str) -> bool:
        if not self._slot.drop():
            return False
        log.info("Unloaded the model: %s", reason)
        self._set_state(RunnerState.UNLOADED)
        self._emit(Unloaded(reason))
        self._send_status(self._idle_status(RunnerState.UNLOADED))
        return True

    def _idle_tick(self) -> None:
        if self._slot.engine is None:
            return
        with self._cond:
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

    def _idle_status(self, state: RunnerState) -> EngineStatus:
        return with_card(self._slot.idle_status(state.value))

    def _set_state(self, state: RunnerState) -> None:
        with self._cond:
            self._state = state
        self._emit(StateChanged(state))

    def _send_status(self, status: EngineStatus) -> None:
        self._last_tick = time.monotonic()
        with self._cond:
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
