"""The tray icon: its menu, its state (icon, tooltip, enabled actions) and its icons."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QSystemTrayIcon
from pytestqt.qtbot import QtBot

from cosydesk.gui.icons import app_icon, render_state
from cosydesk.gui.tray import Tray


@pytest.fixture
def tray(qtbot: QtBot) -> Tray:
    return Tray()


def _texts(tray: Tray) -> list[str]:
    return [a.text() for a in tray.menu.actions() if not a.isSeparator()]


def test_the_menu_has_the_actions_in_order_with_the_hotkey_shown(tray: Tray) -> None:
    tray.set_hotkey("Ctrl+Alt+S")
    assert _texts(tray) == [
        "Speak clipboard\tCtrl+Alt+S",
        "Pause",
        "Stop",
        "Show window",
        "Settings...",
        "Quit",
    ]
    tray.set_hotkey("")
    assert _texts(tray)[0] == "Speak clipboard"


@pytest.mark.parametrize(
    ("action", "signal"),
    [
        ("speak_action", "speak_clipboard_requested"),
        ("show_action", "show_window_requested"),
        ("settings_action", "settings_requested"),
        ("quit_action", "quit_requested"),
    ],
)
def test_each_menu_entry_asks_for_its_action(
    qtbot: QtBot, tray: Tray, action: str, signal: str
) -> None:
    with qtbot.waitSignal(getattr(tray, signal), timeout=1000):
        getattr(tray, action).trigger()


def test_pause_and_stop_work_only_while_speaking(qtbot: QtBot, tray: Tray) -> None:
    tray.set_state("ready", "Ready")
    assert not tray.pause_action.isEnabled() and not tray.stop_action.isEnabled()
    tray.set_state("speaking", "Speaking...")
    assert tray.pause_action.isEnabled() and tray.stop_action.isEnabled()
    with qtbot.waitSignal(tray.stop_requested, timeout=1000):
        tray.stop_action.trigger()
    tray.set_state("paused", "Paused")
    assert tray.pause_action.text() == "Resume"
    with qtbot.waitSignal(tray.pause_requested, timeout=1000):
        tray.pause_action.trigger()


def test_the_tooltip_tells_the_state(tray: Tray) -> None:
    tray.set_state("loading", "Loading the model: llm.pt (10%)")
    assert tray.icon.toolTip() == "cosydesk - Loading the model: llm.pt (10%)"
    tray.set_state("error", "The model folder lacks flow.pt")
    assert "lacks flow.pt" in tray.icon.toolTip()


def test_a_left_click_on_the_icon_shows_the_window(qtbot: QtBot, tray: Tray) -> None:
    with qtbot.waitSignal(tray.show_window_requested, timeout=1000):
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)


def test_offscreen_has_no_tray_and_show_says_so(tray: Tray) -> None:
    # The app then shows its window instead (tests/gui/test_app.py checks that part).
    assert not Tray.available()
    assert tray.show() is False
    assert tray.notify("title", "message") is False


def _colour_at_centre_left(state: str) -> tuple[int, int, int]:
    image: QImage = render_state(state, 64).toImage()
    colour = image.pixelColor(10, 20)
    return colour.red(), colour.green(), colour.blue()


def test_each_state_has_its_own_colour_and_every_icon_draws() -> None:
    colours = {s: _colour_at_centre_left(s) for s in ("ready", "loading", "speaking", "error")}
    assert len(set(colours.values())) == 4
    red, green, blue = colours["error"]
    assert red > 150 and green < 100 and blue < 100
    assert not app_icon().isNull()
    assert app_icon().availableSizes()


def test_only_a_new_state_redraws_the_icon(tray: Tray) -> None:
    """Loading reports progress many times a second; each report used to draw the icon anew
    and hand it to the tray host, on the GUI thread."""
    tray.set_state("loading", "Loading the model: 10%")
    key = tray.icon.icon().cacheKey()
    tray.set_state("loading", "Loading the model: 55%")
    assert tray.icon.icon().cacheKey() == key
    assert "55%" in tray.icon.toolTip()
    tray.set_state("ready", "Ready")
    assert tray.icon.icon().cacheKey() != key
