"""How the app looks on any desktop: the system's light or dark colours (none hard-coded), a
settings dialog that fits a 768 px high screen at 150 % scaling, dialogs over the window."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from cosydesk.gui.app import CosyDesk
from cosydesk.gui.first_run import FirstRunDialog
from cosydesk.gui.settings_dialog import SettingsDialog

# A 768 px high screen at 150 % scaling is 512 logical pixels high; the title bar and a panel
# take some 60 of them.
SCREEN_768_AT_150 = 512
TITLE_AND_PANEL = 60
LONG_NOTE = (
    "This desktop offers no way to register a global hotkey. Bind the command `cosydesk "
    "--action speak-clipboard` to a keyboard shortcut in your desktop's settings "
    "(`--action stop` and `--action pause` work too)."
)
HARD_CODED = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|\b(red|green|white|black)\b", re.I)


@pytest.fixture
def dark(qapp: QApplication) -> Iterator[QPalette]:
    """The desktop switched to a dark theme (its palette), for the test."""
    before = qapp.palette()
    palette = QPalette(QColor("#202124"))  # Qt derives a whole dark palette from it
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#e8eaed"))
    qapp.setPalette(palette)
    yield palette
    qapp.setPalette(before)


def test_messages_use_the_themes_text_colour(qtbot: QtBot, settings, dark: QPalette) -> None:
    dialog = FirstRunDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.path_edit.setText("/no/such/folder")
    assert dialog.check() is False
    label = dialog.result_label.label
    assert "does not exist" in label.text()
    shown = label.palette().color(label.foregroundRole())
    assert shown == dark.color(QPalette.ColorRole.WindowText)


def test_settings_errors_use_the_themes_text_colour(qtbot: QtBot, settings, dark: QPalette) -> None:
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.model_edit.setText("/no/such/folder")
    assert dialog.apply() is False
    label = getattr(dialog.error_label, "label", dialog.error_label)
    assert label.isVisible()
    assert label.palette().color(label.foregroundRole()) == dark.color(
        QPalette.ColorRole.WindowText
    )


def test_no_widget_carries_a_hard_coded_colour(qtbot: QtBot, settings, library) -> None:
    desk = CosyDesk(settings, library=library, tick_ms=100)
    qtbot.addWidget(desk.window)
    try:
        desk.start()
        desk.open_settings()
        desk.open_voices()
        desk.first_run_dialog.path_edit.setText("/no/such/folder")
        desk.first_run_dialog.check()
        desk.settings_dialog.model_edit.setText("/no/such/folder")
        desk.settings_dialog.apply()
        sheets = [
            (type(w).__name__, w.styleSheet())
            for top in (
                desk.window,
                desk.settings_dialog,
                desk.voices_dialog,
                desk.first_run_dialog,
            )
            for w in [top, *top.findChildren(QWidget)]
        ]
        assert [(kind, s) for kind, s in sheets if HARD_CODED.search(s)] == []
    finally:
        assert desk.shutdown(20000)


def test_the_settings_dialog_fits_a_768_px_screen_at_150_percent(qtbot: QtBot, settings) -> None:
    dialog = SettingsDialog(settings, hotkey_note=LONG_NOTE)
    qtbot.addWidget(dialog)
    dialog.show()
    room = SCREEN_768_AT_150 - TITLE_AND_PANEL
    assert dialog.minimumSizeHint().height() <= room
    assert dialog.sizeHint().height() <= room
    assert dialog.height() <= room


def test_dialogs_open_centred_over_the_main_window(
    qtbot: QtBot, settings, library, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    desk = CosyDesk(settings, library=library, tick_ms=100)
    qtbot.addWidget(desk.window)
    try:
        desk.start()
        desk.first_run_dialog.reject()
        desk.window.setGeometry(QRect(150, 120, 640, 480))
        centre = desk.window.frameGeometry().center()
        desk.open_settings()
        desk.open_voices()
        for dialog in (desk.settings_dialog, desk.voices_dialog):
            qtbot.waitUntil(dialog.isVisible)
            offset = dialog.frameGeometry().center() - centre
            assert offset.manhattanLength() <= 4, type(dialog).__name__
    finally:
        assert desk.shutdown(20000)
