"""The worker: one long-lived QObject, moved to one QThread, that owns the engine.

Requests arrive as queued signals (`load_requested`, `speak_requested`, ...) that carry a job
record with its id and its `threading.Event` for cancellation; the caller keeps the event and sets
it to cancel, so a job cancelled before the worker reaches it never starts. Results, progress and
errors leave as signals that carry the job id. Every exception is caught here, logged with its
traceback and turned into `failed(job_id, sentence)`; cancellation has its own `cancelled(job_id)`.

The worker never touches a widget. Heavy modules (torch, the engine) are imported only on this
thread, when the first load runs, so the tray icon appears without waiting for them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.engine.types import EngineOptions, EngineStatus
from cosydesk.gui.jobs import (
    EngineFactory,
    LoadJob,
    SpeechJob,
    VoiceJob,
    describe_failure,
    load_engine,
)
from cosydesk.gui.thread_state import PinnedThreadState

log = logging.getLogger(__name__)

# Niceness of the worker thread: the window's thread keeps 0, so it is served first.
WORKER_NICE = 5


class Worker(QObject):
    """Owns the engine on its own thread; talk to it only through its signals."""

    # Requests, emitted from any thread and run on the worker's thread in order.
    load_requested = Signal(object)  # LoadJob
    speak_requested = Signal(object)  # SpeechJob
    add_voice_requested = Signal(object)  # VoiceJob
    unload_requested = Signal(str)  # reason, for the log and the `unloaded` signal
    idle_minutes_requested = Signal(float)  # 0 turns idle unloading off
    shutdown_requested = Signal()

    # Results.
    state_changed = Signal(str)  # "unloaded", "loading", "ready", "busy", "error"
    load_progress = Signal(int, float, str)  # job id, fraction 0..1, message
    loaded = Signal(int, object)  # job id, EngineStatus
    unloaded = Signal(str)  # reason
    status_changed = Signal(object)  # EngineStatus, about once a second and after load/unload
    chunk_ready = Signal(int, object)  # job id, float32 mono numpy chunk at SAMPLE_RATE
    progress = Signal(int, int, int)  # job id, characters done, characters in all
    # job id, first and end character of the part whose audio the next chunks carry
    reading = Signal(int, int, int)
    finished = Signal(int, object)  # job id, result: None, the WAV path, or a VoiceInfo
    failed = Signal(int, str)  # job id, a sentence for a person
    cancelled = Signal(int)  # job id

    def __init__(
        self,
        library: Any,
        engine_factory: EngineFactory = load_engine,
        *,
        tick_ms: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._library = library
        self._factory = engine_factory
        self._clock = clock
        self._tick_s = tick_ms / 1000
        self._engine: Any = None
        self._load_failed = False  # the last load ended in an error (not a cancel)
        # Held whenever the engine is used or replaced, by this worker's jobs and by anyone else
        # who shares the engine (the local speech API): the engine is not thread-safe.
        self.engine_lock = threading.RLock()
        self._latest_status = EngineStatus(status="unloaded")
        self._config: tuple[Path, EngineOptions] | None = None
        self._loaded_config: tuple[Path, EngineOptions] | None = None
        self._idle_s = 0.0
        self._last_used = clock()
        self._last_tick = 0.0
        # A child of the worker, so it moves to the worker's thread with it.
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._thread_state: PinnedThreadState | None = None
        self._timer.timeout.connect(self._tick)

        queued = _queued()
        self.load_requested.connect(self._load, queued)
        self.speak_requested.connect(self._speak, queued)
        self.add_voice_requested.connect(self._add_voice, queued)
        self.unload_requested.connect(self._unload, queued)
        self.idle_minutes_requested.connect(self._set_idle_minutes, queued)
        self.shutdown_requested.connect(self._shutdown, queued)

    # -- life cycle -------------------------------------------------------------------------

    @Slot()
    def begin(self) -> None:
        """Runs on the worker's thread when it starts: starts the once-a-second status tick."""
        self._thread_state = PinnedThreadState()
        _yield_to_the_window()
        self._timer.start()
        self._send_status(EngineStatus(status="unloaded"))

    @Slot()
    def _shutdown(self) -> None:
        self._timer.stop()
        with self.engine_lock:
            self._drop_engine()
        thread = self.thread()
        # Hand the worker (and its timer) back to the main thread, where Python will delete it;
        # Qt objects must die on the thread they belong to.
        app = QCoreApplication.instance()
        if app is not None:
            self.moveToThread(app.thread())
        if self._thread_state is not None:
            self._thread_state.release()
            self._thread_state = None
        thread.quit()

    # -- requests ---------------------------------------------------------------------------

    @Slot(object)
    def _load(self, job: LoadJob) -> None:
        self._config = (Path(job.model_dir), job.options)

        def work() -> None:
            if self._engine is not None and self._loaded_config == self._config:
                self.loaded.emit(job.job_id, self._status())
            else:
                self._ensure_engine(job)
            self.finished.emit(job.job_id, None)

        self._guard(job.job_id, "loading the model", work)

    @Slot(object)
    def _speak(self, job: SpeechJob) -> None:
        doing = "saving the WAV file" if job.path is not None else "speaking"
        self._guard(job.job_id, doing, lambda: self._run_speech(job))

    @Slot(object)
    def _add_voice(self, job: VoiceJob) -> None:
        self._guard(job.job_id, "adding the voice", lambda: self._run_add_voice(job))

    @Slot(str)
    def _unload(self, reason: str) -> None:
        if self._engine is None:
            return
        log.info("Unloading the model: %s", reason)
        with self.engine_lock:
            self._drop_engine()
        self.state_changed.emit("unloaded")
        self.unloaded.emit(reason)
        self._send_status(self._idle_status("unloaded"))

    @Slot(float)
    def _set_idle_minutes(self, minutes: float) -> None:
        self._idle_s = max(0.0, float(minutes)) * 60.0
        self._last_used = self._clock()

    # -- the work ---------------------------------------------------------------------------

    def _guard(self, job_id: int, doing: str, work: Callable[[], Any]) -> None:
        """Run `work`, turning its outcome into exactly one of finished/failed/cancelled."""
        try:
            with self.engine_lock:
                work()
        except Cancelled:
            log.info("Job %d cancelled while %s", job_id, doing)
            self.cancelled.emit(job_id)
        except Exception as exc:
            if isinstance(exc, EngineError):
                log.warning("Job %d failed while %s: %s", job_id, doing, exc, exc_info=True)
            else:
                log.exception("Job %d failed while %s", job_id, doing)
            self.failed.emit(job_id, describe_failure(exc, doing))
        finally:
            self._last_used = self._clock()
            self.state_changed.emit(self._state())
            if self._engine is not None:
                self._send_status(self._status())

    def _ensure_engine(self, job: LoadJob | SpeechJob | VoiceJob) -> Any:
        """The loaded engine; loads it first (with progress under `job`'s id) when needed."""
        if job.cancel.is_set():
            raise Cancelled("Cancelled before loading the model.")
        if self._config is None:
            raise EngineError(
                "No model folder is set: choose the CosyVoice3 model folder in Settings."
            )
        if self._engine is not None and self._loaded_config == self._config:
            return self._engine
        self._drop_engine()
        model_dir, options = self._config
        self.state_changed.emit("loading")
        self._send_status(EngineStatus(status="loading", model_dir=str(model_dir)))

        def progress(fraction: float, message: str) -> None:
            self.load_progress.emit(job.job_id, float(fraction), message)

        try:
            self._engine = self._factory(model_dir, options, progress=progress, cancel=job.cancel)
        except Cancelled:
            self.state_changed.emit("unloaded")
            self._send_status(self._idle_status("unloaded"))
            raise
        except BaseException:
            self._load_failed = True
            self.state_changed.emit("error")
            self._send_status(EngineStatus(status="error", model_dir=str(model_dir)))
            raise
        self._loaded_config = self._config
        self._load_failed = False
        status = self._status()
        log.info(
            "Model loaded from %s: device %s, quantisation %s",
            model_dir,
            status.device,
            status.quantization_label,
        )
        self._warm_up(self._engine)
        self._send_status(status)
        self.loaded.emit(job.job_id, status)
        return self._engine

    def _warm_up(self, engine: Any) -> None:
        """On a GPU, speak a throw-away utterance with the first voice so that the CUDA graphs
        exist before the person's first request. Skipped on the CPU, where it would only cost."""
        device = getattr(getattr(engine, "device", None), "type", "cpu")
        voices = self._library.list()
        if device != "cuda" or not voices or not hasattr(engine, "warm_up"):
            return
        try:
            seconds = engine.warm_up(self._library.get(voices[0].name, engine))
            log.info("Warmed up with the voice %r in %.2f s", voices[0].name, seconds)
        except Exception:  # a failed warm-up must not fail the load; the log keeps why
            log.exception("Warm-up failed; the first request will be slower")

    def _run_speech(self, job: SpeechJob) -> None:
        engine = self._ensure_engine(job)
        voice = self._voice(job.voice, engine)
        self.state_changed.emit("busy")

        def progress(done: int, total: int) -> None:
            self.progress.emit(job.job_id, int(done), int(total))

        chunks = engine.synthesize(
            job.text,
            voice,
            stream=job.stream,
            speed=job.speed,
            instruct=job.instruct,
            cancel=job.cancel,
            progress=progress,
            normalization=job.normalization,
            reading=lambda start, end: self.reading.emit(job.job_id, int(start), int(end)),
        )
        if job.path is None:
            for chunk in self._until_cancelled(chunks, job.cancel):
                self.chunk_ready.emit(job.job_id, chunk)
            self.finished.emit(job.job_id, None)
            return
        from cosydesk.audio.wavfile import WavWriter

        # Leaving the block by an exception (Cancelled too) deletes the temp file: no partial WAV.
        with WavWriter(job.path, engine.sample_rate, overwrite=job.overwrite) as writer:
            for chunk in self._until_cancelled(chunks, job.cancel):
                writer.write(chunk)
        log.info("Saved speech to %s", job.path)
        self.finished.emit(job.job_id, Path(job.path))

    def _run_add_voice(self, job: VoiceJob) -> None:
        engine = self._ensure_engine(job)
        if job.cancel.is_set():
            raise Cancelled("Cancelled before adding the voice.")
        self.state_changed.emit("busy")
        info = self._library.add(job.name, Path(job.audio_path), job.transcript, engine)
        log.info("Added voice %r from %s", info.name, job.audio_path)
        self.finished.emit(job.job_id, info)

    def _voice(self, name: str | None, engine: Any) -> Any:
        if not name:
            voices = self._library.list()
            if not voices:
                raise EngineError(
                    "There is no voice yet: open Voices... and add one (a clip of a few seconds "
                    "of clear speech plus what it says), or record one with your microphone."
                )
            name = voices[0].name
        return self._library.get(name, engine)

    def _until_cancelled(self, chunks: Iterator[Any], cancel: threading.Event) -> Iterator[Any]:
        """`chunks`, stopping with Cancelled as soon as `cancel` is set; ticks in between."""
        for chunk in chunks:
            if cancel.is_set():
                raise Cancelled("Cancelled.")
            yield chunk
            self._tick_if_due()
        if cancel.is_set():
            raise Cancelled("Cancelled.")

    # -- status and idle unloading ----------------------------------------------------------

    @Slot()
    def _tick(self) -> None:
        self._last_tick = self._clock()
        if self._engine is None:
            return
        if self._idle_s > 0 and self._clock() - self._last_used >= self._idle_s:
            minutes = self._idle_s / 60
            self._unload(f"unused for {minutes:g} minute{'s' if minutes != 1 else ''}")
            return
        # Someone else (the local speech API) may be using the engine: skip this tick then.
        if self.engine_lock.acquire(blocking=False):
            try:
                self._send_status(self._status())
            finally:
                self.engine_lock.release()

    def _tick_if_due(self) -> None:
        # The timer cannot fire while a job holds this thread, so long jobs tick themselves.
        if self._engine is not None and self._clock() - self._last_tick >= self._tick_s:
            self._last_tick = self._clock()
            self._send_status(self._status())

    def current_engine(self) -> Any:
        """The loaded engine or None; use it only while holding `engine_lock`."""
        return self._engine

    def latest_status(self) -> EngineStatus:
        """The status most recently sent out (safe to read from any thread)."""
        return self._latest_status

    def _status(self) -> EngineStatus:
        if self._engine is None:
            status = self._idle_status("unloaded")
        else:
            try:
                status = self._engine.status()
            except Exception:
                log.exception("The engine could not report its status")
                status = EngineStatus(status="error")
        return status

    def _send_status(self, status: EngineStatus) -> None:
        self._latest_status = status
        self.status_changed.emit(status)

    def _idle_status(self, state: str) -> EngineStatus:
        """`state` plus the card's memory use, once torch is in (never imported just for this)."""
        status = EngineStatus(status=state)
        if "torch" not in sys.modules:
            return status
        try:
            from cosydesk.engine.memory import card_status

            return card_status(status)
        except Exception:
            log.debug("No card status without a model", exc_info=True)
            return status

    def _state(self) -> str:
        if self._engine is not None:
            return "ready"
        return "error" if self._load_failed else "unloaded"

    def _drop_engine(self) -> None:
        engine, self._engine, self._loaded_config = self._engine, None, None
        if engine is None:
            return
        try:
            engine.unload()
        except Exception:
            log.exception("The engine failed to unload cleanly")


def _yield_to_the_window() -> None:
    """Give this thread, and the compute threads it starts (torch's, which inherit it), a lower
    CPU priority than the window's: on a machine with few cores, loading and synthesis then
    no longer keep the window from answering (Linux and macOS; elsewhere nothing changes)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
    except (AttributeError, OSError) as exc:  # no per-thread priority here, or not allowed
        log.debug("Worker priority unchanged: %s", exc)


def _queued() -> Any:
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.QueuedConnection


def start_worker(worker: Worker) -> QThread:
    """Move `worker` to a new thread and start it; the thread belongs to the caller."""
    thread = QThread()
    thread.setObjectName("cosydesk-worker")
    worker.moveToThread(thread)
    thread.started.connect(worker.begin)
    thread.start()
    return thread


def stop_worker(worker: Worker, thread: QThread, timeout_ms: int = 5000) -> bool:
    """Ask `worker` to stop, wait up to `timeout_ms`; False (and a log line) if it did not."""
    if not thread.isRunning():
        return True
    worker.shutdown_requested.emit()
    if thread.wait(timeout_ms):
        return True
    log.warning(
        "The worker thread did not stop within %.1f s (a model call is still running)",
        timeout_ms / 1000,
    )
    return False
