"""The whole path of the global hotkey under a real X server: xdotool presses Ctrl+Alt+S, the
app reads the clipboard aloud; a second press stops it. (Qt itself stays offscreen; the X11
backend talks to the Xvfb server directly.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from cosydesk.gui.app import CosyDesk
from tests.gui.conftest import write_clip

pytestmark = pytest.mark.x11

LONG_TEXT = " ".join(f"Sentence number {n} of a long narration goes here." for n in range(1, 10))


@pytest.fixture
def x_display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private Xvfb; DISPLAY points at it (and no Wayland session is claimed)."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (Debian: apt install xvfb xdotool)")
    pytest.importorskip("Xlib", reason="needs python-xlib")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", "320x240x24"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        number = ready.readline().strip()
    if not number:
        server.kill()
        server.wait()
        pytest.fail("Xvfb did not start")
    display = f":{number}"
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    yield display
    server.terminate()
    server.wait(timeout=10)


def _press(display: str, keys: str) -> None:
    env = {**os.environ, "DISPLAY": display}
    subprocess.run(["xdotool", "key", keys], env=env, check=True, timeout=20)


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
