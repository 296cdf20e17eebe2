"""The window remembers: its place and size, the text being written and the voice picked come
back after a restart, and the draft after a crash too (written as it is typed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from pytestqt.qtbot import QtBot

from cosydesk.config import Settings
from cosydesk.gui.app import CosyDesk
from tests.helpers import write_clip


@pytest.fixture
def make_desk(qtbot: QtBot, library, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Builds whole apps (no hotkey backend, no display server) and stops them afterwards."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    made: list[CosyDesk] = []

    def make() -> CosyDesk:
        desk = CosyDesk(Settings.load(), library=library, tick_ms=100)
        qtbot.addWidget(desk.window)
        made.append(desk)
        return desk

    yield make
    for desk in made:
        assert desk.shutdown(20000), "the worker did not stop"


@pytest.fixture
def voices(library, tmp_path: Path) -> None:
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    library.add("Bob", write_clip(tmp_path / "b.wav", freq=150), "Bob speaking here.")


def test_place_size_draft_and_voice_come_back_after_a_restart(
    qtbot: QtBot, make_desk, voices, dirs: Path
) -> None:
    first = make_desk()
    first.start()
    window = first.window
    window.setGeometry(QRect(40, 50, 620, 430))
    qtbot.keyClicks(window.editor, "A draft I was writing")
    window.voice_combo.setFocus()
    qtbot.keyClick(window.voice_combo, Qt.Key.Key_Down)  # Alice -> Bob, as a person picks it
    assert window.selected_voice() == "Bob"
    placed = window.geometry()
    assert first.shutdown(20000)

    second = make_desk()
    second.start()
    assert second.window.geometry() == placed
    assert second.window.editor.toPlainText() == "A draft I was writing"
    assert second.window.selected_voice() == "Bob"
    # Remembered state is not a setting: the settings file does not hold it.
    settings_file = dirs / "config" / "settings.json"
    stored = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    assert "window_geometry" not in stored and "last_voice" not in stored


def test_the_draft_is_on_disk_as_it_is_typed_so_a_crash_keeps_it(
    qtbot: QtBot, make_desk, dirs: Path
) -> None:
    crashed = make_desk()
    crashed.start()
    qtbot.keyClicks(crashed.window.editor, "Typed just before the crash")
    draft = dirs / "config" / "draft.txt"
    qtbot.waitUntil(lambda: draft.exists(), timeout=5000)
    # The first app is never shut down (nothing is flushed), as after a kill -9.
    after = make_desk()
    after.start()
    assert after.window.editor.toPlainText() == "Typed just before the crash"
    # A restored draft is typed text: opening a file over it asks first.
    assert after.window.editor.document().isModified()


def test_clearing_the_text_clears_the_draft(qtbot: QtBot, make_desk, dirs: Path) -> None:
    desk = make_desk()
    desk.start()
    qtbot.keyClicks(desk.window.editor, "Soon gone")
    draft = dirs / "config" / "draft.txt"
    qtbot.waitUntil(draft.exists, timeout=5000)
    desk.window.editor.selectAll()
    qtbot.keyClick(desk.window.editor, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not draft.exists(), timeout=5000)
    assert desk.shutdown(20000)
    assert make_desk().window.editor.toPlainText() == ""


def test_a_damaged_state_file_opens_the_window_as_new(
    qtbot: QtBot, make_desk, voices, dirs: Path
) -> None:
    (dirs / "config").mkdir(parents=True, exist_ok=True)
    (dirs / "config" / "state.json").write_text('{"window_geometry": 5, "last_voice": ')
    desk = make_desk()
    desk.start()
    assert desk.window.isVisible()
    assert desk.window.selected_voice() == "Alice"
