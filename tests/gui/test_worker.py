"""The Qt adapter of the runner: its events become signals that reach the GUI thread, queued,
in the order the runner sent them, one outcome signal per job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot

from cosydesk.engine.errors import Cancelled
from cosydesk.engine.types import EngineOptions
from cosydesk.gui.worker import Worker
from cosydesk.runner import Job, ModelConfig, Runner


class Relay(QObject):
    """The worker's signals re-emitted by a QObject of the test's thread: signal-to-signal
    connections to it are queued there, as the controller's are."""

    started = Signal(int)
    state_changed = Signal(str)
    loaded = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple, bool]] = []
        for name in ("started", "state_changed", "loaded", "finished", "failed", "cancelled"):
            getattr(worker, name).connect(getattr(self, name))
            getattr(self, name).connect(lambda *args, n=name: self._note(n, args))

    def _note(self, name: str, args: tuple) -> None:
        self.seen.append((name, args, threading.current_thread() is threading.main_thread()))


@pytest.fixture
def worker(qtbot: QtBot, library) -> Iterator[Worker]:
    runner = Runner(library, tick_s=0.05)
    worker = Worker(runner)
    runner.start()
    yield worker
    assert runner.stop(20)


def _outcomes(relay: Relay, job_id: int) -> list[tuple[str, tuple]]:
    return [
        (name, args)
        for name, args, _ in relay.seen
        if name in ("finished", "failed", "cancelled") and args[0] == job_id
    ]


def test_each_outcome_is_one_signal_on_the_gui_thread(qtbot: QtBot, worker: Worker) -> None:
    relay = Relay(worker)
    runner = worker.runner

    def fail(ctx) -> None:
        raise OSError(28, "No space left on device", "/full/speech.wav")

    def cancelled(ctx) -> None:
        raise Cancelled("Stopped.")

    jobs = [
        runner.submit(Job("ok", lambda ctx: "result")),
        runner.submit(Job("fail", fail, doing="saving the WAV file")),
        runner.submit(Job("stop", cancelled)),
    ]
    qtbot.waitUntil(lambda: all(_outcomes(relay, job.job_id) for job in jobs), timeout=10000)
    assert [_outcomes(relay, job.job_id) for job in jobs] == [
        [("finished", (jobs[0].job_id, "result"))],
        [
            (
                "failed",
                (
                    jobs[1].job_id,
                    "A file could not be read or written while saving the WAV file "
                    "(/full/speech.wav): No space left on device.",
                ),
            )
        ],
        [("cancelled", (jobs[2].job_id,))],
    ]
    assert all(on_main for _name, _args, on_main in relay.seen)
    # Each job's start comes before its outcome.
    order = [(name, args[0]) for name, args, _ in relay.seen if name != "state_changed"]
    for job in jobs:
        assert order.index(("started", job.job_id)) < order.index(
            next(o for o in order if o[1] == job.job_id and o[0] != "started")
        )


def test_a_failed_load_says_error_before_its_sentence(
    qtbot: QtBot, worker: Worker, tmp_path: Path
) -> None:
    relay = Relay(worker)
    job = worker.runner.load(ModelConfig(tmp_path, EngineOptions(device="cpu")))
    with qtbot.waitSignal(relay.failed, timeout=60000):
        pass
    seen = [(name, args) for name, args, _ in relay.seen]
    failed = next(n for n, (name, _args) in enumerate(seen) if name == "failed")
    assert seen[failed][1][0] == job.job_id and "cosyvoice3.yaml" in seen[failed][1][1]
    # The controller shows the sentence under the error state: "error" must come first.
    assert ("state_changed", ("error",)) in seen[:failed]
