"""Save as WAV says what is missing (a model, a voice) before it asks for a file name; after
"Later" in the first-run dialog the status bar offers "Choose the model..." right there; a long
status message never widens the window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog
from pytestqt.qtbot import QtBot

from cosydesk.gui.app import CosyDesk
from cosydesk.gui.main_window import MainWindow
from tests.helpers import write_clip


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of the file dialogs asked for (none is answered)."""
    titles: list[str] = []

    def save_dialog(parent, title, *args, **kwargs):
        titles.append(title)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    return titles


def _window(qtbot: QtBot, controller) -> MainWindow:
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    window.editor.setPlainText("Some text to save.")
    return window


def test_save_with_no_model_says_so_before_asking_for_a_file(
    qtbot: QtBot, make_controller, settings, library, tmp_path: Path, asked
) -> None:
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    window = _window(qtbot, make_controller(settings))
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert asked == []
    assert window._error_box is not None and window._error_box.isVisible()
    assert "No model is chosen yet" in window._error_box.text()


def test_save_with_a_model_folder_that_is_gone_says_so(
    qtbot: QtBot, make_controller, settings, library, tmp_path: Path, asked
) -> None:
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    settings.set("model_dir", str(tmp_path / "moved-away"))
    window = _window(qtbot, make_controller(settings))
    window.save_action.trigger()
    assert asked == []
    assert "not there any more" in window._error_box.text()


def test_save_with_no_voice_says_so_before_asking_for_a_file(
    qtbot: QtBot, make_controller, use_model, asked
) -> None:
    window = _window(qtbot, make_controller(use_model))
    window.save_action.trigger()
    assert asked == []
    assert "There is no voice yet" in window._error_box.text()


def test_with_a_model_and_a_voice_the_file_name_is_asked(
    qtbot: QtBot, make_controller, use_model, library, tmp_path: Path, asked
) -> None:
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    window = _window(qtbot, make_controller(use_model))
    window.save_action.trigger()
    assert asked == ["Save speech as WAV"]


@pytest.fixture
def desk(qtbot: QtBot, settings, library, monkeypatch: pytest.MonkeyPatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    desk = CosyDesk(settings, library=library, tick_ms=100)
    qtbot.addWidget(desk.window)
    yield desk
    assert desk.shutdown(20000)


def test_after_later_the_status_bar_offers_to_choose_the_model(qtbot: QtBot, desk) -> None:
    desk.start()
    first_run = desk.first_run_dialog
    assert first_run is not None and first_run.isVisible()
    qtbot.mouseClick(first_run.later_button, Qt.MouseButton.LeftButton)
    assert not first_run.isVisible()
    button = desk.window.status.choose_model_button
    assert button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert desk.first_run_dialog is not None and desk.first_run_dialog.isVisible()


def test_the_offer_is_gone_once_a_model_is_chosen(
    qtbot: QtBot, desk, settings, tiny_model: Path
) -> None:
    desk.start()
    desk.first_run_dialog.reject()
    settings.set("model_dir", str(tiny_model))
    settings.set("device", "cpu")
    settings.set("quantization", "none")
    qtbot.waitUntil(lambda: desk.controller.state != "no-model", timeout=10000)
    assert not desk.window.status.choose_model_button.isVisible()


def test_a_long_status_message_does_not_widen_the_window(qtbot: QtBot, desk) -> None:
    desk.start()
    desk.first_run_dialog.reject()
    window = desk.window
    window.resize(640, 400)
    qtbot.waitUntil(lambda: window.width() == 640)
    window.status.clearMessage()  # "No global hotkey" would hide the state while it shows
    long = "The model could not be loaded because " + "of a very long reason " * 40
    window.status.set_state("error", long)
    for _ in range(3):  # a window grows on the layout requests posted by the change
        QApplication.sendPostedEvents()
        QApplication.processEvents()
    assert window.width() == 640
    assert window.status.state_label.text() == long  # the whole text, for screen readers
