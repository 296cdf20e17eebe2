"""The voice library dialog: list, rename, delete, default, and adding a voice with the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox
from pytestqt.qtbot import QtBot

from cosydesk.gui.add_voice_dialog import AddVoiceDialog
from cosydesk.gui.voices_dialog import TRY_TEXT, VoicesDialog
from tests.helpers import write_clip


def _dialog(qtbot: QtBot, controller) -> VoicesDialog:
    dialog = VoicesDialog(controller)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


@pytest.fixture
def two_voices(library, tmp_path: Path):
    library.add("Alice", write_clip(tmp_path / "a.wav", seconds=2.5), "Alice speaking here.")
    library.add("Bob", write_clip(tmp_path / "b.wav", freq=150), "Bob speaking here.")
    return library


@pytest.fixture
def dialog(qtbot: QtBot, make_controller, settings, two_voices) -> VoicesDialog:
    settings.set("default_voice", "Bob")
    return _dialog(qtbot, make_controller(settings))


def _select(dialog: VoicesDialog, name: str) -> None:
    dialog.list.setCurrentRow(dialog.names().index(name))


def _labels(dialog: VoicesDialog) -> list[str]:
    return [dialog.list.item(i).text() for i in range(dialog.list.count())]


def test_the_list_shows_each_voice_its_length_and_the_default(dialog: VoicesDialog) -> None:
    assert _labels(dialog) == ["Alice  (2.5 s)", "Bob  (2.0 s)  - default"]
    _select(dialog, "Alice")
    assert "Alice speaking here." in dialog.details.text()


def test_an_empty_library_explains_what_a_voice_is(qtbot: QtBot, make_controller, settings) -> None:
    dialog = _dialog(qtbot, make_controller(settings))
    assert dialog.list.count() == 0
    assert "record your own voice" in dialog.details.text()
    assert not dialog.rename_button.isEnabled() and not dialog.delete_button.isEnabled()


def test_rename_keeps_the_default_pointing_at_the_voice(
    qtbot: QtBot, dialog: VoicesDialog, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Robert", True))
    _select(dialog, "Bob")
    with qtbot.waitSignal(dialog.voices_changed, timeout=1000):
        qtbot.mouseClick(dialog.rename_button, Qt.MouseButton.LeftButton)
    assert dialog.names() == ["Alice", "Robert"]
    assert settings.get("default_voice") == "Robert"
    assert json.loads(Path(settings.path).read_text())["default_voice"] == "Robert"


def test_renaming_onto_another_voice_is_refused_with_a_sentence(
    qtbot: QtBot, dialog: VoicesDialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Alice", True))
    _select(dialog, "Bob")
    qtbot.mouseClick(dialog.rename_button, Qt.MouseButton.LeftButton)
    assert "exists already" in dialog.error_box.text()
    assert dialog.names() == ["Alice", "Bob"]


def test_delete_asks_first(
    qtbot: QtBot, dialog: VoicesDialog, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a: answers.pop(0))
    _select(dialog, "Bob")
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert dialog.names() == ["Alice", "Bob"]
    with qtbot.waitSignal(dialog.voices_changed, timeout=1000):
        qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert dialog.names() == ["Alice"]
    assert settings.get("default_voice") == ""  # the default went with it


def test_use_as_default_is_saved(qtbot: QtBot, dialog: VoicesDialog, settings) -> None:
    _select(dialog, "Alice")
    qtbot.mouseClick(dialog.default_button, Qt.MouseButton.LeftButton)
    assert json.loads(Path(settings.path).read_text())["default_voice"] == "Alice"
    assert _labels(dialog)[0] == "Alice  (2.5 s)  - default"


def _fill_add_dialog(qtbot: QtBot, voices: VoicesDialog, name: str, clip: Path, text: str):
    qtbot.mouseClick(voices.add_button, Qt.MouseButton.LeftButton)
    add = voices.findChild(AddVoiceDialog)
    assert add is not None and add.isVisible()
    assert not add.ok_button.isEnabled()
    qtbot.keyClicks(add.name_edit, name)
    qtbot.keyClicks(add.file_edit, str(clip))
    qtbot.keyClicks(add.transcript_edit, text)
    assert add.ok_button.isEnabled()
    return add


def test_adding_a_voice_from_a_file_prepares_it_with_the_model(
    qtbot: QtBot, make_controller, use_model, library, tmp_path: Path
) -> None:
    voices = _dialog(qtbot, make_controller(use_model))
    voices.controller.start()
    clip = write_clip(tmp_path / "new voice.wav", seconds=3)
    add = _fill_add_dialog(qtbot, voices, "Newcomer", clip, "This is what the clip says.")
    with qtbot.waitSignal(voices.voices_changed, timeout=120000):
        qtbot.mouseClick(add.ok_button, Qt.MouseButton.LeftButton)
        assert voices.busy_label.isVisible() and "Newcomer" in voices.busy_label.text()
    assert voices.names() == ["Newcomer"] and voices.selected_name() == "Newcomer"
    assert not voices.busy_label.isVisible()
    assert list(library.info("Newcomer").folder.glob("features-*.npz"))


def test_a_voice_the_runner_refuses_leaves_no_endless_adding_note(
    qtbot: QtBot, make_controller, settings, tmp_path: Path
) -> None:
    voices = _dialog(qtbot, make_controller(settings))
    assert voices.controller.shutdown()  # the app is quitting: the runner takes no more jobs
    clip = write_clip(tmp_path / "late.wav", seconds=3)
    add = _fill_add_dialog(qtbot, voices, "Latecomer", clip, "This is what the clip says.")
    with qtbot.waitSignal(voices.controller.error) as refused:
        qtbot.mouseClick(add.ok_button, Qt.MouseButton.LeftButton)
    assert refused.args[0]
    assert not voices.busy_label.isVisible() and not voices.cancel_button.isVisible()


def test_a_clip_the_library_refuses_is_explained(
    qtbot: QtBot, make_controller, use_model, tmp_path: Path
) -> None:
    voices = _dialog(qtbot, make_controller(use_model))
    voices.controller.start()
    clip = write_clip(tmp_path / "long.wav", seconds=31)
    add = _fill_add_dialog(qtbot, voices, "Too long", clip, "Far too long a clip.")
    with qtbot.waitSignal(voices.controller.job_failed, timeout=120000):
        qtbot.mouseClick(add.ok_button, Qt.MouseButton.LeftButton)
    text = voices.error_box.text()
    assert text.startswith("The voice 'Too long' was not added.") and "30 s" in text
    assert voices.names() == []


def test_try_it_reads_a_sentence_with_the_selected_voice(
    qtbot: QtBot, make_controller, use_model, two_voices, sd, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosydesk.gui import controller as controller_module

    controller = make_controller(use_model)
    voices = _dialog(qtbot, controller)
    with qtbot.waitSignal(controller.state_changed, timeout=120000, check_params_cb=_ready):
        controller.start()
    _select(voices, "Alice")
    asked: list = []
    real = controller_module.speech_job

    def spy(library, speech, sink, *args):
        asked.append(speech)
        return real(library, speech, sink, *args)

    monkeypatch.setattr(controller_module, "speech_job", spy)
    with qtbot.waitSignal(controller.job_finished, timeout=60000):
        qtbot.mouseClick(voices.try_button, Qt.MouseButton.LeftButton)
    assert [(speech.voice, speech.text) for speech in asked] == [("Alice", TRY_TEXT)]
    heard = sd.streams[-1].pull(24000)  # the sentence reached the sound card
    assert np.abs(heard).max() > 0
    controller.stop()


def test_try_it_waits_for_a_voice_to_be_chosen(qtbot: QtBot, make_controller, settings) -> None:
    voices = _dialog(qtbot, make_controller(settings))
    assert not voices.try_button.isEnabled()


def _ready(state: str, _detail: str) -> bool:
    return state == "ready"
