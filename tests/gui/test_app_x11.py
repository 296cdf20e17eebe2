"""The whole path of the global hotkey under a real X server: xdotool presses Ctrl+Alt+S, the
app reads the clipboard aloud; a second press stops it. (Qt itself stays offscreen; the X11
backend talks to the Xvfb server directly.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from cosydesk.gui.app import CosyDesk
from tests.gui.xvfb import private_xvfb, xdotool
from tests.helpers import write_clip

pytestmark = pytest.mark.x11

LONG_TEXT = " ".join(f"Sentence number {n} of a long narration goes here." for n in range(1, 10))


@pytest.fixture
def x_display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private Xvfb; DISPLAY points at it (and no Wayland session is claimed)."""
    with private_xvfb() as display:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
        yield display


def _press(display: str, keys: str) -> None:
    xdotool(display, "key", keys)


def test_the_hotkey_reads_the_clipboard_and_pressed_again_stops(
    qtbot: QtBot, x_display: str, use_model, library, tmp_path: Path, sd
) -> None:
    library.add("Tester", write_clip(tmp_path / "v.wav"), "A short test clip.")
    desk = CosyDesk(use_model, library=library, tick_ms=100)
    qtbot.addWidget(desk.window)
    try:
        with qtbot.waitSignal(
            desk.controller.state_changed,
            timeout=120000,
            check_params_cb=lambda s, _d: s == "ready",
        ):
            desk.start()
        assert desk.hotkey_backend is not None, desk.hotkey_note
        assert desk.tray.speak_action.text() == "Speak clipboard\tCtrl+Alt+S"
        QGuiApplication.clipboard().setText(LONG_TEXT)
        with qtbot.waitSignal(desk.controller.speech_progress, timeout=60000):
            _press(x_display, "ctrl+alt+s")
        assert desk.controller.speaking
        _press(x_display, "ctrl+alt+s")
        qtbot.waitUntil(lambda: not desk.controller.speaking, timeout=10000)
        assert sd.streams[-1].aborted
    finally:
        assert desk.shutdown(20000)
