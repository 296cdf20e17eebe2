"""The tray icon and its menu; the icon and tooltip tell the app's state at a glance."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from cosydesk.gui.app_state import AppState
from cosydesk.gui.icons import state_icon

_TOOLTIP_TITLE = "cosydesk"


class Tray(QObject):
    """Wraps QSystemTrayIcon: a menu of actions out as signals, the state in as `set_state`.

    Where the desktop has no tray (`available()` is False), the object still exists so the app
    can wire it the same way; it simply never becomes visible.
    """

    speak_clipboard_requested = Signal()
    pause_requested = Signal()
    stop_requested = Signal()
    show_window_requested = Signal()
    settings_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.menu = QMenu()
        self.speak_action = self.menu.addAction(self.tr("Speak clipboard"))
        self.pause_action = self.menu.addAction(self.tr("Pause"))
        self.stop_action = self.menu.addAction(self.tr("Stop"))
        self.menu.addSeparator()
        self.show_action = self.menu.addAction(self.tr("Show window"))
        self.settings_action = self.menu.addAction(self.tr("Settings..."))
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction(self.tr("Quit"))
        self.speak_action.triggered.connect(self.speak_clipboard_requested)
        self.pause_action.triggered.connect(self.pause_requested)
        self.stop_action.triggered.connect(self.stop_requested)
        self.show_action.triggered.connect(self.show_window_requested)
        self.settings_action.triggered.connect(self.settings_requested)
        self.quit_action.triggered.connect(self.quit_requested)

        self._icons: dict[str, QIcon] = {AppState.UNLOADED: state_icon(AppState.UNLOADED)}
        self.icon = QSystemTrayIcon(self._icons[AppState.UNLOADED], self)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.state = ""
        self.set_hotkey("")
        self.set_state(AppState.UNLOADED, self.tr("Starting..."))

    @staticmethod
    def available() -> bool:
        """Whether this desktop shows tray icons at all (the offscreen platform does not)."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> bool:
        """Show the icon; False where there is no tray, so the caller shows the window instead."""
        if not self.available():
            return False
        self.icon.show()
        return True

    def hide(self) -> None:
        self.icon.hide()

    def set_hotkey(self, hotkey: str) -> None:
        """Show the global hotkey beside "Speak clipboard" (menus put text after a tab right)."""
        self.speak_action.setText(self.tr("Speak clipboard") + (f"\t{hotkey}" if hotkey else ""))

    def set_state(self, state: str, detail: str) -> None:
        """Switch icon and tooltip to `state`; Pause/Stop are enabled only while speaking."""
        if state != self.state:
            # Only a new state gets a new picture: the tray host redraws on every setIcon, and
            # loading reports progress many times a second.
            if state not in self._icons:
                self._icons[state] = state_icon(state)
            self.icon.setIcon(self._icons[state])
        self.state = state
        self.icon.setToolTip(f"{_TOOLTIP_TITLE} - {detail}" if detail else _TOOLTIP_TITLE)
        speaking = state in (AppState.SPEAKING, AppState.PAUSED)
        self.pause_action.setEnabled(speaking)
        self.pause_action.setText(
            self.tr("Resume") if state == AppState.PAUSED else self.tr("Pause")
        )
        self.stop_action.setEnabled(speaking)

    def notify(self, title: str, message: str, *, warning: bool = False) -> bool:
        """A balloon message where the tray supports them; False if it could not be shown."""
        if not (self.icon.isVisible() and QSystemTrayIcon.supportsMessages()):
            return False
        icons = QSystemTrayIcon.MessageIcon
        kind = icons.Warning if warning else icons.Information
        self.icon.showMessage(title, message, kind, 8000)
        return True

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # A left click opens the window, as most tray apps do; a middle click speaks.
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_window_requested.emit()
        elif reason == QSystemTrayIcon.ActivationReason.MiddleClick:
            self.speak_clipboard_requested.emit()
