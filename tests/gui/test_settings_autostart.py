"""'Start cosydesk when I log in' in Settings writes and removes the real XDG autostart entry,
and shows what is on disk (an entry removed by hand is shown off)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cosydesk.gui.settings_dialog import SettingsDialog


@pytest.fixture
def entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "autostart" / "cosydesk.desktop"


def _dialog(qtbot: QtBot, settings) -> SettingsDialog:
    from cosydesk.autostart import Autostart

    dialog = SettingsDialog(settings, autostart=Autostart("linux"))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_ticking_start_at_login_writes_the_entry_and_unticking_removes_it(
    qtbot: QtBot, settings, entry: Path
) -> None:
    dialog = _dialog(qtbot, settings)
    assert not dialog.autostart_check.isChecked()
    dialog.tabs.setCurrentIndex(2)  # Desktop
    dialog.autostart_check.click()
    assert dialog.apply()
    assert "--minimized" in entry.read_text()
    assert "start_at_login" not in settings.as_dict()  # the entry is the truth, not a setting

    again = _dialog(qtbot, settings)
    assert again.autostart_check.isChecked()
    again.autostart_check.click()
    assert again.apply()
    assert not entry.exists()


def test_an_entry_removed_by_hand_shows_as_off(qtbot: QtBot, settings, entry: Path) -> None:
    dialog = _dialog(qtbot, settings)
    dialog.autostart_check.setChecked(True)
    assert dialog.apply()
    entry.unlink()
    assert not _dialog(qtbot, settings).autostart_check.isChecked()


def test_an_entry_that_cannot_be_written_is_said_and_nothing_else_fails(
    qtbot: QtBot, settings, entry: Path
) -> None:
    entry.parent.parent.mkdir(parents=True)
    entry.parent.write_text("a file where the folder should be")
    dialog = _dialog(qtbot, settings)
    dialog.autostart_check.setChecked(True)
    assert not dialog.apply()
    assert "could not be written" in dialog.error_label.text()
