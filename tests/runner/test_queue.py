"""The runner's queue: the person before API clients, cancel by job id (a waiting job leaves
at once), refusals when full that say when the app is speaking, and a stop."""

from __future__ import annotations

import threading

import pytest

from cosydesk.engine.errors import Cancelled
from cosydesk.runner import Job, Origin, Outcome, QueueFull, QueueStopped, Speech, speech_job
from tests.runner.conftest import ListSink, gate


def probe(kind: str, ran: list[str], origin: Origin = Origin.API) -> Job:
    """A job that notes its kind in `ran` when it runs."""
    return Job(kind, lambda ctx: ran.append(kind), origin)


def test_the_person_goes_before_waiting_api_requests(runners) -> None:
    runner = runners()
    held, release = gate(runner)
    ran: list[str] = []
    first, second = runner.submit(probe("api 1", ran)), runner.submit(probe("api 2", ran))
    person = runner.submit(probe("person", ran, Origin.APP))
    # The person's request waits only for the request that runs, and says so.
    assert person.behind is not None and person.behind.origin is Origin.API
    assert [j.job_id for j in runner.status().waiting] == [
        person.job_id,
        first.job_id,
        second.job_id,
    ]
    release.set()
    second.future.result(30)
    assert ran == ["person", "api 1", "api 2"]
    assert held.future.result(30) is None


def test_a_waiting_job_cancelled_by_id_leaves_at_once_and_never_runs(runners) -> None:
    runner = runners()
    _held, release = gate(runner)
    ran: list[str] = []
    job = runner.submit(probe("late", ran))
    assert runner.cancel(job.job_id)
    # Its outcome comes now, not once the job that runs has finished.
    assert runner.heard.outcome(job).outcome is Outcome.CANCELLED  # type: ignore[attr-defined]
    assert runner.status().waiting == ()
    release.set()
    assert runner.wait_finished(2, 30)
    assert ran == [] and not runner.cancel(job.job_id)


def test_api_requests_beyond_the_capacity_are_refused_the_person_never(runners) -> None:
    runner = runners(capacity=1)
    _held, release = gate(runner)
    runner.submit(Job("api", lambda ctx: None, Origin.API))
    with pytest.raises(QueueFull, match="the queue is full: try again in about") as refused:
        runner.submit(Job("api", lambda ctx: None, Origin.API))
    assert refused.value.retry_after >= 1
    people = [runner.submit(Job("person", lambda ctx: None)) for _ in range(3)]
    release.set()
    for job in people:
        job.future.result(30)


def test_a_full_queue_says_when_the_app_is_speaking(runners, library) -> None:
    runner = runners(capacity=0)
    speaking = threading.Event()
    job = speech_job(library, Speech("Hello."), ListSink())
    job.work = lambda ctx: speaking.set() or ctx.cancel.wait(30)
    runner.submit(job)
    assert speaking.wait(30)
    with pytest.raises(QueueFull, match="busy speaking for the person at this computer"):
        runner.submit(Job("api", lambda ctx: None, Origin.API))
    runner.cancel(job.job_id)


def test_stop_cancels_what_runs_and_waits_and_refuses_more(runners) -> None:
    runner = runners()
    held, _release = gate(runner)
    late = runner.submit(Job("late", lambda ctx: None))
    assert runner.stop(30)
    for job in (held, late):
        with pytest.raises(Cancelled):
            job.future.result(30)
    with pytest.raises(QueueStopped, match="shutting down"):
        runner.submit(Job("after", lambda ctx: None))
