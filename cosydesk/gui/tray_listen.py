"""The tray menu's listening controls: previous / next sentence, and Voice, Speed and Volume
submenus, so that a person who listens to the clipboard need not open the window.

Tray menus show plain actions only (a desktop's status-notifier host draws them itself, so no
sliders): speed and volume are offered as steps across the ranges their settings declare.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from cosydesk.config import option

log = logging.getLogger(__name__)

SPEED_STEP = 0.25
VOLUME_STEPS = 4  # 25 %, 50 %, 75 %, 100 % of the declared maximum


def speed_steps() -> list[float]:
    """Speeds the tray offers: every SPEED_STEP across the declared range, both ends included."""
    declared = option("speed")
    assert declared.minimum is not None and declared.maximum is not None
    steps, value = [], declared.minimum
    while value <= declared.maximum + 1e-9:
        steps.append(round(value, 2))
        value += SPEED_STEP
    if steps[-1] != declared.maximum:
        steps.append(declared.maximum)
    return steps


def volume_steps() -> list[int]:
    """Volumes the tray offers, loudest first, as fractions of the declared maximum."""
    declared = option("volume")
    assert declared.maximum is not None
    top = int(declared.maximum)
    return [top * k // VOLUME_STEPS for k in range(VOLUME_STEPS, 0, -1)]


class TrayListenMenu(QObject):
    """Adds the listening controls to `menu` (before `before`) and keeps them current."""

    def __init__(self, menu: QMenu, before: QAction, controller: Any) -> None:
        super().__init__(menu)
        self.controller = controller
        self.settings = controller.settings
        self.previous_action = QAction(self.tr("Previous sentence"), menu)
        self.next_action = QAction(self.tr("Next sentence"), menu)
        self.previous_action.triggered.connect(lambda: controller.skip(-1))
        self.next_action.triggered.connect(lambda: controller.skip(1))
        self.voice_menu = QMenu(self.tr("Voice"), menu)
        self.speed_menu = QMenu(self.tr("Speed"), menu)
        self.volume_menu = QMenu(self.tr("Volume"), menu)
        for action in (self.previous_action, self.next_action):
            menu.insertAction(before, action)
        menu.insertSeparator(before)
        for submenu in (self.voice_menu, self.speed_menu, self.volume_menu):
            menu.insertMenu(before, submenu)
        menu.insertSeparator(before)
        self.voice_menu.aboutToShow.connect(self.fill_voices)
        self.speed_menu.aboutToShow.connect(self.fill_speeds)
        self.volume_menu.aboutToShow.connect(self.fill_volumes)
        self.set_speaking(False)

    def set_speaking(self, speaking: bool) -> None:
        self.previous_action.setEnabled(speaking)
        self.next_action.setEnabled(speaking)

    @staticmethod
    def _choices(menu: QMenu, items: list[tuple[str, Any]], current: Any, pick: Any) -> None:
        """Fill `menu` with one checkable action per (label, value); `current` is checked."""
        menu.clear()
        group = QActionGroup(menu)
        for label, value in items:
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(value == current)
            action.setData(value)
            group.addAction(action)
            action.triggered.connect(lambda _checked=False, v=value: pick(v))

    @Slot()
    def fill_voices(self) -> None:
        """The library's voices; the one speaking now (or next) is checked."""
        try:
            names = [voice.name for voice in self.controller.library.list()]
        except OSError as exc:
            log.warning("Could not list the voices: %s", exc)
            names = []
        if not names:
            self.voice_menu.clear()
            self.voice_menu.addAction(self.tr("No voices yet")).setEnabled(False)
            return
        current = self.controller.voice() or names[0]
        self._choices(self.voice_menu, [(n, n) for n in names], current, self.controller.set_voice)

    @Slot()
    def fill_speeds(self) -> None:
        current = float(self.settings.get("speed"))
        steps = speed_steps()
        if current not in steps:  # a speed chosen in the window between the steps
            steps = sorted({*steps, current})
        items = [(f"{value:g} x", value) for value in steps]
        self._choices(self.speed_menu, items, current, lambda v: self._set("speed", v))

    @Slot()
    def fill_volumes(self) -> None:
        current = int(self.settings.get("volume"))
        steps = volume_steps()
        if current not in steps:
            steps = sorted({*steps, current}, reverse=True)
        items = [(f"{value} %", value) for value in steps]
        self._choices(self.volume_menu, items, current, lambda v: self._set("volume", v))

    def _set(self, name: str, value: Any) -> None:
        self.settings.set(name, value)
        try:
            self.settings.save()
        except OSError as exc:
            self.controller.error.emit(f"The {name} could not be saved: {exc}")
