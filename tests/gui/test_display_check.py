"""Before Qt opens a window: no display, or the X11 plugin's libraries missing, is a sentence
with the fix, not Qt's abort (exit status 134) with a hint that blames another library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosydesk.gui.display_check import display_problem, missing_libraries, needed_libraries

REPO = Path(__file__).resolve().parents[2]
QT = Path(__import__("PySide6").__file__).parent / "Qt"
XCB = QT / "plugins" / "platforms" / "libqxcb.so"

pytestmark = pytest.mark.skipif(not XCB.is_file(), reason="this PySide6 has no xcb plugin")


def test_the_x11_plugin_needs_what_minimal_installs_lack() -> None:
    needed = needed_libraries(XCB)
    assert "libQt6XcbQpa.so.6" in needed
    # Followed through Qt's own library into the system's:
    every = missing_libraries(XCB, QT / "lib", loadable=lambda name: False)
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"} <= set(every)
    assert not any(name.startswith("libQt6") for name in every)


def test_missing_libraries_are_named_with_the_packages_to_install() -> None:
    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    problem = display_problem(
        {"DISPLAY": ":0"}, loadable=lambda name: name not in absent, platform="linux"
    )
    assert problem is not None
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in problem or (
        "libxcb-keysyms.so.1, libxcb-icccm.so.4" in problem
    )
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in problem
    assert "libxcb-cursor" not in problem  # Qt's own hint blamed this one


def test_what_this_machine_has_is_enough() -> None:
    """CI installs what the README's command installs; then nothing is missing."""
    assert display_problem({"DISPLAY": ":0"}, platform="linux") is None


def test_other_platforms_and_offscreen_are_left_to_qt() -> None:
    assert display_problem({}, platform="darwin") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None


def test_without_any_display_the_app_says_so_and_exits_1(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env.update(
        PYTHONPATH=str(REPO),
        COSYDESK_CONFIG_DIR=str(tmp_path / "config"),
        COSYDESK_DATA_DIR=str(tmp_path / "data"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "cosydesk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().startswith("cosydesk: no graphical desktop was found")
    assert "Aborted" not in done.stderr and "xcb" not in done.stderr
