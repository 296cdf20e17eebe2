"""The X11 hotkey backend for real: a private Xvfb server, keys pressed with xdotool."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cosydesk.gui.hotkeys import HotkeyError
from cosydesk.gui.hotkeys.x11 import X11Backend
from tests.gui.xvfb import private_xvfb, xdotool

pytestmark = pytest.mark.x11


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A fresh Xvfb for this module; its name, e.g. ':7'."""
    with private_xvfb() as name:
        yield name


def _xdotool(display: str, *args: str) -> None:
    xdotool(display, *args)


class Presses:
    def __init__(self) -> None:
        self.count = 0
        self.threads: list[threading.Thread] = []

    def __call__(self) -> None:
        self.count += 1
        self.threads.append(threading.current_thread())


@pytest.fixture
def backend(display: str) -> Iterator[X11Backend]:
    backend = X11Backend(display)
    yield backend
    backend.unregister()


def test_pressing_the_shortcut_calls_back_in_the_main_thread(
    qtbot: object, display: str, backend: X11Backend
) -> None:
    presses = Presses()
    backend.register("Ctrl+Alt+S", presses)
    _xdotool(display, "key", "ctrl+s")  # not ours: must not count
    _xdotool(display, "key", "ctrl+alt+s")
    qtbot.waitUntil(lambda: presses.count >= 1, timeout=5000)  # type: ignore[attr-defined]

    _xdotool(display, "key", "ctrl+alt+s")
    qtbot.waitUntil(lambda: presses.count >= 2, timeout=5000)  # type: ignore[attr-defined]
    assert presses.count == 2
    assert presses.threads == [threading.main_thread()] * 2


def test_shortcut_works_with_num_lock_on(qtbot: object, display: str, backend: X11Backend) -> None:
    presses = Presses()
    backend.register("Ctrl+Shift+F9", presses)
    _xdotool(display, "key", "Num_Lock")
    try:
        _xdotool(display, "key", "ctrl+shift+F9")
        qtbot.waitUntil(lambda: presses.count == 1, timeout=5000)  # type: ignore[attr-defined]
    finally:
        _xdotool(display, "key", "Num_Lock")


def test_a_combination_held_by_another_program_is_refused_with_a_sentence(
    qtbot: object, display: str, backend: X11Backend
) -> None:
    backend.register("Ctrl+Alt+S", Presses())
    other = X11Backend(display)
    with pytest.raises(HotkeyError, match="already taken by another program"):
        other.register("Ctrl+Alt+S", Presses())

    backend.unregister()  # once released, the other program may take it
    presses = Presses()
    other.register("Ctrl+Alt+S", presses)
    try:
        _xdotool(display, "key", "ctrl+alt+s")
        qtbot.waitUntil(lambda: presses.count == 1, timeout=5000)  # type: ignore[attr-defined]
    finally:
        other.unregister()


def test_registering_again_replaces_the_old_shortcut(
    qtbot: object, display: str, backend: X11Backend
) -> None:
    first, second = Presses(), Presses()
    backend.register("Ctrl+Alt+S", first)
    backend.register("Ctrl+Alt+R", second)
    _xdotool(display, "key", "ctrl+alt+s")
    _xdotool(display, "key", "ctrl+alt+r")
    qtbot.waitUntil(lambda: second.count == 1, timeout=5000)  # type: ignore[attr-defined]
    assert first.count == 0
    other = X11Backend(display)  # the old combination is free again
    other.register("Ctrl+Alt+S", Presses())
    other.unregister()
