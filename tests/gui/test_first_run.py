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


def _finished(outcome: str):
    return lambda got: got == outcome


def test_download_fetches_the_model_and_offers_it(
    qtbot: QtBot, dialog: FirstRunDialog, hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosydesk.config import default_model_dir

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    with qtbot.waitSignal(
        dialog.download_finished, timeout=60000, check_params_cb=_finished("done")
    ):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        assert dialog.download_progress is not None and not dialog.download_button.isEnabled()
    assert dialog.path_edit.text() == str(default_model_dir())
    assert dialog.ok_button.isEnabled()
    assert "This is a CosyVoice3 model folder" in dialog.result_label.text()
    assert dialog.download_progress is None and dialog.download_button.isEnabled()


def test_a_cancelled_download_says_what_it_kept_and_goes_on(
    qtbot: QtBot, dialog: FirstRunDialog, hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    with qtbot.waitSignal(dialog.download_finished, timeout=60000) as blocker:
        dialog.start_download()
        dialog.cancel_download()
    assert blocker.args == ["cancelled"]
    assert "arrived are kept" in dialog.result_label.text() and not dialog.ok_button.isEnabled()
    with qtbot.waitSignal(
        dialog.download_finished, timeout=60000, check_params_cb=_finished("done")
    ):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert dialog.ok_button.isEnabled()


def test_a_failed_download_explains_itself(
    qtbot: QtBot, dialog: FirstRunDialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_hub import unreachable_endpoint

    monkeypatch.setenv("HF_ENDPOINT", unreachable_endpoint())
    with qtbot.waitSignal(
        dialog.download_finished, timeout=60000, check_params_cb=_finished("failed")
    ):
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert "Could not reach" in dialog.result_label.text()
    assert dialog.download_button.isEnabled() and not dialog.ok_button.isEnabled()


def test_closing_the_dialog_mid_download_stops_it_quietly(
    qtbot: QtBot, settings, hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import shiboken6

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    crashes: list = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    dialog = FirstRunDialog(settings)
    dialog.show()
    dialog.start_download()
    thread = dialog._download_thread
    assert thread is not None
    shiboken6.delete(dialog)  # the window went away with the download under way
    thread.join(60)
    assert not thread.is_alive() and crashes == []
