"""Record a new voice with the microphone while the window shows a sentence to read.

The person records 5 to 15 seconds (Stop is offered after 5 s, and the recording stops by itself
at 15 s), listens to it, records it again if they like, and saves it. The microphone is read at
its own rate and the clip is resampled to the model's 24 kHz before it is heard or saved.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from cosydesk.gui.i18n import QT_TRANSLATE_NOOP

log = logging.getLogger(__name__)

# A clip of 5-15 s gives the model enough of the voice; longer ones slow every request down.
MAX_SECONDS = 15.0
MIN_SECONDS = 5.0
# The model's own rate: the frontend takes every clip to 24 kHz (and 16 kHz), so nothing above it
# is used, and a 16 kHz headset gives a clip that the library accepts.
CLIP_RATE = 24000
# Sentences with a good spread of sounds; the person may edit the text to match what they said.
# They are translated too: a person records their voice reading their own language.
SENTENCES = (
    QT_TRANSLATE_NOOP(
        "RecordDialog",
        "On a quiet morning the baker opened the shop, lit the oven, and waited for the first "
        "customers of the day.",
    ),
    QT_TRANSLATE_NOOP(
        "RecordDialog",
        "Reading aloud is easier when you breathe calmly and let each sentence find its own "
        "rhythm.",
    ),
    QT_TRANSLATE_NOOP(
        "RecordDialog",
        "Our train leaves at a quarter past nine, so pack the maps, the snacks and a warm jacket.",
    ),
    QT_TRANSLATE_NOOP(
        "RecordDialog",
        "Bright yellow kites danced above the harbour while the fishing boats came slowly home.",
    ),
    QT_TRANSLATE_NOOP(
        "RecordDialog",
        "Would you like a cup of tea, or shall we walk down to the river before it gets dark?",
    ),
)


def sentences() -> list[str]:
    """The sentences to read, in the interface's language."""
    return [QCoreApplication.translate("RecordDialog", text) for text in SENTENCES]


class RecorderError(Exception):
    """No microphone could be opened; the message says what to do."""


class Recorder:
    """Mono float32 capture from the default input device, kept in memory (MAX_SECONDS)."""

    def __init__(self) -> None:
        self.sample_rate = 0
        self.device_name = ""
        self.level = 0.0  # peak of the latest block, 0..1, for the level meter
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._lock = threading.Lock()
        self._stream: Any = None
        self._clip: np.ndarray | None = None  # the recording at CLIP_RATE, made once

    @property
    def seconds(self) -> float:
        return self._frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def recording(self) -> bool:
        return self._stream is not None

    @property
    def alive(self) -> bool:
        """False once the input stream has ended on its own (the microphone went away)."""
        stream = self._stream
        return stream is None or bool(getattr(stream, "active", True))

    def start(self) -> None:
        """Open the default microphone and start capturing; RecorderError if there is none."""
        try:
            import sounddevice
        except (ImportError, OSError) as exc:
            raise RecorderError(
                QCoreApplication.translate(
                    "RecordDialog",
                    "Recording needs the PortAudio library (on Debian/Ubuntu: sudo apt install "
                    "libportaudio2); add a voice from an audio file instead. ({})",
                ).format(exc)
            ) from exc
        try:
            info = sounddevice.query_devices(kind="input")
            self.device_name = str(info.get("name", ""))
            self.sample_rate = int(info["default_samplerate"])
            self._blocks, self._frames, self._clip = [], 0, None
            stream = sounddevice.InputStream(
                samplerate=self.sample_rate, channels=1, dtype="float32", callback=self._callback
            )
            stream.start()
        except Exception as exc:
            log.warning("Could not open the microphone: %s", exc)
            raise RecorderError(
                QCoreApplication.translate(
                    "RecordDialog",
                    "No microphone could be opened: connect one, close any program that holds it "
                    "(and allow cosydesk to use it), or add a voice from an audio file instead. "
                    "({})",
                ).format(exc)
            ) from exc
        self._stream = stream
        # The resampler needs torch, which takes seconds to import the first time: import it
        # while the person speaks, not when they press Listen or Save.
        threading.Thread(target=_import_torch, name="warm-resampler", daemon=True).start()

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        # Runs on the audio thread: copy the block, nothing else.
        block = np.array(indata, dtype=np.float32).reshape(-1)
        with self._lock:
            if self._frames >= MAX_SECONDS * self.sample_rate:
                return
            self._blocks.append(block)
            self._frames += block.shape[0]
        self.level = float(np.abs(block).max()) if block.size else 0.0

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.stop()
            stream.close()
        except Exception:
            log.exception("The microphone did not close cleanly")
        log.info(
            "Recorded %.1f s at %d Hz from %r, peak %.4f",
            self.seconds,
            self.sample_rate,
            self.device_name,
            self.peak,
        )

    @property
    def peak(self) -> float:
        """The loudest sample of the recording, 0..1."""
        audio = self.audio()
        return float(np.abs(audio).max()) if audio.size else 0.0

    def audio(self) -> np.ndarray:
        with self._lock:
            if not self._blocks:
                return np.zeros(0, dtype=np.float32)
            return np.concatenate(self._blocks)[: int(MAX_SECONDS * self.sample_rate)]

    def clip(self) -> np.ndarray:
        """The recording resampled to CLIP_RATE (what is heard back and saved)."""
        if self._clip is None or self.recording:
            audio = self.audio()
            if self.sample_rate and self.sample_rate != CLIP_RATE and audio.size:
                import torch

                from cosydesk.engine.prompt.audio_features import resample

                audio = resample(torch.from_numpy(audio), self.sample_rate, CLIP_RATE).numpy()
            self._clip = np.clip(audio, -1.0, 1.0).astype(np.float32)
        return self._clip

    def save(self, path: Path) -> Path:
        """Write the recording as a CLIP_RATE WAV file (atomically)."""
        from cosydesk.audio.wavfile import write_wav

        return write_wav(path, self.clip(), CLIP_RATE, overwrite=True)


def _import_torch() -> None:
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401


class RecordDialog(QDialog):
    """Shows a sentence, records while the person reads it, plays it back, then hands over the
    saved file and the transcript (`recording_path`, `transcript()`, `name()`)."""

    listening_changed = Signal(bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        recorder: Recorder | None = None,
        *,
        name: str = "",
        output_device: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Record a voice"))
        self.resize(560, 380)
        self.recorder = recorder or Recorder()
        self.recording_path: Path | None = None
        self.output_device = output_device
        self._output: Any = None  # the SpeechOutput playing the recording back
        form = QFormLayout(self)
        hint = QLabel(
            self.tr(
                "Press Record and read the sentence below in your normal voice: 5 to 15 seconds "
                "(Stop works after 5 s; at 15 s the recording stops by itself). Listen to it, "
                "record it again if you like, then save it. Edit the text if you said something "
                "else."
            )
        )
        hint.setWordWrap(True)
        form.addRow(hint)
        self.sentence_edit = QPlainTextEdit(random.choice(sentences()))
        font = self.sentence_edit.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.sentence_edit.setFont(font)
        self.another_button = QPushButton(self.tr("Another sentence"))
        self.another_button.clicked.connect(self._another)
        self.sentence_edit.setAccessibleDescription(
            self.tr("The sentence to read aloud while recording; edit it to match what you said")
        )
        self.sentence_edit.setTabChangesFocus(True)
        self.another_button.setAccessibleDescription(self.tr("Show another sentence to read"))
        form.addRow(self.tr("Read t&his:"), self.sentence_edit)  # Alt+R is Record's
        another = QHBoxLayout()
        another.addWidget(self.another_button)
        another.addStretch(1)
        form.addRow("", another)
        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText(self.tr("For example: My voice"))
        form.addRow(self.tr("&Name:"), self.name_edit)
        row = QHBoxLayout()
        self.record_button = QPushButton(self.tr("&Record"))
        self.record_button.clicked.connect(self.toggle_recording)
        self.record_button.setAccessibleDescription(
            self.tr("Start recording with the microphone; press again to stop")
        )
        self.name_edit.setAccessibleDescription(self.tr("The name the voice is listed under"))
        self.level_bar = QProgressBar()
        self.level_bar.setRange(0, 100)
        self.level_bar.setTextVisible(False)
        self.level_bar.setAccessibleName(self.tr("Microphone level"))
        self.time_label = QLabel(self._time_text(0.0))
        self.listen_button = QPushButton(self.tr("&Listen"))
        self.listen_button.setAccessibleDescription(self.tr("Play the recording back"))
        self.listen_button.setEnabled(False)
        self.listen_button.clicked.connect(self.toggle_listening)
        row.addWidget(self.record_button)
        row.addWidget(self.level_bar, 1)
        row.addWidget(self.time_label)
        row.addWidget(self.listen_button)
        form.addRow(row)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        form.addRow(self.message_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("&Save voice"))
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.name_edit.textChanged.connect(self._update)
        self.sentence_edit.textChanged.connect(self._update)
        self._meter = QTimer(self)
        self._meter.setInterval(100)
        self._meter.timeout.connect(self._refresh)

    def name(self) -> str:
        return self.name_edit.text().strip()

    def _time_text(self, seconds: float) -> str:
        return self.tr("{seconds:.1f} s of {most:.0f} s").format(seconds=seconds, most=MAX_SECONDS)

    def transcript(self) -> str:
        return self.sentence_edit.toPlainText().strip()

    @property
    def listening(self) -> bool:
        return self._output is not None

    @Slot()
    def toggle_recording(self) -> None:
        """Record (again), or Stop once MIN_SECONDS are in."""
        if self.recorder.recording:
            if self.recorder.seconds >= MIN_SECONDS:
                self._stop()
            return
        self.stop_listening()
        try:
            self.recorder.start()
        except RecorderError as exc:
            self.message_label.setText(str(exc))
            return
        self.message_label.setText(self.tr("Recording... read the sentence now."))
        self.record_button.setText(self.tr("S&top"))  # Alt+S is Save
        self.record_button.setEnabled(False)  # until MIN_SECONDS are in
        self.listen_button.setEnabled(False)
        self.sentence_edit.setReadOnly(True)
        self._meter.start()
        self._update()

    def _stop(self) -> None:
        self.recorder.stop()
        self._meter.stop()
        self._refresh()
        self.record_button.setText(self.tr("Re&take"))
        self.record_button.setEnabled(True)
        self.sentence_edit.setReadOnly(False)
        seconds = self.recorder.seconds
        if seconds < MIN_SECONDS:  # the microphone went away mid-way
            self.message_label.setText(
                self.tr(
                    "The microphone stopped after {seconds:.1f} s: check it and record again "
                    "(at least {least:.0f} seconds)."
                ).format(seconds=seconds, least=MIN_SECONDS)
            )
        elif self.silent:
            self.message_label.setText(
                self.tr(
                    "Nothing was heard: the microphone may be muted or turned down, or another "
                    "input is chosen in the system's sound settings. Check it and record again."
                )
            )
        else:
            self.message_label.setText(
                self.tr("Recorded {:.1f} s. Listen to it, retake it, or save the voice.").format(
                    seconds
                )
            )
        self.listen_button.setEnabled(seconds > 0)
        self._update()

    @Slot()
    def _refresh(self) -> None:
        seconds = self.recorder.seconds
        self.level_bar.setValue(round(min(1.0, self.recorder.level) * 100))
        self.time_label.setText(self._time_text(seconds))
        if self.recorder.recording:
            self.record_button.setEnabled(seconds >= MIN_SECONDS)
            if seconds >= MAX_SECONDS or not self.recorder.alive:
                self._stop()

    @Slot()
    def toggle_listening(self) -> None:
        """Play the recording as it will be saved; pressed again, stop playing."""
        if self.listening:
            self.stop_listening()
            return
        from cosydesk.audio.playback import AudioDeviceError
        from cosydesk.gui.speech_output import SpeechOutput

        try:
            output = SpeechOutput(self.output_device)
        except AudioDeviceError as exc:
            self.message_label.setText(str(exc))
            return
        output.done.connect(self._on_played)
        output.failed.connect(self._on_play_failed)
        self._output = output
        output.feed(self.recorder.clip())
        output.finish()
        self.listen_button.setText(self.tr("Stop &listening"))
        self.listening_changed.emit(True)

    def stop_listening(self) -> None:
        output, self._output = self._output, None
        if output is None:
            return
        output.stop()
        self.listen_button.setText(self.tr("&Listen"))
        self.listening_changed.emit(False)

    @Slot(object)
    def _on_played(self, output: object) -> None:
        if output is self._output:
            self.stop_listening()

    @Slot(object, str)
    def _on_play_failed(self, output: object, message: str) -> None:
        if output is self._output:
            self.stop_listening()
            self.message_label.setText(message)

    @Slot()
    def _another(self) -> None:
        choices = [s for s in sentences() if s != self.transcript()]
        self.sentence_edit.setPlainText(random.choice(choices))

    @property
    def silent(self) -> bool:
        """Whether the recording is too quiet for the library to take it as a voice."""
        from cosydesk.engine.prompt.frontend import SILENCE_PEAK

        return self.recorder.peak < SILENCE_PEAK

    @Slot()
    def _update(self) -> None:
        has_audio = not self.recorder.recording and self.recorder.seconds >= MIN_SECONDS
        has_audio = has_audio and not self.silent
        self.ok_button.setEnabled(has_audio and bool(self.name() and self.transcript()))

    def accept(self) -> None:
        """Write the recording to a temporary WAV file (the caller removes it) and close."""
        self.stop_listening()
        fd, name = tempfile.mkstemp(prefix="cosydesk-recording-", suffix=".wav")
        os.close(fd)
        try:
            self.recording_path = self.recorder.save(Path(name))
        except OSError as exc:
            Path(name).unlink(missing_ok=True)
            self.message_label.setText(
                self.tr("The recording could not be written: {}").format(exc)
            )
            return
        super().accept()

    def reject(self) -> None:
        self.recorder.stop()
        self._meter.stop()
        self.stop_listening()
        super().reject()
