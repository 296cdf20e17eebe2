"""Journeys of an app that remembers, on a real desktop: the window comes back where it was
with the text being written, after Quit and after a kill -9; a desktop shortcut bound to
`cosydesk --action speak-clipboard` starts cosydesk when it is not running and is heard."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
from base64 import b64decode

import pytest

from tests.desktop.app import DesktopApp
from tests.desktop.conftest import MakeApp, note
from tests.desktop.services import RATE, PulseServer, client_windows

pytestmark = pytest.mark.desktop

EDITOR = "Text to read"
LOAD_S = 90
SPEECH_S = 60


def window_geometry(app: DesktopApp) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the main window on screen, as the X server has it."""
    window = client_windows(app.session.display)["cosydesk"]
    done = subprocess.run(
        ["xdotool", "getwindowgeometry", "--shell", str(window)],
        env={**os.environ, **app.session.env},
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    )
    values = dict(line.split("=", 1) for line in done.stdout.split())
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def remembered_geometry(app: DesktopApp) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) in the app's state file (Qt's saved geometry: a header of 8 bytes,
    the frame rectangle, then the window's own as left, top, right, bottom), or None."""
    path = app.config / "state.json"
    try:
        saved = json.loads(path.read_text()).get("window_geometry")
    except (OSError, ValueError):
        return None
    if not saved:
        return None
    left, top, right, bottom = struct.unpack(">4i", b64decode(saved)[24:40])
    return left, top, right - left + 1, bottom - top + 1


def near(saved: tuple[int, int, int, int] | None, placed: tuple[int, int, int, int]) -> bool:
    """The saved geometry is the placed one: the same size, and a place that differs at most
    by the window manager's frame (Qt and X count from different corners of it)."""
    if saved is None:
        return False
    return saved[2:] == placed[2:] and abs(saved[0] - placed[0]) + abs(saved[1] - placed[1]) < 40


def place_window(app: DesktopApp, x: int, y: int, width: int, height: int) -> None:
    window = str(client_windows(app.session.display)["cosydesk"])
    app.xdotool("windowsize", "--sync", window, str(width), str(height))
    app.xdotool("windowmove", "--sync", window, str(x), str(y))


def restart(app: DesktopApp, how: str) -> None:
    if how == "quit":
        app.signal(signal.SIGTERM)  # as logging out does; the app saves what waits
        assert app.wait_exit(timeout=5) == 0
    else:
        assert app.process is not None
        app.process.send_signal(signal.SIGKILL)
        app.process.wait(timeout=10)
    app.stop()  # the process is gone; this lets go of the accessibility bus
    app.start()


@pytest.mark.parametrize("how", ["quit", "kill -9"])
def test_the_window_comes_back_where_it_was_with_the_draft(make_app: MakeApp, how: str) -> None:
    app = make_app({"first_run_done": True})  # no model: nothing heavy loads
    app.start()
    app.wait_for("frame", "cosydesk")
    first_run = app.find("dialog")
    if first_run is not None:  # no model yet: the first-run dialog asks; Later
        app.click(app.wait_for("push button", "Later"))
    app.click(app.wait_for("text", EDITOR))
    draft = "A draft I was writing when it happened."
    app.type(draft)
    place_window(app, 310, 220, 700, 460)
    placed = window_geometry(app)
    # What a crash keeps is what reached the disk before it: wait for the draft and the size.
    app.wait_until(
        lambda: (
            (app.config / "draft.txt").is_file() and (app.config / "draft.txt").read_text() == draft
        ),
        10,
        "the draft on disk",
    )
    app.wait_until(lambda: near(remembered_geometry(app), placed), 10, "the window's place on disk")

    restart(app, how)
    app.wait_for("frame", "cosydesk")
    if app.find("dialog") is not None:
        app.click(app.wait_for("push button", "Later"))
    editor = app.wait_for("text", EDITOR)
    assert editor.text == draft
    assert window_geometry(app) == placed


def test_speak_clipboard_with_no_app_running_starts_it_and_is_heard(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = make_app(ready_settings, voice="Tester")
    recorder = pulse.record()
    try:
        with app.clipboard("Hello from the clipboard. Read me aloud."):
            start = recorder.now()
            app.start("--action", "speak-clipboard")
            first = recorder.wait_for_sound(start, timeout=LOAD_S + SPEECH_S)
            note("shortcut with no app running to first sound, s", (first - start) / RATE)
        assert app.find("frame", "cosydesk") is None  # it started in the tray, as a shortcut should
        app.wait_until(app.tray_icon, 20, "the tray icon")
    finally:
        recorder.stop()
