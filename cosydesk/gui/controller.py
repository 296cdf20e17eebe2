"""The controller, which the widgets talk to: it owns the worker thread, sound output, job ids.

Widgets ask it to speak, stop, pause, save or add a voice; it turns that into worker requests,
feeds the streamed chunks into the sound card as they arrive, and tells everyone the app's state
("loading", "ready", "speaking", ...) through `state_changed`. Settings changes that affect the
model (folder, quantisation, precision, device) become one reload, however many arrive at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from cosydesk.engine.errors import ConfigError
from cosydesk.engine.types import SAMPLE_RATE, EngineOptions
from cosydesk.gui.jobs import EngineFactory, LoadJob, SpeechJob, VoiceJob, load_engine
from cosydesk.gui.speech_output import SpeechOutput
from cosydesk.gui.worker import Worker, start_worker, stop_worker

log = logging.getLogger(__name__)

# Settings whose change means the model must be loaded again.
ENGINE_SETTINGS = ("model_dir", "quantization", "flow_precision", "int8_threshold", "device")

# App states, as shown by the tray icon and the status bar:
# no-model, loading, ready, unloaded, working, speaking, paused, error.


class _Speech:
    """The utterance being spoken: its job and the sound output its chunks go to."""

    def __init__(self, job: SpeechJob, output: SpeechOutput) -> None:
        self.job = job
        self.output = output
        self.fed = 0  # samples handed to the output so far
        # (sample where a part's audio starts, its first character, its end character)
        self.parts: list[tuple[int, int, int]] = []

    def heard_part(self) -> tuple[int, int] | None:
        """Characters of the part the listener hears now, or None before the first."""
        heard = self.output.played_samples
        current = None
        for first_sample, start, end in self.parts:
            if first_sample > heard or (current is not None and first_sample == heard):
                break
            current = (start, end)
        return current


class Controller(QObject):
    """Coordinates worker, sound output and settings; lives on the GUI thread."""

    state_changed = Signal(str, str)  # state (see above), a detail for a person
    engine_status = Signal(object)  # EngineStatus
    load_progress = Signal(float, str)
    speech_progress = Signal(int, int)  # characters done, characters in all, of what is spoken
    error = Signal(str)  # something a person should read
    # Every job's outcome, for dialogs that wait on their own job id (saves, new voices).
    job_progress = Signal(int, int, int)
    job_finished = Signal(int, object)
    job_failed = Signal(int, str)
    job_cancelled = Signal(int)

    def __init__(
        self,
        settings: Any,
        library: Any,
        engine_factory: EngineFactory = load_engine,
        *,
        tick_ms: int = 1000,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.library = library
        self.worker = Worker(library, engine_factory, tick_ms=tick_ms)
        self._thread: Any = None
        self._ids = itertools.count(1)
        self._speech: _Speech | None = None
        self._jobs: dict[int, threading.Event] = {}  # unfinished jobs and their cancel events
        self._saves: set[int] = set()
        self._voice_jobs: set[int] = set()
        self._load_job: LoadJob | None = None
        self._requested: tuple[Path, EngineOptions] | None = None
        self._engine_state = "unloaded"
        self._detail = ""
        self._state = ""
        self._shown_detail = ""
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(0)
        self._reload_timer.timeout.connect(self._reload_if_changed)

        w = self.worker
        w.state_changed.connect(self._on_engine_state)
        w.load_progress.connect(self._on_load_progress)
        w.unloaded.connect(self._on_unloaded)
        w.status_changed.connect(self.engine_status)
        w.chunk_ready.connect(self._on_chunk)
        w.progress.connect(self._on_progress)
        w.reading.connect(self._on_reading)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        settings.on_change(self._on_setting_changed)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread and, when a model folder is set, load the model."""
        self._thread = start_worker(self.worker)
        self.worker.idle_minutes_requested.emit(float(self._setting("idle_unload_minutes") or 0))
        if self.model_dir() is None:
            self._set_state("no-model", "Choose the model folder to start speaking.")
        else:
            self.load()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop speaking, cancel every job and stop the worker; False if it would not stop."""
        self.stop()
        for cancel in self._jobs.values():
            cancel.set()
        if self._thread is None:
            return True
        clean = stop_worker(self.worker, self._thread, timeout_ms)
        self._thread = None if clean else self._thread
        return clean

    # -- what the widgets ask ---------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def speaking(self) -> bool:
        return self._speech is not None

    def model_dir(self) -> Path | None:
        value = self._setting("model_dir")
        return Path(value) if value else None

    def engine_options(self) -> EngineOptions:
        """The options the settings ask for, environment overrides applied."""
        return EngineOptions(
            device=str(self._setting("device")),
            quantization=str(self._setting("quantization")),
            flow_precision=str(self._setting("flow_precision")),
            int8_threshold=float(self._setting("int8_threshold")),
            # Spoken requests pass the current setting, so changing it needs no reload.
            text_normalization=str(self._setting("text_normalization")),
        )

    def load(self) -> int | None:
        """(Re)load the model as the settings say; any load under way is cancelled."""
        model_dir = self.model_dir()
        if model_dir is None:
            self._set_state("no-model", "Choose the model folder to start speaking.")
            return None
        try:
            options = self.engine_options()
        except ConfigError as exc:  # an environment variable with a bad value
            log.warning("%s", exc)
            self._engine_state, self._detail = "error", str(exc)
            self._update_state()
            self.error.emit(str(exc))
            return None
        if self._load_job is not None:
            self._load_job.cancel.set()
        job = LoadJob(next(self._ids), model_dir, options)
        self._load_job = job
        self._requested = (job.model_dir, job.options)
        self._jobs[job.job_id] = job.cancel
        self._set_state("loading", "Loading the model...")
        self.worker.load_requested.emit(job)
        return job.job_id

    def unload(self, reason: str = "asked by the user") -> None:
        self.worker.unload_requested.emit(reason)

    def speak(self, text: str, voice: str | None = None) -> int | None:
        """Start speaking `text` (stopping what is spoken now); None if it cannot start."""
        if not text.strip():
            self.error.emit("There is no text to read: type or paste some text first.")
            return None
        self.stop()
        output = self._open_output()
        if output is None:
            return None
        job = self._speech_job(text, voice)
        self._jobs[job.job_id] = job.cancel
        self._speech = _Speech(job, output)
        self._update_state()
        self.worker.speak_requested.emit(job)
        return job.job_id

    def toggle_speaking(self, text: str) -> None:
        """The hotkey: stop when speaking, else speak `text`."""
        if self.speaking:
            self.stop()
        else:
            self.speak(text)

    def stop(self) -> None:
        """Stop speaking at once; the worker drops the rest of the utterance."""
        speech, self._speech = self._speech, None
        if speech is None:
            return
        speech.job.cancel.set()
        speech.output.stop()
        self._update_state()

    def toggle_pause(self) -> None:
        """Pause the sound (synthesis goes on into the buffer), or resume it."""
        speech = self._speech
        if speech is None:
            return
        try:
            speech.output.set_paused(not speech.output.paused)
        except Exception as exc:
            log.exception("The sound device refused to pause or resume")
            self.error.emit(f"The sound device refused to pause or resume: {exc}")
            return
        self._update_state()

    def _speech_job(self, text: str, voice: str | None, **extra: Any) -> SpeechJob:
        """A job for `text` with the voice (or the default one), speed and streaming set."""
        return SpeechJob(
            next(self._ids),
            text,
            voice or self._setting("default_voice") or None,
            speed=float(self._setting("speed")),
            stream=bool(self._setting("stream")),
            normalization=str(self._setting("text_normalization")),
            **extra,
        )

    def save(self, text: str, voice: str | None, path: Path) -> int | None:
        """Render `text` into the WAV file `path` (replacing it: the UI has asked already)."""
        if not text.strip():
            self.error.emit("There is no text to save: type or paste some text first.")
            return None
        job = self._speech_job(text, voice, path=Path(path), overwrite=True)
        self._jobs[job.job_id] = job.cancel
        self._saves.add(job.job_id)
        self._update_state()
        self.worker.speak_requested.emit(job)
        return job.job_id

    def add_voice(self, name: str, audio_path: Path, transcript: str) -> int:
        """Add a voice (its features are computed with the model, which loads if needed)."""
        job = VoiceJob(next(self._ids), name, Path(audio_path), transcript)
        self._jobs[job.job_id] = job.cancel
        self._voice_jobs.add(job.job_id)
        self.worker.add_voice_requested.emit(job)
        return job.job_id

    def cancel(self, job_id: int) -> None:
        """Cancel a save, a new voice or a load; the worker answers with `job_cancelled`."""
        cancel = self._jobs.get(job_id)
        if cancel is not None:
            cancel.set()

    # -- the sound output ---------------------------------------------------------------------

    def _open_output(self) -> SpeechOutput | None:
        from cosydesk.audio.playback import AudioDeviceError

        try:
            output = SpeechOutput(str(self._setting("output_device") or ""))
        except AudioDeviceError as exc:
            log.warning("No sound output: %s", exc)
            self.error.emit(str(exc))
            return None
        output.done.connect(self._on_output_done)
        output.failed.connect(self._on_output_failed)
        return output

    @Slot(object)
    def _on_output_done(self, output: SpeechOutput) -> None:
        if self._speech is not None and self._speech.output is output:
            speech, self._speech = self._speech, None
            speech.job.cancel.set()  # nothing is left to render for a sound that has ended
            log.info(
                "Speech %d ended: %.2f s rendered, %.2f s played, %.2f s waited for synthesis",
                speech.job.job_id,
                speech.fed / SAMPLE_RATE,
                output.played_samples / SAMPLE_RATE,
                output.starved_samples / SAMPLE_RATE,
            )
            self._update_state()

    @Slot(object, str)
    def _on_output_failed(self, output: SpeechOutput, message: str) -> None:
        if self._speech is not None and self._speech.output is output:
            self.stop()
            self.error.emit(f"The sound stopped because the output device failed: {message}")

    # -- worker results ---------------------------------------------------------------------

    def _is_speech(self, job_id: int) -> bool:
        return self._speech is not None and self._speech.job.job_id == job_id

    @Slot(int, object)
    def _on_chunk(self, job_id: int, chunk: Any) -> None:
        if self._is_speech(job_id):
            assert self._speech is not None
            self._speech.output.feed(chunk)
            self._speech.fed += len(chunk)

    @Slot(int, int, int)
    def _on_reading(self, job_id: int, start: int, end: int) -> None:
        if self._is_speech(job_id):
            assert self._speech is not None
            self._speech.parts.append((self._speech.fed, start, end))

    def reading_range(self) -> tuple[int, int, int] | None:
        """(job id, first, end character) of the part being heard now, or None.

        Characters count in the text given to `speak`.
        """
        speech = self._speech
        if speech is None:
            return None
        heard = speech.heard_part()
        return None if heard is None else (speech.job.job_id, *heard)

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self._is_speech(job_id):
            self.speech_progress.emit(done, total)
        self.job_progress.emit(job_id, done, total)

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        self._forget(job_id)
        if self._is_speech(job_id):
            assert self._speech is not None
            # The sound goes on until the buffer drains; the output's `done` ends the speech.
            self._speech.output.finish()
        self.job_finished.emit(job_id, result)
        self._update_state()

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        quiet = job_id in self._voice_jobs  # the voices dialog tells those failures itself
        self._forget(job_id)
        if self._is_speech(job_id):
            self.stop()
        if not quiet:
            self.error.emit(message)
        if self._engine_state == "error":
            self._detail = message
        self.job_failed.emit(job_id, message)
        self._update_state()

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        self._forget(job_id)
        if self._is_speech(job_id):
            self.stop()
        self.job_cancelled.emit(job_id)
        self._update_state()

    def _forget(self, job_id: int) -> None:
        self._jobs.pop(job_id, None)
        self._saves.discard(job_id)
        self._voice_jobs.discard(job_id)
        if self._load_job is not None and self._load_job.job_id == job_id:
            self._load_job = None

    @Slot(str)
    def _on_engine_state(self, state: str) -> None:
        previous, self._engine_state = self._engine_state, state
        if state == "loading":
            self._detail = "Loading the model..."
        elif state == "ready" or (state == "error" and previous == "loading"):
            self._detail = ""  # the failure's own sentence follows with `failed`
        self._update_state()

    @Slot(int, float, str)
    def _on_load_progress(self, job_id: int, fraction: float, message: str) -> None:
        self._detail = f"Loading the model: {message} ({fraction * 100:.0f}%)"
        self.load_progress.emit(fraction, message)
        self._update_state()

    @Slot(str)
    def _on_unloaded(self, reason: str) -> None:
        self._detail = f"Model unloaded ({reason}); it loads again when you speak."
        self._update_state()

    # -- state --------------------------------------------------------------------------------

    def _update_state(self) -> None:
        speech = self._speech
        if speech is not None and self._engine_state != "loading":
            paused = speech.output.paused
            self._set_state(
                "paused" if paused else "speaking", "Paused" if paused else "Speaking..."
            )
            return
        engine = self._engine_state
        if engine == "loading":
            self._set_state("loading", self._detail or "Loading the model...")
        elif engine == "error":
            self._set_state("error", self._detail or "The model could not be loaded.")
        elif self._saves or engine == "busy":
            self._set_state("working", "Saving..." if self._saves else "Working...")
        elif engine == "ready":
            self._set_state("ready", "Ready")
        elif self.model_dir() is None:
            self._set_state("no-model", "Choose the model folder to start speaking.")
        else:
            self._set_state("unloaded", self._detail or "The model is not loaded.")

    def _set_state(self, state: str, detail: str) -> None:
        if (state, detail) == (self._state, self._shown_detail):
            return
        self._state = state
        self._shown_detail = detail
        self.state_changed.emit(state, detail)

    # -- settings -----------------------------------------------------------------------------

    def _setting(self, name: str) -> Any:
        return self.settings.effective(name)

    def _on_setting_changed(self, name: str, value: object) -> None:
        if name in ENGINE_SETTINGS:
            self._reload_timer.start()  # several changes at once make one reload
        elif name == "idle_unload_minutes":
            self.worker.idle_minutes_requested.emit(float(self._setting(name) or 0))

    @Slot()
    def _reload_if_changed(self) -> None:
        model_dir = self.model_dir()
        try:
            wanted = None if model_dir is None else (model_dir, self.engine_options())
        except ConfigError:
            self.load()  # reports the bad environment variable
            return
        if wanted == self._requested:
            return
        if wanted is None:
            self.unload("the model folder setting was cleared")
            self._requested = None
            self._update_state()
            return
        log.info("Settings changed the model configuration; reloading")
        self.load()
