"""The controller, which the widgets talk to: it owns the app's runner, sound output, job ids.

Widgets ask it to speak, stop, pause, save or add a voice; it turns that into runner jobs and
tells everyone the app's state ("loading", "ready", "speaking", ...) through `state_changed`.
A speech job writes its chunks into the sound output on the runner's thread; the GUI thread
only learns which part is heard, the progress and the outcome. While a person listens, a skip to
another sentence, or a new speed or voice, renders the rest again into the same output
(utterance.py); Stop gives the controls back at once, without waiting for the runner. Settings
changes that affect the model (folder, quantisation, precision, device) become one reload,
however many arrive at once. The app's local speech API submits to the same runner
(`controller.runner`); while the person's request waits behind one of its jobs, the state says
so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from cosydesk.config import quant_cache_dir
from cosydesk.engine.errors import ConfigError, EngineError
from cosydesk.engine.types import SAMPLE_RATE, EngineOptions
from cosydesk.gui.app_state import AppState
from cosydesk.gui.sentences import next_sentence
from cosydesk.gui.speech_output import SpeechOutput
from cosydesk.gui.utterance import Listening, Sink, Utterance
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
from cosydesk.runner.events import RunnerState

if TYPE_CHECKING:
    from cosydesk.config import Settings
    from cosydesk.engine.voices import VoiceLibrary

log = logging.getLogger(__name__)

# Settings whose change means the model must be loaded again.
ENGINE_SETTINGS = ("model_dir", "quantization", "flow_precision", "int8_threshold", "device")

# App states, as shown by the tray icon and the status bar:
# no-model, loading, ready, unloaded, working, speaking, paused, error.
WAITING_FOR_API = "Waiting for a speech API request to finish..."


class Controller(QObject):
    """Coordinates runner, sound output and settings; lives on the GUI thread."""

    state_changed = Signal(str, str)  # state (see above), a detail for a person
    engine_status = Signal(object)  # EngineStatus
    load_progress = Signal(float, str)
    speech_progress = Signal(int, int)  # characters done, characters in all, of what is spoken
    # The text of an utterance that ended, and the character its last sentence heard begins at
    # (-1: it was heard to its end), for resuming where the listener left off.
    reading_stopped = Signal(str, int)
    voice_changed = Signal(str)  # the voice picked for speaking ("" for the default one)
    error = Signal(str)  # something a person should read
    # Every job's outcome, for dialogs that wait on their own job id (saves, new voices).
    job_progress = Signal(int, int, int)
    job_finished = Signal(int, object)
    job_failed = Signal(int, str)
    job_cancelled = Signal(int)

    def __init__(
        self,
        settings: Settings,
        library: VoiceLibrary,
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
        self._speech: Utterance | None = None
        self._dropped: set[int] = set()  # speech jobs stopped, which the runner still ends
        self._running: int | None = None  # the app's own job that runs now
        self._voice: str | None = None  # picked in the window or the tray; None: the default
        self._jobs: set[int] = set()  # unfinished jobs
        self._saves: set[int] = set()
        self._voice_jobs: set[int] = set()
        self._behind_api: set[int] = set()  # jobs waiting for an API request to finish
        self._api_running: int | None = None  # the local speech API's job that runs now
        self._load_job: int | None = None
        self._requested: tuple[Path, EngineOptions] | None = None
        self._engine_state = RunnerState.UNLOADED
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
            self._set_state(AppState.NO_MODEL, "Choose the model folder to start speaking.")
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
            self._set_state(AppState.NO_MODEL, "Choose the model folder to start speaking.")
            return None
        try:
            options = self.engine_options()
        except ConfigError as exc:  # an environment variable with a bad value
            log.warning("%s", exc)
            self._engine_state, self._detail = RunnerState.ERROR, str(exc)
            self._update_state()
            self.error.emit(str(exc))
            return None
        if self._load_job is not None:
            self.runner.cancel(self._load_job)
        self._requested = (model_dir, options)
        self._set_state(AppState.LOADING, "Loading the model...")
        job = self._submit(lambda: self.runner.load(ModelConfig(model_dir, options)))
        self._load_job = job.job_id if job is not None else None
        return self._load_job

    def unload(self, reason: str = "asked by the user") -> None:
        self._submit(lambda: self.runner.unload(reason))

    def _submit(self, submit: Callable[[], Job]) -> Job | None:
        """`submit()` a job to the runner and follow it; None (and an error) when refused."""
        if self._reload_timer.isActive():
            # The settings changed a moment ago (the first-run dialog has just chosen the
            # model): the job must find the model they name, not the one before.
            self._reload_timer.stop()
            self._reload_if_changed()
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

    def speak(self, text: str, voice: str | None = None, start: int = 0) -> int | None:
        """Start speaking `text` from its character `start` (stopping what is spoken now);
        the utterance's id (its first job's), or None if it cannot start."""
        if not text[start:].strip():
            self.error.emit("There is no text to read: type or paste some text first.")
            return None
        self.stop()
        output = self._open_output()
        if output is None:
            return None
        voice = voice or self.voice()
        speech = Utterance(output, text, voice, float(self._setting("speed")))
        speech.output.player.volume = self.volume()
        self._speech = speech
        if not self._render_from(speech, start, speech.sink):
            self.stop()
            return None
        self._update_state()
        return speech.id

    def _render_from(self, speech: Utterance, at_char: int, sink: Sink) -> bool:
        """Submit the job that renders `speech`'s text from `at_char` into `sink`."""
        request = Speech(
            speech.text[at_char:],
            speech.voice,
            speed=speech.speed,
            stream=bool(self._setting("stream")),
            normalization=str(self._setting("text_normalization")),
        )
        job = self._submit(lambda: self.runner.submit(speech_job(self.library, request, sink)))
        if job is None:
            return False
        speech.start_job(job.job_id, at_char, sink)
        return True

    def stop(self) -> None:
        """Stop speaking at once; the runner drops the rest of the utterance, and the controls
        come back without waiting for it to do so."""
        self._stop(report=True)

    def _stop(self, *, report: bool) -> None:
        speech, self._speech = self._speech, None
        if speech is None:
            return
        self._drop(speech.job_id, speech.sink)
        heard = speech.listening().sentence
        speech.output.stop()
        if report:
            self.reading_stopped.emit(speech.text, heard[0] if heard is not None else -1)
        self._update_state()

    def voice(self) -> str | None:
        """The voice the person picked last (window or tray), else the default one."""
        return self._voice or self._setting("default_voice") or None

    def set_voice(self, name: str | None) -> None:
        """Speak with voice `name` from now on: what is spoken now from its next part."""
        name = name or None
        if name == self._voice:
            return
        self._voice = name
        self.voice_changed.emit(name or "")
        self._apply_to_next_part()

    def _drop(self, job_id: int, sink: Sink) -> None:
        """Cancel a speech job whose sound is no longer wanted: nothing more of it is heard,
        and the state no longer waits for it."""
        sink.close()
        self.runner.cancel(job_id)
        self._behind_api.discard(job_id)
        if job_id in self._jobs:
            self._dropped.add(job_id)

    # -- while listening ----------------------------------------------------------------------

    def listening(self) -> Listening | None:
        """Where the listener is in the utterance (elapsed and remaining seconds, character,
        sentence), or None when nothing is spoken."""
        return None if self._speech is None else self._speech.listening()

    def skip(self, step: int) -> bool:
        """Go on from the sentence `step` sentences after (negative: before) the one heard,
        at once; False when there is none (past the last sentence nothing changes)."""
        speech = self._speech
        if speech is None:
            return False
        where = speech.listening()
        here = where.sentence[0] if where.sentence is not None else int(where.position)
        target = next_sentence(speech.text, here, step)
        if target is None:
            return False
        log.info("Speech %d skips to character %d", speech.id, target)
        return self._restart(speech, target, speech.played)

    def volume(self) -> float:
        """The volume setting as a factor, 0 to 1."""
        return float(self._setting("volume")) / 100.0

    def _restart(self, speech: Utterance, at_char: int, at_sample: int) -> bool:
        """Render `speech` again from `at_char`, heard from `at_sample` on (what was queued
        beyond is dropped); when the sound has ended meanwhile, on a new output."""
        old_job, old_sink = speech.job_id, speech.sink
        speech.pending = False
        if speech.cut(at_sample, at_char) < 0:  # the sound drained meanwhile: go on in a new one
            self._stop(report=False)
            if self.speak(speech.text, speech.voice, at_char) is None:
                return False
            assert self._speech is not None
            self._speech.id = speech.id  # the same utterance for those who follow it
            return True
        self._drop(old_job, old_sink)
        if not self._render_from(speech, at_char, Sink(speech.output.player)):
            self.stop()
            return False
        return True

    def _apply_to_next_part(self) -> None:
        """A new speed or voice: the parts not heard yet are rendered again with it, from the
        first one that starts after what is heard now (once the runner has begun it)."""
        speech = self._speech
        if speech is None:
            return
        voice = self.voice() or speech.voice
        speed = float(self._setting("speed"))
        if (speech.speed, speech.voice) == (speed, voice):
            return
        speech.speed, speech.voice = speed, voice
        speech.pending = True
        self._restart_if_due(speech)

    def _restart_if_due(self, speech: Utterance) -> None:
        if not speech.pending:
            return
        part = speech.next_boundary()
        if part is not None:
            log.info("Speech %d: speed %.2f from character %d", speech.id, speech.speed, part.start)
            self._restart(speech, part.start, part.sample)
        elif speech.rendered:
            speech.pending = False  # every part is heard or being heard: nothing is left

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
            self._drop(speech.job_id, speech.sink)  # nothing is left to render for it
            log.info(
                "Speech %d ended: %.2f s rendered, %.2f s played, %.2f s waited for synthesis",
                speech.id,
                output.player.fed_samples / SAMPLE_RATE,
                output.played_samples / SAMPLE_RATE,
                output.starved_samples / SAMPLE_RATE,
            )
            self.reading_stopped.emit(speech.text, -1)
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
        if job_id in self._jobs:
            self._running = job_id
        if job_id not in self._jobs:
            self._api_running = job_id
            self._update_state()
        elif job_id in self._behind_api:
            self._behind_api.discard(job_id)
            self._update_state()

    @Slot(int, int, int, int)
    def _on_reading(self, job_id: int, start: int, end: int, sample: int) -> None:
        speech = self._speech
        if speech is not None and speech.job_id == job_id:
            speech.add_part(sample, start, end)
            self._restart_if_due(speech)

    def reading_range(self) -> tuple[int, int, int] | None:
        """(utterance id, first, end character) of the sentence being heard now, or None.

        Characters count in the text given to `speak`.
        """
        speech = self._speech
        if speech is None:
            return None
        heard = speech.listening().sentence
        return None if heard is None else (speech.id, *heard)

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if job_id not in self._jobs:
            return
        if self._is_speech(job_id):
            assert self._speech is not None
            offset = self._speech.offset_chars  # the job speaks the text from there on
            self.speech_progress.emit(done + offset, total + offset)
        self.job_progress.emit(job_id, done, total)

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        # A finished speech goes on sounding until the buffer drains; the output's `done` ends it.
        if self._other_job_ended(job_id):
            return
        if self._is_speech(job_id):
            assert self._speech is not None
            self._speech.rendered = True
            self._restart_if_due(self._speech)
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
        if self._engine_state == RunnerState.ERROR:
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
        self._dropped.discard(job_id)
        if self._running == job_id:
            self._running = None
        if self._load_job == job_id:
            self._load_job = None

    @Slot(str)
    def _on_engine_state(self, state: str) -> None:
        previous, self._engine_state = self._engine_state, RunnerState(state)
        if state == RunnerState.LOADING:
            self._detail = "Loading the model..."
        elif state == RunnerState.READY or (
            state == RunnerState.ERROR and previous == RunnerState.LOADING
        ):
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
        if self._behind_api and self._engine_state != RunnerState.LOADING:
            self._set_state(AppState.WORKING, WAITING_FOR_API)
            return
        if speech is not None and self._engine_state != RunnerState.LOADING:
            paused = speech.output.paused
            self._set_state(
                AppState.PAUSED if paused else AppState.SPEAKING,
                "Paused" if paused else "Speaking...",
            )
            return
        engine = self._engine_state
        if engine == RunnerState.LOADING:
            self._set_state(AppState.LOADING, self._detail or "Loading the model...")
        elif engine == RunnerState.ERROR:
            self._set_state(AppState.ERROR, self._detail or "The model could not be loaded.")
        elif self._saves:
            self._set_state(AppState.WORKING, "Saving...")
        elif self._api_running is not None and engine in (RunnerState.READY, RunnerState.BUSY):
            self._set_state(AppState.READY, "Ready; answering a speech API request...")
        elif engine == RunnerState.BUSY and self._running in self._dropped:
            # A stopped speech's job ends at its next chunk; the person need not wait for it.
            self._set_state(AppState.READY, "Ready")
        elif engine == RunnerState.BUSY:
            self._set_state(AppState.WORKING, "Working...")
        elif engine == RunnerState.READY:
            self._set_state(AppState.READY, "Ready")
        elif self.model_dir() is None:
            self._set_state(AppState.NO_MODEL, "Choose the model folder to start speaking.")
        else:
            self._set_state(AppState.UNLOADED, self._detail or "The model is not loaded.")

    def _set_state(self, state: AppState, detail: str) -> None:
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
        elif name == "speed":
            self._apply_to_next_part()
        elif name == "volume" and self._speech is not None:
            self._speech.output.player.volume = self.volume()

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
