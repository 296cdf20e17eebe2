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


def _record(qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone, seconds: float) -> None:
    """Press Record, speak `seconds` into the microphone, press Stop (enabled after 5 s)."""
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    mic.inputs[-1].deliver(seconds)
    qtbot.waitUntil(dialog.record_button.isEnabled, timeout=3000)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)


def test_record_then_save_writes_a_24khz_clip_and_keeps_the_sentence(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert dialog.record_button.text() == "S&top" and dialog.sentence_edit.isReadOnly()
    mic.inputs[-1].deliver(6.0)
    qtbot.waitUntil(dialog.record_button.isEnabled, timeout=3000)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert mic.inputs[-1].closed
    assert "Recorded 6.0 s" in dialog.message_label.text()
    assert dialog.record_button.text() == "Re&take"
    assert not dialog.ok_button.isEnabled()  # no name yet
    qtbot.keyClicks(dialog.name_edit, "My voice")
    assert dialog.ok_button.isEnabled() and dialog.ok_button.text() == "&Save voice"
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    path = dialog.recording_path
    assert path is not None
    try:
        audio, rate = soundfile.read(path)
        # Read at the microphone's 48 kHz, saved at the model's 24 kHz: the same 6 s of a 200 Hz
        # tone, not a copy at the wrong speed.
        assert rate == 24000 and len(audio) == 6 * 24000
        spectrum = np.abs(np.fft.rfft(audio))
        assert abs(np.argmax(spectrum) * rate / len(audio) - 200) < 2
    finally:
        Path(path).unlink()


def test_stop_waits_for_five_seconds(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    qtbot.keyClicks(dialog.name_edit, "Short")
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    mic.inputs[-1].deliver(3.0)
    qtbot.waitUntil(lambda: dialog.time_label.text().startswith("3.0 s"), timeout=3000)
    assert not dialog.record_button.isEnabled() and dialog.recorder.recording
    assert not dialog.ok_button.isEnabled() and not dialog.listen_button.isEnabled()
    mic.inputs[-1].deliver(2.0)
    qtbot.waitUntil(dialog.record_button.isEnabled, timeout=3000)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert not dialog.recorder.recording and dialog.ok_button.isEnabled()


def test_recording_stops_by_itself_at_fifteen_seconds(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    assert MAX_SECONDS == 15
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    mic.inputs[-1].deliver(MAX_SECONDS + 2)
    qtbot.waitUntil(lambda: not dialog.recorder.recording, timeout=3000)
    assert dialog.recorder.seconds == MAX_SECONDS
    assert dialog.record_button.text() == "Re&take"


def test_listen_plays_the_recording_and_retake_replaces_it(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    _record(qtbot, dialog, mic, 5.0)
    assert dialog.listen_button.isEnabled()
    qtbot.mouseClick(dialog.listen_button, Qt.MouseButton.LeftButton)
    assert dialog.listen_button.text() == "Stop &listening"
    speaker = mic.streams[-1]
    assert speaker.samplerate == 24000
    heard = speaker.drain(frames=2400)
    assert np.count_nonzero(heard) > 4.9 * 24000  # the whole recording came out
    qtbot.waitUntil(lambda: dialog.listen_button.text() == "&Listen", timeout=3000)

    _record(qtbot, dialog, mic, 7.0)  # Retake
    assert len(mic.inputs) == 2 and "Recorded 7.0 s" in dialog.message_label.text()
    assert len(dialog.recorder.clip()) == 7 * 24000


def test_the_microphone_going_away_mid_recording_is_said(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    mic.inputs[-1].deliver(2.0)
    mic.inputs[-1].active = False  # PortAudio ended the stream: the device was unplugged
    qtbot.waitUntil(lambda: not dialog.recorder.recording, timeout=3000)
    assert "The microphone stopped after 2.0 s" in dialog.message_label.text()
    assert dialog.record_button.isEnabled() and not dialog.ok_button.isEnabled()


def test_a_silent_recording_is_said_at_once_and_cannot_be_saved(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone
) -> None:
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    stream = mic.inputs[-1]
    for _ in range(60):  # 6 s of a muted microphone
        stream.callback(np.zeros((4800, 1), np.float32), 4800, None, 0)
    qtbot.waitUntil(dialog.record_button.isEnabled, timeout=3000)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert "Nothing was heard" in dialog.message_label.text()
    qtbot.keyClicks(dialog.name_edit, "Muted")
    assert not dialog.ok_button.isEnabled()


def test_without_a_microphone_it_says_what_to_do(
    qtbot: QtBot, dialog: RecordDialog, mic: FakeMicrophone, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(**kwargs: Any) -> None:
        raise mic.PortAudioError("Device unavailable [PaErrorCode -9985]")

    monkeypatch.setattr(mic, "InputStream", busy)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert "No microphone could be opened" in dialog.message_label.text()
    assert "audio file instead" in dialog.message_label.text()
    assert dialog.record_button.text() == "&Record" and dialog.record_button.isEnabled()
    monkeypatch.undo()  # the other program let go of it: the dialog still records
    monkeypatch.setitem(sys.modules, "sounddevice", mic)
    _record(qtbot, dialog, mic, 5.0)
    assert "Recorded 5.0 s" in dialog.message_label.text()
