"""Record a new voice with the microphone while the window shows a sentence to read."""

from __future__ import annotations

import logging
import os
import random
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer, Slot
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

log = logging.getLogger(__name__)

MAX_SECONDS = 30.0
MIN_SECONDS = 3.0
# Sentences with a good spread of sounds; the person may edit the text to match what they said.
SENTENCES = (
    "On a quiet morning the baker opened the shop, lit the oven, and waited for the first "
    "customers of the day.",
    "Reading aloud is easier when you breathe calmly and let each sentence find its own rhythm.",
    "Our train leaves at a quarter past nine, so pack the maps, the snacks and a warm jacket.",
    "Bright yellow kites danced above the harbour while the fishing boats came slowly home.",
    "Would you like a cup of tea, or shall we walk down to the river before it gets dark?",
)


class RecorderError(Exception):
    """No microphone could be opened; the message says what to do."""


class Recorder:
    """Mono float32 capture from the default input device, kept in memory (30 s at most)."""

    def __init__(self) -> None:
        self.sample_rate = 0
        self.level = 0.0  # peak of the latest block, 0..1, for the level meter
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._lock = threading.Lock()
        self._stream: Any = None

    @property
    def seconds(self) -> float:
        return self._frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def recording(self) -> bool:
        return self._stream is not None

    def start(self) -> None:
        """Open the default microphone and start capturing; RecorderError if there is none."""
        try:
            import sounddevice
        except (ImportError, OSError) as exc:
            raise RecorderError(
                "Recording needs the PortAudio library (on Debian/Ubuntu: sudo apt install "
                f"libportaudio2); add a voice from an audio file instead. ({exc})"
            ) from exc
        try:
            info = sounddevice.query_devices(kind="input")
            self.sample_rate = int(info["default_samplerate"])
            self._blocks, self._frames = [], 0
            stream = sounddevice.InputStream(
                samplerate=self.sample_rate, channels=1, dtype="float32", callback=self._callback
            )
            stream.start()
        except Exception as exc:
            log.warning("Could not open the microphone: %s", exc)
            raise RecorderError(
                "No microphone could be opened: connect one (and allow cosydesk to use it), or "
                f"add a voice from an audio file instead. ({exc})"
            ) from exc
        self._stream = stream

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

    def audio(self) -> np.ndarray:
        with self._lock:
            if not self._blocks:
                return np.zeros(0, dtype=np.float32)
            return np.concatenate(self._blocks)[: int(MAX_SECONDS * self.sample_rate)]

    def save(self, path: Path) -> Path:
        """Write the recording as a WAV file (atomically)."""
        from cosydesk.audio.wavfile import write_wav

        return write_wav(path, self.audio(), self.sample_rate, overwrite=True)


class RecordDialog(QDialog):
    """Shows a sentence, records while the person reads it, then hands over file + transcript."""

    def __init__(self, parent: QWidget | None = None, recorder: Recorder | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record a voice")
        self.resize(560, 360)
        self.recorder = recorder or Recorder()
        self.recording_path: Path | None = None
        form = QFormLayout(self)
        hint = QLabel(
            "Press Record, read the sentence below in your normal voice, then press Stop. "
            "A quiet room gives the best voice. Edit the text if you said something else."
        )
        hint.setWordWrap(True)
        form.addRow(hint)
        self.sentence_edit = QPlainTextEdit(random.choice(SENTENCES))
        font = self.sentence_edit.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.sentence_edit.setFont(font)
        self.another_button = QPushButton("Another sentence")
        self.another_button.clicked.connect(self._another)
        self.sentence_edit.setAccessibleDescription(
            "The sentence to read aloud while recording; edit it to match what you said"
        )
        self.sentence_edit.setTabChangesFocus(True)
        self.another_button.setAccessibleDescription("Show another sentence to read")
        form.addRow("Read t&his:", self.sentence_edit)  # Alt+R is Record's
        another = QHBoxLayout()
        another.addWidget(self.another_button)
        another.addStretch(1)
        form.addRow("", another)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("For example: My voice")
        form.addRow("&Name:", self.name_edit)
        row = QHBoxLayout()
        self.record_button = QPushButton("&Record")
        self.record_button.clicked.connect(self.toggle_recording)
        self.record_button.setAccessibleDescription(
            "Start recording with the microphone; press again to stop"
        )
        self.name_edit.setAccessibleDescription("The name the voice is listed under")
        self.level_bar = QProgressBar()
        self.level_bar.setRange(0, 100)
        self.level_bar.setTextVisible(False)
        self.level_bar.setAccessibleName("Microphone level")
        self.time_label = QLabel(f"0.0 s of {MAX_SECONDS:.0f} s")
        row.addWidget(self.record_button)
        row.addWidget(self.level_bar, 1)
        row.addWidget(self.time_label)
        form.addRow(row)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        form.addRow(self.message_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Add voice")
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

    def transcript(self) -> str:
        return self.sentence_edit.toPlainText().strip()

    @Slot()
    def toggle_recording(self) -> None:
        if self.recorder.recording:
            self._stop()
            return
        try:
            self.recorder.start()
        except RecorderError as exc:
            self.message_label.setText(str(exc))
            return
        self.message_label.setText("Recording... read the sentence now.")
        self.record_button.setText("&Stop")
        self.sentence_edit.setReadOnly(True)
        self._meter.start()
        self._update()

    def _stop(self) -> None:
        self.recorder.stop()
        self._meter.stop()
        self._refresh()
        self.record_button.setText("&Record again")
        self.sentence_edit.setReadOnly(False)
        seconds = self.recorder.seconds
        if seconds < MIN_SECONDS:
            self.message_label.setText(
                f"That was only {seconds:.1f} s: record at least {MIN_SECONDS:.0f} seconds."
            )
        else:
            self.message_label.setText(f"Recorded {seconds:.1f} s. Add the voice, or record again.")
        self._update()

    @Slot()
    def _refresh(self) -> None:
        self.level_bar.setValue(round(min(1.0, self.recorder.level) * 100))
        self.time_label.setText(f"{self.recorder.seconds:.1f} s of {MAX_SECONDS:.0f} s")
        if self.recorder.recording and self.recorder.seconds >= MAX_SECONDS:
            self._stop()

    @Slot()
    def _another(self) -> None:
        choices = [s for s in SENTENCES if s != self.transcript()]
        self.sentence_edit.setPlainText(random.choice(choices))

    @Slot()
    def _update(self) -> None:
        has_audio = not self.recorder.recording and self.recorder.seconds >= MIN_SECONDS
        self.ok_button.setEnabled(has_audio and bool(self.name() and self.transcript()))

    def accept(self) -> None:
        """Write the recording to a temporary WAV file (the caller removes it) and close."""
        fd, name = tempfile.mkstemp(prefix="cosydesk-recording-", suffix=".wav")
        os.close(fd)
        try:
            self.recording_path = self.recorder.save(Path(name))
        except OSError as exc:
            Path(name).unlink(missing_ok=True)
            self.message_label.setText(f"The recording could not be written: {exc}")
            return
        super().accept()

    def reject(self) -> None:
        self.recorder.stop()
        self._meter.stop()
        super().reject()
