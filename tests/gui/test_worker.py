"""The worker on its own thread: load, speak, save, cancel, fail, unload - with the real engine
on a tiny random model folder, and without any engine where the engine is not the point."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from pytestqt.qtbot import QtBot

from cosydesk.engine.errors import Cancelled
from cosydesk.engine.types import EngineOptions
from cosydesk.gui.jobs import LoadJob, SpeechJob, VoiceJob, load_engine
from cosydesk.gui.worker import Worker, start_worker, stop_worker
from tests.gui.conftest import write_clip

REPO = Path(__file__).resolve().parents[2]
CPU = EngineOptions(device="cpu", quantization="none")
LONG_TEXT = " ".join(f"This is sentence number {n} of a long narration." for n in range(1, 9))


class Relay(QObject):
    """The worker's results re-emitted on the test's thread.

    Worker signals come from the worker's thread; a plain callable connected to them (as
    qtbot.waitSignal connects) runs there too, and would stop qtbot's timers from the wrong
    thread. Signal-to-signal connections to this QObject are queued to the main thread.
    """

    state_changed = Signal(str)
    loaded = Signal(int, object)
    unloaded = Signal(str)
    status_changed = Signal(object)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        for name in (
            "state_changed",
            "loaded",
            "unloaded",
            "status_changed",
            "finished",
            "failed",
            "cancelled",
        ):
            getattr(worker, name).connect(getattr(self, name))


def main(worker: Worker) -> Relay:
    """The worker's relay to the main thread (made once per worker)."""
    relay = getattr(worker, "relay", None)
    if relay is None:
        relay = worker.relay = Relay(worker)  # type: ignore[attr-defined]
    return relay


class Clock:
    """A monotonic clock the test moves by hand (for the idle unload)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def workers(qtbot: QtBot, library) -> Iterator:
    started: list[tuple[Worker, object]] = []

    def start(factory=load_engine, **kwargs) -> Worker:
        worker = Worker(library, factory, tick_ms=kwargs.pop("tick_ms", 50), **kwargs)
        started.append((worker, start_worker(worker)))
        return worker

    yield start
    for worker, thread in started:
        assert stop_worker(worker, thread, 20000)  # type: ignore[arg-type]


def _outcome(qtbot: QtBot, worker: Worker, job_id: int, emit, timeout: int = 60000) -> str:
    """Emit a request and wait for its one outcome: "finished", "failed: ..." or "cancelled"."""
    seen: list[str] = []
    relay = main(worker)
    relay.finished.connect(lambda j, _r: seen.append("finished") if j == job_id else None)
    relay.failed.connect(lambda j, m: seen.append(f"failed: {m}") if j == job_id else None)
    relay.cancelled.connect(lambda j: seen.append("cancelled") if j == job_id else None)
    emit()
    qtbot.waitUntil(lambda: bool(seen), timeout=timeout)
    return seen[0]


# -- without an engine ------------------------------------------------------------------------


def test_speaking_without_a_model_folder_fails_with_a_sentence(qtbot: QtBot, workers) -> None:
    worker = workers()
    job = SpeechJob(1, "Hello.", None)
    outcome = _outcome(qtbot, worker, 1, lambda: worker.speak_requested.emit(job))
    assert outcome.startswith("failed: No model folder is set")
    assert "Settings" in outcome


def test_an_unexpected_error_is_logged_with_its_traceback_and_told_as_a_sentence(
    qtbot: QtBot, workers, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    def broken_factory(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    worker = workers(broken_factory)
    job = LoadJob(7, tmp_path, CPU)
    with caplog.at_level(logging.ERROR, logger="cosydesk.gui.worker"):
        outcome = _outcome(qtbot, worker, 7, lambda: worker.load_requested.emit(job))
    assert outcome.startswith("failed: Something went wrong while loading the model")
    assert "the disk caught fire" in outcome and "log file" in outcome
    assert "Traceback" not in outcome
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].exc_info[0] is RuntimeError


def test_a_job_cancelled_before_it_starts_never_runs(qtbot: QtBot, workers, tmp_path) -> None:
    calls = []
    worker = workers(lambda *a, **k: calls.append(a))
    job = LoadJob(3, tmp_path, CPU)
    job.cancel.set()
    assert _outcome(qtbot, worker, 3, lambda: worker.load_requested.emit(job)) == "cancelled"
    assert calls == []


def test_a_cancelled_load_is_reported_as_cancelled_not_as_an_error(
    qtbot: QtBot, workers, tmp_path
) -> None:
    def factory(*args, cancel, **kwargs):
        raise Cancelled("Loading was cancelled.")

    worker = workers(factory)
    with qtbot.waitSignal(main(worker).state_changed, check_params_cb=lambda s: s == "unloaded"):
        outcome = _outcome(
            qtbot, worker, 4, lambda: worker.load_requested.emit(LoadJob(4, tmp_path, CPU))
        )
    assert outcome == "cancelled"


# -- with the real engine on a tiny model -----------------------------------------------------


def test_a_bad_model_folder_fails_with_the_folder_check_sentence(
    qtbot: QtBot, workers, tmp_path: Path, tiny_model: Path
) -> None:
    worker = workers()
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    job = LoadJob(2, empty, CPU)
    with qtbot.waitSignal(main(worker).state_changed, check_params_cb=lambda s: s == "error"):
        outcome = _outcome(qtbot, worker, 2, lambda: worker.load_requested.emit(job))
    assert outcome.startswith("failed: ")
    assert "cosyvoice3.yaml" in outcome and str(empty) in outcome


@pytest.fixture(scope="module")
def shared(qapp, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """One worker with the tiny model loaded on the CPU and a voice "Tester", for the tests
    that leave it as they found it (loading takes most of a test's time on two cores)."""
    from cosydesk.engine.voices import VoiceLibrary

    root = tmp_path_factory.mktemp("shared-worker")
    library = VoiceLibrary(root / "voices")
    library.add("Tester", write_clip(root / "voice.wav"), "A short test clip.")
    worker = Worker(library, tick_ms=50)
    thread = start_worker(worker)
    progress: list[float] = []
    worker.load_progress.connect(lambda _j, fraction, _m: progress.append(fraction))
    # qtbot is per test; a bare event loop waits here (QSignalSpy.wait would hold the GIL).
    loop, statuses = QEventLoop(), []
    main(worker).loaded.connect(lambda _j, status: (statuses.append(status), loop.quit()))
    main(worker).failed.connect(lambda _j, message: (statuses.append(message), loop.quit()))
    QTimer.singleShot(120000, loop.quit)
    worker.load_requested.emit(LoadJob(1, tiny_model, CPU))
    loop.exec()
    assert statuses and not isinstance(statuses[0], str), f"no model: {statuses}"
    worker.load_fractions = progress  # type: ignore[attr-defined]
    worker.load_status = statuses[0]  # type: ignore[attr-defined]
    yield worker
    assert stop_worker(worker, thread, 20000)


@pytest.fixture
def loaded(shared: Worker) -> Iterator[Worker]:
    """The shared worker; connections a test makes to it are undone afterwards."""
    yield shared
    relay = main(shared)
    for signal in (
        shared.chunk_ready,
        shared.progress,
        relay.finished,
        relay.failed,
        relay.cancelled,
        relay.status_changed,
    ):
        with warnings.catch_warnings(), contextlib.suppress(RuntimeError):
            warnings.simplefilter("ignore", RuntimeWarning)  # "nothing to disconnect"
            signal.disconnect()


@pytest.fixture
def own(qtbot: QtBot, workers, library, tiny_model: Path, tmp_path: Path) -> Worker:
    """A worker of the test's own with the tiny model loaded, for tests that change its state."""
    library.add("Tester", write_clip(tmp_path / "voice.wav"), "A short test clip.")
    worker = workers()
    with qtbot.waitSignal(main(worker).loaded, timeout=120000):
        worker.load_requested.emit(LoadJob(1, tiny_model, CPU))
    return worker


def test_loading_reports_progress_then_a_cpu_status(qtbot: QtBot, loaded: Worker) -> None:
    fractions = loaded.load_fractions  # type: ignore[attr-defined]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3
    status = loaded.load_status  # type: ignore[attr-defined]
    assert (status.status, status.device, status.quantization) == ("ok", "cpu", "none")
    # The status keeps coming about once a tick while idle.
    with qtbot.waitSignal(main(loaded).status_changed, timeout=5000) as blocker:
        pass
    assert blocker.args[0].status == "ok"


def test_speech_streams_float_chunks_then_finishes(qtbot: QtBot, loaded: Worker) -> None:
    chunks: list[np.ndarray] = []
    progress: list[tuple[int, int]] = []
    loaded.chunk_ready.connect(lambda j, c: chunks.append(c))
    loaded.progress.connect(lambda j, d, t: progress.append((d, t)))
    job = SpeechJob(5, "Hello there. How are you today?", "Tester")
    outcome = _outcome(qtbot, loaded, 5, lambda: loaded.speak_requested.emit(job))
    assert outcome == "finished"
    assert chunks and all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    audio = np.concatenate(chunks)
    assert audio.size > 0 and np.isfinite(audio).all()
    total = progress[-1][1]
    assert progress[-1] == (total, total) and total >= 1


def test_stop_during_speech_cancels_between_chunks(qtbot: QtBot, loaded: Worker) -> None:
    job = SpeechJob(6, LONG_TEXT, "Tester")
    chunks = []
    # Runs on the worker's thread at the first chunk: the person pressed Stop just then.
    loaded.chunk_ready.connect(lambda j, c: job.cancel.set(), Qt.ConnectionType.DirectConnection)
    loaded.chunk_ready.connect(lambda j, c: chunks.append(c))
    assert _outcome(qtbot, loaded, 6, lambda: loaded.speak_requested.emit(job)) == "cancelled"
    assert len(chunks) == 1


def test_save_writes_a_24_khz_wav_and_nothing_else(
    qtbot: QtBot, loaded: Worker, tmp_path: Path
) -> None:
    import soundfile

    out = tmp_path / "saved" / "speech.wav"
    out.parent.mkdir()
    job = SpeechJob(8, "Save this sentence. And this one.", "Tester", path=out)
    assert _outcome(qtbot, loaded, 8, lambda: loaded.speak_requested.emit(job)) == "finished"
    info = soundfile.info(out)
    assert (info.samplerate, info.channels) == (24000, 1) and info.frames > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["speech.wav"]


def test_a_cancelled_save_leaves_no_file(qtbot: QtBot, loaded: Worker, tmp_path: Path) -> None:
    out = tmp_path / "cancelled.wav"
    job = SpeechJob(9, LONG_TEXT, "Tester", path=out)
    loaded.progress.connect(lambda *a: job.cancel.set(), Qt.ConnectionType.DirectConnection)
    assert _outcome(qtbot, loaded, 9, lambda: loaded.speak_requested.emit(job)) == "cancelled"
    assert list(tmp_path.glob("*cancelled*")) == []


def test_save_does_not_replace_a_file_unless_asked(
    qtbot: QtBot, loaded: Worker, tmp_path: Path
) -> None:
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    job = SpeechJob(10, "Hello.", "Tester", path=out, overwrite=False)
    outcome = _outcome(qtbot, loaded, 10, lambda: loaded.speak_requested.emit(job))
    assert outcome.startswith("failed: ") and "already exists" in outcome
    assert out.read_bytes() == b"precious"


def test_adding_a_voice_prepares_it_with_the_model(
    qtbot: QtBot, loaded: Worker, library, tmp_path: Path
) -> None:
    job = VoiceJob(11, "Second", write_clip(tmp_path / "second.wav", freq=180), "Second clip.")
    results = []
    loaded.finished.connect(lambda j, r: results.append(r) if j == 11 else None)
    assert _outcome(qtbot, loaded, 11, lambda: loaded.add_voice_requested.emit(job)) == "finished"
    assert results[0].name == "Second"
    assert list(results[0].folder.glob("features-*.npz")), "prompt features were not cached"


def test_a_bad_clip_is_refused_with_the_library_sentence(
    qtbot: QtBot, loaded: Worker, tmp_path: Path
) -> None:
    long_clip = write_clip(tmp_path / "long.wav", seconds=31)
    job = VoiceJob(12, "Too long", long_clip, "Far too long.")
    outcome = _outcome(qtbot, loaded, 12, lambda: loaded.add_voice_requested.emit(job))
    assert outcome.startswith("failed: ") and "30 s" in outcome


def test_switching_quantisation_reloads_the_model(
    qtbot: QtBot, own: Worker, tiny_model: Path
) -> None:
    eight = EngineOptions(device="cpu", quantization="8bit")
    with qtbot.waitSignal(main(own).loaded, timeout=120000) as blocker:
        own.load_requested.emit(LoadJob(13, tiny_model, eight))
    status = blocker.args[1]
    assert status.quantization_requested == "8bit"
    # bitsandbytes quantises on the CPU too; where it cannot, the status must say why.
    assert status.quantization == "8bit" or status.quantization_note


def test_the_model_unloads_after_the_idle_minutes(qtbot: QtBot, workers, tiny_model: Path) -> None:
    clock = Clock()
    worker = workers(clock=clock)
    # "ready" comes once the job is over, when the idle time starts counting.
    ready = main(worker).state_changed
    with qtbot.waitSignal(ready, timeout=120000, check_params_cb=lambda s: s == "ready"):
        worker.idle_minutes_requested.emit(2.0)
        worker.load_requested.emit(LoadJob(1, tiny_model, CPU))
    clock.now += 119  # not yet
    with qtbot.waitSignal(main(worker).status_changed, timeout=5000) as blocker:
        pass
    assert blocker.args[0].status == "ok"
    clock.now += 2
    with qtbot.waitSignal(main(worker).unloaded, timeout=5000) as blocker:
        pass
    assert blocker.args == ["unused for 2 minutes"]


def test_unload_frees_the_model_and_a_later_speech_loads_it_again(
    qtbot: QtBot, own: Worker
) -> None:
    statuses = []
    main(own).status_changed.connect(lambda status: statuses.append(status.status))
    with qtbot.waitSignal(main(own).unloaded) as blocker:
        own.unload_requested.emit("asked by the test")
    assert blocker.args == ["asked by the test"]
    qtbot.waitUntil(lambda: "unloaded" in statuses)
    job = SpeechJob(14, "Back again.", "Tester")
    with qtbot.waitSignal(main(own).loaded, timeout=120000):
        outcome = _outcome(qtbot, own, 14, lambda: own.speak_requested.emit(job))
    assert outcome == "finished"


def test_stopping_the_worker_during_a_job_finishes_quickly(
    qtbot: QtBot, library, tiny_model: Path
) -> None:
    started = threading.Event()

    def factory(model_dir, options, *, progress, cancel):
        started.set()
        return load_engine(model_dir, options, progress=progress, cancel=cancel)

    worker = Worker(library, factory)
    thread = start_worker(worker)
    job = LoadJob(1, tiny_model, CPU)
    worker.load_requested.emit(job)
    qtbot.waitUntil(started.is_set)
    job.cancel.set()  # what the controller does at shutdown
    assert stop_worker(worker, thread, 20000)


# The worker's thread imports native extensions in whatever order the person's actions ask
# for. kaldifst (wetext) in one request and onnxruntime in a later one killed the process with
# SIGSEGV: each Python slot on a QThread used to run under a new Python thread state. Run in a
# fresh interpreter, since an earlier import on the main thread would hide the crash.
IMPORT_ORDER_SCRIPT = """
import sys
from PySide6.QtCore import QCoreApplication, QTimer
from cosydesk.engine.types import EngineOptions
from cosydesk.gui.jobs import LoadJob
from cosydesk.gui.worker import Worker, start_worker, stop_worker

MODULES = sys.argv[1:]
assert not any(name in sys.modules for name in MODULES)
imported = []

def factory(model_dir, options, *, progress=None, cancel=None):
    name = MODULES[len(imported)]
    __import__(name)
    imported.append(name)
    raise RuntimeError("no engine wanted")

app = QCoreApplication([])
worker = Worker(None, factory)
thread = start_worker(worker)
outcomes = []
def done(job_id, *rest):
    outcomes.append(job_id)
    if len(outcomes) == len(MODULES):
        QTimer.singleShot(0, app.quit)
worker.failed.connect(done)
for n, _ in enumerate(MODULES):
    worker.load_requested.emit(LoadJob(n + 1, "/nowhere", EngineOptions(device="cpu")))
app.exec()
assert stop_worker(worker, thread, 5000)
print("imported", " ".join(imported))
"""


@pytest.mark.parametrize("order", [("kaldifst", "onnxruntime"), ("onnxruntime", "kaldifst")])
def test_native_modules_imported_on_the_worker_thread_in_any_order(
    order: tuple[str, str], tmp_path: Path
) -> None:
    for name in order:
        pytest.importorskip(name)
    script = tmp_path / "imports.py"
    script.write_text(IMPORT_ORDER_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), *order],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split() == ["imported", *order]
