"""The runner's queue: the jobs that wait, in the order they will run, the one that runs, and
how the last ones ended. Thread-safe; the runner's thread takes from it, anyone puts.

The person at the keyboard (`Origin.APP`) goes before API clients (`Origin.API`), in arrival
order within each. At most `capacity` API jobs wait; one more is refused at once with
`QueueFull`, which carries a Retry-After estimate from recent job times. The person's jobs
are never refused.
"""

from __future__ import annotations

import collections
import itertools
import math
import threading
import time

from cosydesk.runner.jobs import (
    Job,
    JobInfo,
    JobRecord,
    Origin,
    Outcome,
    QueueFull,
    QueueStopped,
)

# Seconds a job is assumed to take before any has finished (for Retry-After).
_FIRST_GUESS_S = 3.0
_MAX_RETRY_AFTER_S = 300
_HISTORY = 32


class JobQueue:
    """See the module docstring."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = max(0, int(capacity))
        self._cond = threading.Condition()
        self._waiting: list[Job] = []
        self._running: Job | None = None
        self._records: collections.deque[JobRecord] = collections.deque(maxlen=_HISTORY)
        self._finished = 0
        self._ids = itertools.count(1)
        self._stopped = False

    # -- any thread -------------------------------------------------------------------------

    def put(self, job: Job) -> Job:
        """Queue `job`, setting its id, `submitted` and `behind` (the job running now)."""
        with self._cond:
            if self._stopped:
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
            doing = "speaking" if running.kind == "speech" else "working"
            raise QueueFull(
                wait,
                f"The model is busy {doing} for the person at this computer (in the cosydesk "
                f"app) and {clients} request(s) wait, so the queue is full: try again in about "
                f"{wait} s.",
            )
        raise QueueFull(
            wait,
            f"The model is busy with {clients + 1} request(s) and the queue is full: try again "
            f"in about {wait} s.",
        )

    def cancel(self, job_id: int) -> tuple[bool, Job | None]:
        """Set the job's cancel. (True, the job) when it was waiting: it has left the queue and
        is recorded as cancelled. (True, None) when it runs, (False, None) when unknown."""
        with self._cond:
            running = self._running
            if running is not None and running.job_id == job_id:
                running.cancel.set()
                return True, None
            job = next((j for j in self._waiting if j.job_id == job_id), None)
            if job is None:
                return False, None
            job.cancel.set()
            self._waiting.remove(job)
            self._record_locked(job, Outcome.CANCELLED, time.monotonic() - job.submitted, 0.0, "")
            return True, job

    def stop(self) -> None:
        """Refuse new jobs and cancel every one that waits or runs (they still come out, to
        end as cancelled)."""
        with self._cond:
            self._stopped = True
            for job in self._waiting:
                job.cancel.set()
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify_all()

    def wake(self) -> None:
        """Let a `take` that waits return at once (something else changed)."""
        with self._cond:
            self._cond.notify_all()

    def snapshot(self) -> tuple[JobInfo | None, tuple[JobInfo, ...], int]:
        """(the job that runs, those that wait, how many have ended)."""
        with self._cond:
            running = self._running.info if self._running is not None else None
            return running, tuple(job.info for job in self._waiting), self._finished

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

    # -- the runner's thread ----------------------------------------------------------------

    def take(self, timeout: float) -> Job | None:
        """The next job, now running; None after `timeout` seconds without one, or at once
        once stopped and empty."""
        with self._cond:
            if not self._waiting and not self._stopped:
                self._cond.wait(timeout)
            self._running = self._waiting.pop(0) if self._waiting else None
            return self._running

    @property
    def stopped(self) -> bool:
        return self._stopped

    def end(self, job: Job, outcome: Outcome, waited: float, ran: float, error: str) -> None:
        """Record how the running `job` ended; the next may run."""
        with self._cond:
            self._running = None
            self._record_locked(job, outcome, waited, ran, error)

    def _record_locked(
        self, job: Job, outcome: Outcome, waited: float, ran: float, error: str
    ) -> None:
        record = JobRecord(
            job.job_id, job.kind, job.origin, outcome, waited, ran, dict(job.detail), error
        )
        self._records.append(record)
        self._finished += 1
        self._cond.notify_all()
