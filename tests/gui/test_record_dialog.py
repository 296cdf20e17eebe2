"""Recording a voice: the sentence to read, Record/Stop, the length checks, the WAV it writes.

The microphone is faked at the sounddevice boundary: an input stream whose `deliver(seconds)`
plays the sound card's part and calls the callback as PortAudio would.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from cosydesk.gui.record_dialog import MAX_SECONDS, SENTENCES, RecordDialog
from tests.audio.fake_sounddevice import FakeSoundDevice


class FakeInputStream:
    def __init__(self, samplerate: float, channels: int, dtype: str, callback: Any) -> None:
        self.samplerate, self.callback = int(samplerate), callback
        self.active = self.closed = False

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.closed = True

    def deliver(self, seconds: float) -> None:
        """Blocks of 100 ms of a spoken-like tone, as the card would hand them over."""
        block = self.samplerate // 10
        for _ in range(round(seconds * 10)):
            t = np.arange(block) / self.samplerate
            data = (0.25 * np.sin(2 * np.pi * 200 * t)).astype(np.float32).reshape(-1, 1)
            self.callback(data, block, None, 0)


class FakeMicrophone(FakeSoundDevice):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[FakeInputStream] = []

    def query_devices(self, device: int | None = None, kind: str | None = None) -> Any:
        if kind == "input":
            return self.devices[0]  # the fake's "Built-in Microphone", 48 kHz
        return super().query_devices(device, kind)

    def InputStream(self, **kwargs: Any) -> FakeInputStream:  # sounddevice spells it so
        stream = FakeInputStream(**kwargs)
        self.inputs.append(stream)
        return stream


@pytest.fixture
def mic(monkeypatch: pytest.MonkeyPatch) -> FakeMicrophone:
    fake = FakeMicrophone()
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return fake


@pytest.fixture
def dialog(qtbot: QtBot) -> RecordDialog:
    dialog = RecordDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_it_shows_a_sentence_to_read(dialog: RecordDialog) -> None:
    assert dialog.transcript() in SENTENCES
    first = dialog.transcript()
    dialog.another_button.click()
    assert dialog.transcript() in SENTENCES and dialog.transcript() != first


def test_record_then_add_writes_the_clip_and_keeps_the_sentence(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert dialog.record_button.text() == "&Stop" and dialog.sentence_edit.isReadOnly()
    mic.inputs[-1].deliver(4.0)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert mic.inputs[-1].closed
    assert "Recorded 4.0 s" in dialog.message_label.text()
    assert not dialog.ok_button.isEnabled()  # no name yet
    qtbot.keyClicks(dialog.name_edit, "My voice")
    assert dialog.ok_button.isEnabled()
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    path = dialog.recording_path
    assert path is not None
    try:
        audio, rate = soundfile.read(path)
        assert rate == 48000 and len(audio) == 4 * 48000
    finally:
        Path(path).unlink()


def test_a_recording_that_is_too_short_cannot_be_added(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    qtbot.keyClicks(dialog.name_edit, "Short")
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    mic.inputs[-1].deliver(1.0)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert "only 1.0 s" in dialog.message_label.text()
    assert not dialog.ok_button.isEnabled()


def test_recording_stops_by_itself_at_the_limit(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    mic.inputs[-1].deliver(MAX_SECONDS + 2)
    qtbot.waitUntil(lambda: not dialog.recorder.recording, timeout=3000)
    assert dialog.recorder.seconds == MAX_SECONDS
    assert dialog.record_button.text() == "&Record again"


def test_without_a_microphone_it_says_what_to_do(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_input(**kwargs: Any) -> None:
        raise mic.PortAudioError("Error querying device -1")

    monkeypatch.setattr(mic, "InputStream", no_input)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert "No microphone could be opened" in dialog.message_label.text()
    assert "audio file instead" in dialog.message_label.text()
    assert dialog.record_button.text() == "&Record"
