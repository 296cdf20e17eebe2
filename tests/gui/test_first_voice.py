"""The first-run dialog's voice step: a first start with no voices ends with a voice that
speaks, recorded, from a file, or the starter voice that the model download fetched; a voice
is whole or absent. Real widgets, the real runner and the tiny model; the sound card is the
fake at the sounddevice boundary (the desktop journey records from a real PulseAudio)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from cosydesk.gui.add_voice_dialog import AddVoiceDialog
from cosydesk.gui.first_run import FirstRunDialog
from cosydesk.gui.record_dialog import RecordDialog
from tests.audio.fake_sounddevice import FakeSoundDevice
from tests.gui.conftest import write_clip

PREPARED = 120000  # ms: the tiny model loads, then the voice's features are computed


@pytest.fixture
def settings_cpu(settings):
    settings.set("device", "cpu")
    settings.set("quantization", "none")
    return settings


@pytest.fixture
def first_run(qtbot: QtBot, make_controller, settings_cpu, tmp_path: Path):
    """A first start: no model chosen, no voices; the runner is running."""

    def make(starter_dir: Path | None = None) -> FirstRunDialog:
        controller = make_controller(settings_cpu)
        controller.start()
        dialog = FirstRunDialog(
            settings_cpu, controller=controller, starter_dir=starter_dir or tmp_path / "starter"
        )
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def _choose_model(qtbot: QtBot, dialog: FirstRunDialog, folder: Path) -> None:
    dialog.path_edit.setText(str(folder))
    assert dialog.check()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def _speak_into(sd: FakeSoundDevice, seconds: float, rate: int = 48000) -> None:
    """`seconds` of a voiced-sounding tone from the microphone, in 100 ms blocks."""
    stream = sd.input_streams[-1]
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 160 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    for block in np.array_split(wave.astype(np.float32), int(seconds * 10)):
        stream.push(block)


def _leftovers(library) -> list[str]:
    root = library.root
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_a_first_start_ends_with_a_recorded_voice_that_speaks(
    qtbot: QtBot, first_run, tiny_model: Path, sd: FakeSoundDevice, library
) -> None:
    dialog = first_run()
    _choose_model(qtbot, dialog, tiny_model)
    page = dialog.voice_page
    assert dialog.isVisible() and dialog.pages.currentWidget() is page
    stored = json.loads(Path(dialog.settings.path).read_text())
    assert stored["model_dir"] == str(tiny_model)  # the model loads while the voice is made
    assert not stored.get("first_run_done")
    assert page.finish_button.text() == "S&kip for now" and not page.try_button.isEnabled()

    qtbot.mouseClick(page.record_button, Qt.MouseButton.LeftButton)
    record = page.findChild(RecordDialog)
    assert record is not None and record.isVisible() and record.name() == "My voice"
    sentence = record.transcript()
    qtbot.mouseClick(record.record_button, Qt.MouseButton.LeftButton)
    _speak_into(sd, 6.0)
    qtbot.waitUntil(record.record_button.isEnabled, timeout=3000)
    qtbot.mouseClick(record.record_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(page.voice_added, timeout=PREPARED):
        qtbot.mouseClick(record.ok_button, Qt.MouseButton.LeftButton)
        assert "Preparing the voice 'My voice'" in page.status_label.text()
        assert not page.record_button.isEnabled() and page.cancel_button.isVisible()

    info = library.info("My voice")
    assert info.transcript == sentence and abs(info.duration_s - 6.0) < 0.01
    assert list(info.folder.glob("features-*.npz"))  # prepared with the model: whole
    assert _leftovers(library) == [info.folder.name]  # the temporary recording is gone too
    assert dialog.settings.get("default_voice") == "My voice"
    assert "is ready and is your default voice" in page.status_label.text()

    with qtbot.waitSignal(page.controller.job_finished, timeout=60000):
        qtbot.mouseClick(page.try_button, Qt.MouseButton.LeftButton)
    heard = sd.streams[-1].pull(24000)
    assert np.abs(heard).max() > 0  # the new voice reached the sound card
    page.controller.stop()

    assert page.finish_button.text() == "&Finish"
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        qtbot.mouseClick(page.finish_button, Qt.MouseButton.LeftButton)
    assert json.loads(Path(dialog.settings.path).read_text())["first_run_done"] is True


def test_a_clip_from_a_file_with_its_transcript(
    qtbot: QtBot, first_run, tiny_model: Path, library, tmp_path: Path
) -> None:
    dialog = first_run()
    _choose_model(qtbot, dialog, tiny_model)
    page = dialog.voice_page
    qtbot.mouseClick(page.file_button, Qt.MouseButton.LeftButton)
    add = page.findChild(AddVoiceDialog)
    assert add is not None and add.isVisible()
    clip = write_clip(tmp_path / "grandma.wav", seconds=4)
    qtbot.keyClicks(add.name_edit, "Grandma")
    qtbot.keyClicks(add.file_edit, str(clip))
    qtbot.keyClicks(add.transcript_edit, "Once upon a time there was a fox.")
    with qtbot.waitSignal(page.voice_added, timeout=PREPARED):
        qtbot.mouseClick(add.ok_button, Qt.MouseButton.LeftButton)
    assert library.info("Grandma").transcript == "Once upon a time there was a fox."
    assert clip.exists()  # the person's own file is never removed


def test_a_clip_the_library_refuses_leaves_nothing_and_the_step_goes_on(
    qtbot: QtBot, first_run, tiny_model: Path, library, tmp_path: Path
) -> None:
    dialog = first_run()
    _choose_model(qtbot, dialog, tiny_model)
    page = dialog.voice_page
    page.add_from_file()
    add = page.add_dialog
    add.name_edit.setText("Too long")
    add.file_edit.setText(str(write_clip(tmp_path / "long.wav", seconds=31)))
    add.transcript_edit.setPlainText("Far too long.")
    with qtbot.waitSignal(page.controller.job_failed, timeout=PREPARED):
        add.accept()
    assert page.status_label.text().startswith("The voice 'Too long' was not added.")
    assert "30 s" in page.status_label.text()
    assert library.list() == [] and _leftovers(library) == []
    assert page.record_button.isEnabled() and page.file_button.isEnabled()
    assert page.finish_button.text() == "S&kip for now"


def test_the_starter_voice_is_offered_only_when_it_was_fetched(
    qtbot: QtBot, first_run, tiny_model: Path, library, starter, tmp_path: Path
) -> None:
    from cosydesk.starter_voices import STARTER_VOICES, fetch_starter_voices

    shelf = tmp_path / "starter"
    dialog = first_run(shelf)
    _choose_model(qtbot, dialog, tiny_model)
    page = dialog.voice_page
    assert not page.starter_button.isEnabled()
    assert "could not be fetched" in page.starter_label.text()

    assert fetch_starter_voices(shelf) == []  # as `cosydesk download` does
    page.refresh_starter()
    assert page.starter_button.isEnabled()
    assert "Mandarin" in page.starter_label.text()
    with qtbot.waitSignal(page.voice_added, timeout=PREPARED):
        qtbot.mouseClick(page.starter_button, Qt.MouseButton.LeftButton)
    voice = STARTER_VOICES[0]
    info = library.info(voice.name)
    assert info.transcript == "希望你以后能够做的比我还好呦。"
    assert (shelf / voice.filename).exists()  # kept: it can be added again later


def test_skipping_while_a_voice_is_prepared_leaves_no_half_voice(
    qtbot: QtBot, first_run, tiny_model: Path, library, tmp_path: Path
) -> None:
    dialog = first_run()
    _choose_model(qtbot, dialog, tiny_model)
    page = dialog.voice_page
    page.add("Halfway", write_clip(tmp_path / "half.wav", seconds=4), "Half a voice.")
    assert page.adding.busy
    with qtbot.waitSignal(page.controller.job_cancelled, timeout=PREPARED):
        qtbot.mouseClick(page.finish_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and dialog.settings.get("first_run_done") is True
    assert library.list() == [] and _leftovers(library) == []


def test_with_voices_already_the_model_is_the_only_step(
    qtbot: QtBot, first_run, tiny_model: Path, library, clip: Path
) -> None:
    library.add("Existing", clip, "Already here.")
    dialog = first_run()
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        _choose_model(qtbot, dialog, tiny_model)
    assert dialog.settings.get("first_run_done") is True


def test_the_download_brings_the_starter_voice_to_the_voice_step(
    qtbot: QtBot, first_run, hub, starter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    dialog = first_run(tmp_path / "starter")
    with qtbot.waitSignal(dialog.download_finished, timeout=60000):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert dialog.ok_button.isEnabled()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.pages.currentWidget() is dialog.voice_page
    assert dialog.voice_page.starter_button.isEnabled()


def test_a_starter_voice_that_could_not_be_fetched_is_a_note_not_a_failure(
    qtbot: QtBot, first_run, hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    dialog = first_run()
    with qtbot.waitSignal(dialog.download_finished, timeout=60000) as blocker:
        dialog.start_download()
    assert blocker.args == ["done"] and dialog.ok_button.isEnabled()
    text = dialog.result_label.text()
    assert "This is a CosyVoice3 model folder" in text
    assert "The starter voice could not be fetched" in text
