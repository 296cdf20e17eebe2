"""The controller, which the widgets talk to: it owns the app's runner, sound output, job ids.

Widgets ask it to speak, stop, pause, save or add a voice; it turns that into runner jobs and
tells everyone the app's state ("loading", "ready", "speaking", ...) through `state_changed`.
A speech job writes its chunks into the sound output on the runner's thread; the GUI thread
only learns which part is heard, the progress and the outcome. Settings changes that affect
the model (folder, quantisation, precision, device) become one reload, however many arrive at
once. The app's local speech API submits to the same runner (`controller.runner`); while the
person's request waits behind one of its jobs, the state says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from cosydesk.config import quant_cache_dir
from cosydesk.engine.errors import ConfigError, EngineError
from cosydesk.engine.types import SAMPLE_RATE, EngineOptions
from cosydesk.gui.speech_output import SpeechOutput
from cosydesk.gui.worker import WORKER_NICE, Worker
from cosydesk.runner import (
    EngineFactory,
    Job,
    ModelConfig,
    Origin,
    Runner,
    Speech,
    load_engine,
    save_job,
    speech_job,
    voice_job,
)

log = logging.getLogger(__name__)

# Settings whose change means the model must be loaded again.
ENGINE_SETTINGS = ("model_dir", "quantization", "flow_precision", "int8_threshold", "device")

# App states, as shown by the tray icon and the status bar:
# no-model, loading, ready, unloaded, working, speaking, paused, error.
WAITING_FOR_API = "Waiting for a speech API request to finish..."


class _Sink:
    """Where a speech job's chunks go, on the runner's thread: straight into the player, so
    that smooth sound does not depend on the GUI thread. Holds no QObject (the job may be the
    last to hold it, and a QObject must die on its own thread)."""

    def __init__(self, player: Any) -> None:
        self._player = player
        self.fed = 0  # samples handed to the player so far

    def feed(self, chunk: np.ndarray) -> None:
        self._player.feed(chunk)
        self.fed += len(chunk)

    def finish(self) -> None:
        """The whole text is rendered: the sound goes on until the buffer drains, then the
        output's `done` ends the speech."""
        self._player.finish()


class _Speech:
    """The utterance being spoken, as the GUI thread follows it: its sound output, the sink its
    job writes into, and which part of the text each stretch of audio speaks."""

    def __init__(self, output: SpeechOutput) -> None:
        self.output = output
        self.sink = _Sink(output.player)
        self.job_id = 0
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
    """Coordinates runner, sound output and settings; lives on the GUI thread."""

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
        self.runner = Runner(
            library, engine_factory, tick_s=tick_ms / 1000, nice=WORKER_NICE, name="cosydesk-runner"
        )
        self.worker = Worker(self.runner)
        self._speech: _Speech | None = None
        self._jobs: set[int] = set()  # unfinished jobs
        self._saves: set[int] = set()
        self._voice_jobs: set[int] = set()
        self._behind_api: set[int] = set()  # jobs waiting for an API request to finish
        self._api_running: int | None = None  # the local speech API's job that runs now
        self._load_job: int | None = None
        self._requested: tuple[Path, EngineOptions] | None = None
        self._engine_state = "unloaded"
        self._detail = ""
        self._state = ""
        self._shown_detail = ""
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(0)
        self._reload_timer.timeout.connect(self._reload_if_changed)

        w, queued = self.worker, Qt.ConnectionType.QueuedConnection
        w.state_changed.connect(self._on_engine_state, queued)
        w.load_progress.connect(self._on_load_progress, queued)
        w.unloaded.connect(self._on_unloaded, queued)
        w.status_changed.connect(self.engine_status, queued)
        w.started.connect(self._on_started, queued)
        w.progress.connect(self._on_progress, queued)
        w.reading.connect(self._on_reading, queued)
        w.finished.connect(self._on_finished, queued)
        w.failed.connect(self._on_failed, queued)
        w.cancelled.connect(self._on_cancelled, queued)
        settings.on_change(self._on_setting_changed)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the runner's thread and, when a model folder is set, load the model."""
        self.runner.start()
        self.runner.set_idle_minutes(float(self._setting("idle_unload_minutes") or 0))
        if self.model_dir() is None:
            self._set_state("no-model", "Choose the model folder to start speaking.")
        else:
            self.load()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop speaking, cancel every job and stop the runner; False if it would not stop."""
        self.stop()
        return self.runner.stop(timeout_ms / 1000)

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
            # The quantised LLM is kept here, so the next start or mode switch skips the work.
            quant_cache_dir=str(quant_cache_dir()),
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
            self.runner.cancel(self._load_job)
        self._requested = (model_dir, options)
        self._set_state("loading", "Loading the model...")
        job = self._submit(lambda: self.runner.load(ModelConfig(model_dir, options)))
        self._load_job = job.job_id if job is not None else None
        return self._load_job

    def unload(self, reason: str = "asked by the user") -> None:
        self._submit(lambda: self.runner.unload(reason))

    def _submit(self, submit: Any) -> Job | None:
        """`submit()` a job to the runner and follow it; None (and an error) when refused."""
        try:
            job: Job = submit()
        except EngineError as exc:  # the runner is shutting down
            self.error.emit(str(exc))
            return None
        self._jobs.add(job.job_id)
        if job.behind is not None and job.behind.origin is Origin.API:
            log.info("Job %d waits for %s to finish", job.job_id, job.behind.origin.label)
            self._behind_api.add(job.job_id)
            self._update_state()
        return job

    def speak(self, text: str, voice: str | None = None) -> int | None:
        """Start speaking `text` (stopping what is spoken now); None if it cannot start."""
        if not text.strip():
            self.error.emit("There is no text to read: type or paste some text first.")
            return None
        self.stop()
        output = self._open_output()
        if output is None:
            return None
        speech = _Speech(output)
        self._speech = speech
        request = self._speech_of(text, voice)
        job = self._submit(
            lambda: self.runner.submit(speech_job(self.library, request, speech.sink))
        )
        if job is None:
            self.stop()
            return None
        speech.job_id = job.job_id
        self._update_state()
        return job.job_id

    def stop(self) -> None:
        """Stop speaking at once; the runner drops the rest of the utterance."""
        speech, self._speech = self._speech, None
        if speech is None:
            return
        self.runner.cancel(speech.job_id)
        self._behind_api.discard(speech.job_id)
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

    def _speech_of(self, text: str, voice: str | None) -> Speech:
        """`text` with the voice (or the default one), speed and streaming the settings ask."""
        return Speech(
            text,
            voice or self._setting("default_voice") or None,
            speed=float(self._setting("speed")),
            stream=bool(self._setting("stream")),
            normalization=str(self._setting("text_normalization")),
        )

    def save(self, text: str, voice: str | None, path: Path) -> int | None:
        """Render `text` into the WAV file `path` (replacing it: the UI has asked already)."""
        if not text.strip():
            self.error.emit("There is no text to save: type or paste some text first.")
            return None
        speech = self._speech_of(text, voice)
        job = self._submit(
            lambda: self.runner.submit(save_job(self.library, speech, Path(path), overwrite=True))
        )
        if job is None:
            return None
        self._saves.add(job.job_id)
        self._update_state()
        return job.job_id

    def add_voice(self, name: str, audio_path: Path, transcript: str) -> int | None:
        """Add a voice (its features are computed with the model, which loads if needed)."""
        job = self._submit(
            lambda: self.runner.submit(voice_job(self.library, name, audio_path, transcript))
        )
        if job is None:
            return None
        self._voice_jobs.add(job.job_id)
        return job.job_id

    def cancel(self, job_id: int) -> None:
        """Cancel a save, a new voice or a load; the runner answers with `job_cancelled`."""
        if job_id in self._jobs:
            self.runner.cancel(job_id)

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
            self.runner.cancel(speech.job_id)  # nothing is left to render for a sound that ended
            log.info(
                "Speech %d ended: %.2f s rendered, %.2f s played, %.2f s waited for synthesis",
                speech.job_id,
                speech.sink.fed / SAMPLE_RATE,
                output.played_samples / SAMPLE_RATE,
                output.starved_samples / SAMPLE_RATE,
            )
            self._update_state()

    @Slot(object, str)
    def _on_output_failed(self, output: SpeechOutput, message: str) -> None:
        if self._speech is not None and self._speech.output is output:
            self.stop()
            self.error.emit(f"The sound stopped because the output device failed: {message}")

    # -- runner results ---------------------------------------------------------------------

    def _is_speech(self, job_id: int) -> bool:
        return self._speech is not None and self._speech.job_id == job_id

    def _other_job_ended(self, job_id: int) -> bool:
        """True when `job_id` is not the app's own job but the local speech API's; this
        controller only follows whether one of those runs."""
        if job_id in self._jobs:
            return False
        if self._api_running == job_id:
            self._api_running = None
            self._update_state()
        return True

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        # The state changes only where this says something new: the runner's own state
        # changes follow, and an early "ready" would flicker between "loading" and "loading".
        if job_id not in self._jobs:
            self._api_running = job_id
            self._update_state()
        elif job_id in self._behind_api:
            self._behind_api.discard(job_id)
            self._update_state()

    @Slot(int, int, int, int)
    def _on_reading(self, job_id: int, start: int, end: int, sample: int) -> None:
        if self._is_speech(job_id):
            assert self._speech is not None
            self._speech.parts.append((sample, start, end))

    def reading_range(self) -> tuple[int, int, int] | None:
        """(job id, first, end character) of the part being heard now, or None.

        Characters count in the text given to `speak`.
        """
        speech = self._speech
        if speech is None:
            return None
        heard = speech.heard_part()
        return None if heard is None else (speech.job_id, *heard)

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if job_id not in self._jobs:
            return
        if self._is_speech(job_id):
            self.speech_progress.emit(done, total)
        self.job_progress.emit(job_id, done, total)

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        # A finished speech goes on sounding until the buffer drains; the output's `done` ends it.
        if self._other_job_ended(job_id):
            return
        self._forget(job_id)
        self.job_finished.emit(job_id, result)
        self._update_state()

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        if self._other_job_ended(job_id):
            return
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
        if self._other_job_ended(job_id):
            return
        self._forget(job_id)
        if self._is_speech(job_id):
            self.stop()
        self.job_cancelled.emit(job_id)
        self._update_state()

    def _forget(self, job_id: int) -> None:
        self._jobs.discard(job_id)
        self._saves.discard(job_id)
        self._voice_jobs.discard(job_id)
        self._behind_api.discard(job_id)
        if self._load_job == job_id:
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
        if self._behind_api and self._engine_state != "loading":
            self._set_state("working", WAITING_FOR_API)
            return
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
        elif self._saves:
            self._set_state("working", "Saving...")
        elif self._api_running is not None and engine in ("ready", "busy"):
            self._set_state("ready", "Ready; answering a speech API request...")
        elif engine == "busy":
            self._set_state("working", "Working...")
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
            self.runner.set_idle_minutes(float(self._setting(name) or 0))

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
