"""Fixtures for the runner tests: runners on their real threads (always stopped), one with the
tiny model loaded on the CPU and a voice, and helpers that wait for a job's one outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cosydesk.engine.types import EngineOptions
from cosydesk.runner import Job, JobContext, ModelConfig, Origin, Runner
from cosydesk.runner.events import Event, JobEnded
from tests.helpers import write_clip

CPU = EngineOptions(device="cpu", quantization="none")
LONG_TEXT = " ".join(f"This is sentence number {n} of a long narration." for n in range(1, 9))


class Heard:
    """Every event a runner sent, in order, from its thread; waits for a job's outcome."""

    def __init__(self, runner: Runner) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        runner.subscribe(self._hear)

    def _hear(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, test: Callable[[Event], bool], timeout: float = 60, since: int = 0) -> Event:
        """The first event from the `since`-th on that passes `test`, waiting up to `timeout`
        seconds for it."""
        with self._cond:
            found: list[Event] = []

            def seen() -> bool:
                found[:] = [e for e in self.events[since:] if test(e)][:1]
                return bool(found)

            assert self._cond.wait_for(seen, timeout), "the event never came"
            return found[0]

    def outcome(self, job: Job, timeout: float = 120) -> JobEnded:
        """The job's one JobEnded event (waiting for it)."""
        ended = self.wait_for(lambda e: isinstance(e, JobEnded) and e.job_id == job.job_id, timeout)
        assert isinstance(ended, JobEnded)
        return ended


class ListSink:
    """A sound sink that keeps what it is fed; `on_feed(chunk)` runs on the runner's thread."""

    def __init__(self, on_feed: Callable[[np.ndarray], None] | None = None) -> None:
        self.chunks: list[np.ndarray] = []
        self.finished = False
        self.on_feed = on_feed

    def feed(self, chunk: np.ndarray) -> None:
        self.chunks.append(chunk)
        if self.on_feed is not None:
            self.on_feed(chunk)

    def finish(self) -> None:
        self.finished = True


def gate(
    runner: Runner, origin: Origin = Origin.API, kind: str = "gate"
) -> tuple[Job, threading.Event]:
    """Occupy the runner's thread with a `kind` job of `origin` until the returned event is
    set (or the job is cancelled)."""
    entered, release = threading.Event(), threading.Event()

    def hold(ctx: JobContext) -> None:
        entered.set()
        while not release.wait(0.02):
            ctx.check()  # a cancel (or the runner's stop) ends it too

    job = runner.submit(Job(kind, hold, origin))
    assert entered.wait(30), "the gate job never started"
    return job, release


def on_runner(runner: Runner, fn: Callable[[Any], Any], timeout: float = 120) -> Any:
    """`fn(engine)` run on the runner's thread, as a job (loading the model if needed)."""
    job = runner.submit(Job("probe", lambda ctx: fn(ctx.engine())))
    return job.future.result(timeout)


@pytest.fixture
def library(tmp_path: Path) -> Any:
    """An empty voice library of the test's own."""
    from cosydesk.engine.voices import VoiceLibrary

    return VoiceLibrary(tmp_path / "voices")


@pytest.fixture
def runners(library) -> Iterator[Callable[..., Runner]]:
    """Starts Runners (`runners(factory=..., **kwargs)`) and stops every one after the test."""
    made: list[Runner] = []

    def make(**kwargs: Any) -> Runner:
        kwargs.setdefault("tick_s", 0.05)
        runner = Runner(kwargs.pop("library", library), **kwargs)
        runner.heard = Heard(runner)  # type: ignore[attr-defined]
        made.append(runner)
        runner.start()
        return runner

    yield make
    for runner in made:
        assert runner.stop(30), "the runner's thread did not stop"


@pytest.fixture(scope="module")
def shared(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """One runner with the tiny model loaded on the CPU and a voice "Tester", for the tests
    that leave it as they found it (loading takes most of a test's time on two cores)."""
    from cosydesk.engine.voices import VoiceLibrary

    root = tmp_path_factory.mktemp("shared-runner")
    library = VoiceLibrary(root / "voices")
    library.add("Tester", write_clip(root / "voice.wav"), "A short test clip.")
    runner = Runner(library, tick_s=0.05)
    runner.heard = Heard(runner)  # type: ignore[attr-defined]
    runner.start()
    load = runner.load(ModelConfig(tiny_model, CPU))
    load.future.result(120)
    runner.load_job = load  # type: ignore[attr-defined]
    yield runner
    assert runner.stop(30)
