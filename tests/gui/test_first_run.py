"""The first-run dialog: where to get the model, and the chosen folder checked by the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from cosydesk.gui.first_run import FirstRunDialog


@pytest.fixture
def dialog(qtbot: QtBot, settings) -> FirstRunDialog:
    dialog = FirstRunDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_it_says_where_to_get_the_official_model(dialog: FirstRunDialog) -> None:
    text = dialog.help_text.toPlainText()
    assert "Fun-CosyVoice3-0.5B-2512" in text and "huggingface.co" in text
    assert not dialog.ok_button.isEnabled()


def test_a_wrong_folder_shows_the_engine_sentence_and_cannot_be_used(
    qtbot: QtBot, dialog: FirstRunDialog, tmp_path: Path
) -> None:
    (tmp_path / "cosyvoice2.yaml").write_text("{}")
    qtbot.keyClicks(dialog.path_edit, str(tmp_path))
    dialog.check()
    assert "CosyVoice2" in dialog.result_label.text()
    assert not dialog.ok_button.isEnabled()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()


def test_the_check_runs_by_itself_once_typing_pauses(
    qtbot: QtBot, dialog: FirstRunDialog, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    qtbot.keyClicks(dialog.path_edit, str(missing))
    qtbot.waitUntil(lambda: "does not exist" in dialog.result_label.text(), timeout=3000)


def test_a_real_model_folder_is_stored_when_used(
    qtbot: QtBot, dialog: FirstRunDialog, settings, parity_dir: Path
) -> None:
    folder = parity_dir / "model"
    qtbot.keyClicks(dialog.path_edit, str(folder))
    assert dialog.check()
    assert "This is a CosyVoice3 model folder" in dialog.result_label.text()
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    stored = json.loads(Path(settings.path).read_text())
    assert stored["model_dir"] == str(folder) and stored["first_run_done"] is True


def test_browse_fills_in_and_checks_the_folder(
    qtbot: QtBot, dialog: FirstRunDialog, parity_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = str(parity_dir / "model")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: chosen)
    qtbot.mouseClick(dialog.browse_button, Qt.MouseButton.LeftButton)
    assert dialog.path_edit.text() == chosen and dialog.ok_button.isEnabled()


def test_later_stores_nothing(qtbot: QtBot, dialog: FirstRunDialog, settings) -> None:
    qtbot.mouseClick(dialog.later_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert settings.get("model_dir") == "" and not Path(settings.path).exists()
