"""Everyone can use every window: each control has a name and a description for screen readers,
no two controls of a window share a mnemonic (Alt+letter), the keyboard reaches what the mouse
does, and titles do not repeat the app's name (the desktop adds it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible, QAccessibleInterface
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QMenu,
    QMenuBar,
    QTabBar,
    QTabWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from cosydesk.gui.add_voice_dialog import AddVoiceDialog
from cosydesk.gui.app import CosyDesk
from cosydesk.gui.crash_dialog import CrashDialog
from cosydesk.gui.record_dialog import RecordDialog
from tests.helpers import write_clip


@pytest.fixture
def windows(qtbot: QtBot, settings, library, tmp_path: Path, monkeypatch, sd) -> Iterator:
    """Every window and dialog of the app, shown, with a voice in the library."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    desk = CosyDesk(settings, library=library, tick_ms=100)
    qtbot.addWidget(desk.window)
    desk.start()
    desk.open_settings()
    desk.open_voices()
    extra = [AddVoiceDialog(desk.window), RecordDialog(desk.window), CrashDialog("Boom", None)]
    for dialog in extra:
        qtbot.addWidget(dialog)
        dialog.show()
    shown = [desk.window, desk.settings_dialog, desk.voices_dialog, desk.first_run_dialog, *extra]
    yield shown
    assert desk.shutdown(20000)


def _tab_states(window: QWidget) -> Iterator[str]:
    """Shows each page of each tab widget in turn (only the page shown takes Alt+letters)."""
    yield "as opened"
    for tabs in window.findChildren(QTabWidget):
        for index in range(tabs.count()):
            tabs.setCurrentIndex(index)
            yield f"tab {tabs.tabText(index)!r}"


def _nodes(node: QAccessibleInterface) -> Iterator[QAccessibleInterface]:
    if not node.state().invisible:
        yield node
    for index in range(node.childCount()):
        child = node.child(index)
        if child is not None and child.isValid():
            yield from _nodes(child)


def _controls(window: QWidget) -> Iterator[tuple[QWidget, QAccessibleInterface]]:
    """The controls a person can reach with the keyboard, as screen readers see them."""
    root = QAccessible.queryAccessibleInterface(window)
    for node in _nodes(root):
        widget = node.object()
        if not isinstance(widget, QWidget) or isinstance(widget, QLabel | QMenuBar):
            continue
        if not node.state().focusable or widget.window() is not window:
            continue
        if isinstance(widget, QTabBar):  # the bar says its current tab; each tab speaks itself
            for index in range(node.childCount()):
                tab = node.child(index)
                if tab is not None and tab.role() == QAccessible.Role.PageTab:
                    yield widget, tab
            continue
        yield widget, node


def _in_button_box(widget: QWidget) -> bool:
    return isinstance(widget.parent(), QDialogButtonBox)


def test_every_control_has_an_accessible_name_and_description(windows) -> None:
    problems = []
    for window in windows:
        for state in _tab_states(window):
            for widget, node in _controls(window):
                where = f"{window.windowTitle()} ({state}): {type(widget).__name__}"
                name = node.text(QAccessible.Text.Name).strip()
                if not name:
                    problems.append(f"{where} has no accessible name")
                elif "&" in name.replace("&&", ""):
                    problems.append(f"{where} is named with a literal '&': {name!r}")
                # Qt names a combo box by its current item, which says nothing of its purpose.
                if widget.metaObject().className() == "QComboBox" and not widget.accessibleName():
                    problems.append(f"{where} ({name!r}) is named only by its current item")
                # OK / Cancel / Close say all there is; everything else says what it does.
                if not node.text(QAccessible.Text.Description) and not _in_button_box(widget):
                    problems.append(f"{where} {name!r} has no accessible description")
    assert not problems, "\n".join(sorted(set(problems)))


def _mnemonic(text: str) -> str | None:
    """The letter after a single '&' in `text` ("&&" is a literal ampersand), lower-cased."""
    match = re.search(r"(?<!&)&([^&\s])", text.replace("&&", ""))
    return match.group(1).lower() if match else None


def _mnemonics(window: QWidget) -> Iterator[tuple[str, str]]:
    """(letter, text) of every Alt+letter that works in `window` now."""
    for widget in window.findChildren(QWidget):
        if widget.window() is not window or not widget.isVisibleTo(window):
            continue
        texts: list[str] = []
        if isinstance(widget, QAbstractButton) or (
            isinstance(widget, QLabel) and widget.buddy() is not None
        ):
            texts = [widget.text()]
        elif isinstance(widget, QGroupBox):
            texts = [widget.title()]
        elif isinstance(widget, QTabWidget):
            texts = [widget.tabText(i) for i in range(widget.count())]
        elif isinstance(widget, QMenuBar):
            texts = [action.text() for action in widget.actions()]
        for text in texts:
            letter = _mnemonic(text)
            if letter is not None:
                yield letter, text


def mnemonic_problems(windows: list[QWidget]) -> list[str]:
    """Each Alt+letter that two controls of a window share, and each label that shows a literal
    '&' (its mnemonic leads nowhere); empty when there are none."""
    problems = []
    for window in windows:
        for state in _tab_states(window):
            seen: dict[str, list[str]] = {}
            for letter, text in _mnemonics(window):
                seen.setdefault(letter, []).append(text)
            for letter, texts in seen.items():
                if len(texts) > 1:
                    problems.append(f"{window.windowTitle()} ({state}): Alt+{letter} is {texts}")
            for label in window.findChildren(QLabel):
                text = label.text()
                if label.isVisibleTo(window) and _mnemonic(text) and label.buddy() is None:
                    problems.append(f"{window.windowTitle()}: {text!r} shows a literal '&'")
        for menu in window.findChildren(QMenu):
            letters = [_mnemonic(a.text()) for a in menu.actions() if not a.isSeparator()]
            letters = [letter for letter in letters if letter]
            if len(letters) != len(set(letters)):
                problems.append(f"{window.windowTitle()}: menu {menu.title()!r} repeats {letters}")
    return problems


def test_no_two_controls_of_a_window_share_a_mnemonic(windows) -> None:
    problems = mnemonic_problems(windows)
    assert not problems, "\n".join(problems)


def test_no_two_controls_share_a_mnemonic_in_chinese_either(chinese, windows) -> None:
    # Chinese labels carry the letter at their end, "删除(&D)"; the letters must stay unique.
    assert any("(&" in button.text() for w in windows for button in w.findChildren(QAbstractButton))
    problems = mnemonic_problems(windows)
    assert not problems, "\n".join(problems)


def test_titles_do_not_repeat_the_app_name(windows) -> None:
    # The desktop shows "<title> - cosydesk" (QGuiApplication's display name) already.
    titles = [w.windowTitle() for w in windows]
    assert [t for t in titles if "cosydesk" in t.lower() and t != "cosydesk"] == []


def test_alt_s_speaks_and_alt_v_goes_to_the_voice(qtbot: QtBot, windows) -> None:
    window = windows[0]
    for dialog in windows[1:]:
        dialog.close()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.editor.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.AltModifier)
    assert window.voice_combo.hasFocus()
    with qtbot.waitSignal(window.speak_button.clicked, timeout=2000):
        qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)
