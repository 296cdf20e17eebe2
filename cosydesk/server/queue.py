"""The bounded queue in front of the single model, and the one thread that runs its jobs.

The engine is not thread-safe, so every engine call the server makes runs on `ModelQueue`'s
thread, one job at a time. At most `capacity` jobs wait behind the running one; one more is
refused at once with `QueueFull`, which carries a Retry-After estimate from recent job times.
Each job has a `threading.Event`: setting it skips the job if it has not started, or stops
the engine between chunks if it has. `withdraw` also frees a waiting job's place at once, for
a client that went away while it waited.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.server.host import EngineHost

log = logging.getLogger(__name__)

# Seconds a job is assumed to take before any has finished (for Retry-After).
_FIRST_GUESS_S = 3.0
_MAX_RETRY_AFTER_S = 300
_HISTORY = 32


class QueueFull(EngineError):
    """Too many requests wait for the model; `retry_after` is a whole number of seconds."""

    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueStopped(EngineError):
    """The server is shutting down and takes no more work."""


Work = Callable[[Any, "Job"], Any]  # (engine or None, job) -> result


@dataclass
class Job:
    """One unit of model work. `detail` is free for the work to report figures in."""

    kind: str
    work: Work
    load: bool = True
    cancel: threading.Event = field(default_factory=threading.Event)
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    detail: dict[str, Any] = field(default_factory=dict)
    submitted: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class JobRecord:
    """How a job ended: "done", "cancelled" or "failed", and how long it waited and ran."""

    kind: str
    outcome: str
    wait_seconds: float
    run_seconds: float
    detail: dict[str, Any]
    error: str = ""


class ModelQueue:
    """Runs jobs on one thread in arrival order; see the module docstring."""

    def __init__(self, host: EngineHost, capacity: int = 4) -> None:
        self.host = host
        self.capacity = max(0, int(capacity))
        self._cond = threading.Condition()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._records: collections.deque[JobRecord] = collections.deque(maxlen=_HISTORY)
        self._finished = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the model thread (once; later calls do nothing)."""
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="cosydesk-model", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel every job, end the thread; False if a job did not stop within `timeout`."""
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

    # -- submitting -------------------------------------------------------------------------
    def submit(
        self,
        kind: str,
        work: Work,
        *,
        load: bool = True,
        cancel: threading.Event | None = None,
    ) -> Job:
        """Queue `work` to run on the model thread; its result or exception lands in `job.future`.

        Raises QueueFull when `capacity` jobs wait already, QueueStopped after `stop()`.
        """
        job = Job(kind, work, load=load, cancel=cancel or threading.Event())
        with self._cond:
            if self._stopping.is_set():
                raise QueueStopped("The server is shutting down: try again once it is back.")
            busy = self._running is not None or bool(self._waiting)
            if busy and len(self._waiting) >= self.capacity:
                wait = self._retry_after_locked()
                raise QueueFull(
                    wait,
                    f"The model is busy with {len(self._waiting) + 1} request(s) and the queue "
                    f"is full: try again in about {wait} s.",
                )
            self._waiting.append(job)
            self._cond.notify_all()
        return job

    def withdraw(self, job: Job) -> bool:
        """Cancel `job`; if it still waits, take it out of the queue now, so that its place is
        free for the next request (its future fails with Cancelled). True if it was waiting."""
        job.cancel.set()
        with self._cond:
            try:
                self._waiting.remove(job)
            except ValueError:  # running (it stops at its next chunk) or finished
                return False
            waited = time.monotonic() - job.submitted
            self._records.append(JobRecord(job.kind, "cancelled", waited, 0.0, dict(job.detail)))
            self._finished += 1
            self._cond.notify_all()
        log.info("%s job withdrawn after waiting %.2f s", job.kind, waited)
        _settle(job.future, Cancelled("The request was withdrawn before the model reached it."))
        return True

    # -- reading ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Queue figures for /health and the status page."""
        with self._cond:
            return {
                "running": self._running.kind if self._running is not None else None,
                "waiting": len(self._waiting),
                "capacity": self.capacity,
                "finished": self._finished,
            }

    def pending(self) -> list[Job]:
        """The jobs waiting now, first to run first."""
        with self._cond:
            return list(self._waiting)

    def records(self) -> list[JobRecord]:
        """The most recent finished jobs, oldest first."""
        with self._cond:
            return list(self._records)

    def wait_finished(self, count: int, timeout: float) -> bool:
        """Block until `count` jobs have finished in all (any outcome); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._finished >= count, timeout)

    def retry_after(self) -> int:
        """Seconds until a place in the queue is likely free."""
        with self._cond:
            return self._retry_after_locked()

    def _retry_after_locked(self) -> int:
        times = [r.run_seconds for r in self._records if r.outcome == "done"][-8:]
        per_job = sum(times) / len(times) if times else _FIRST_GUESS_S
        ahead = len(self._waiting) + (1 if self._running is not None else 0)
        # A place frees when the running job ends; queued ones are an upper bound, so half.
        estimate = per_job * max(1.0, ahead / 2)
        return max(1, min(_MAX_RETRY_AFTER_S, math.ceil(estimate)))

    # -- the model thread -------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._waiting) or self._stopping.is_set())
                if not self._waiting:
                    return
                job = self._waiting.popleft()
                self._running = job
            record = self._run(job)
            with self._cond:
                self._running = None
                self._records.append(record)
                self._finished += 1
                self._cond.notify_all()

    def _run(self, job: Job) -> JobRecord:
        started = time.monotonic()
        waited = started - job.submitted
        outcome, error = "done", ""
        try:
            if not job.future.set_running_or_notify_cancel():
                raise Cancelled("The request was withdrawn before the model reached it.")
            if job.cancel.is_set() or self._stopping.is_set():
                raise Cancelled("The request was cancelled before the model reached it.")
            # Loading obeys the server's stop, not the client: others may be waiting for it too.
            with self.host.session(load=job.load, cancel=self._stopping) as engine:
                job.detail["load_seconds"] = time.monotonic() - started
                try:
                    result = job.work(engine, job)
                finally:
                    if engine is not None:
                        self.host.refresh(engine)
            job.future.set_result(result)
        except Cancelled as exc:
            outcome = "cancelled"
            _settle(job.future, exc)
        except Exception as exc:
            outcome, error = "failed", str(exc)
            if not isinstance(exc, EngineError):
                log.exception("A %s job failed", job.kind)
            _settle(job.future, exc)
        ran = time.monotonic() - started
        log.info("%s job %s after %.2f s (waited %.2f s)", job.kind, outcome, ran, waited)
        return JobRecord(job.kind, outcome, waited, ran, dict(job.detail), error)


def _settle(future: concurrent.futures.Future[Any], exc: BaseException) -> None:
    """Fail `future` with `exc`, unless its submitter withdrew it (then nobody waits for it)."""
    if not future.cancelled():
        future.set_exception(exc)
