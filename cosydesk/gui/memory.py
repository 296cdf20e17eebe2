"""The main window remembers: where it was and how large, the text in it, the voice picked.

`WindowMemory` restores these from the app state when the app starts and writes them back as
they change: the draft shortly after typing pauses (so a crash loses a second of typing at
most), the geometry shortly after a move or resize ends, the voice when the person picks one.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QTimer, Slot

from cosydesk.state import RememberedState

log = logging.getLogger(__name__)

# How long typing or moving must pause before the draft or the geometry is written (ms).
DRAFT_DELAY_MS = 500
GEOMETRY_DELAY_MS = 500


class WindowMemory(QObject):
    """Restores and keeps the main window's geometry, draft and last voice in `state`."""

    def __init__(self, window: Any, state: RememberedState) -> None:
        super().__init__(window)
        self.window = window
        self.state = state
        self._shown = False  # a never-shown window has no geometry worth keeping
        self._failed = False  # say once in the log that the state cannot be written
        self._draft_timer = self._timer(DRAFT_DELAY_MS, self.save_draft)
        self._geometry_timer = self._timer(GEOMETRY_DELAY_MS, self.save_geometry)

    def _timer(self, interval: int, slot: Any) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(interval)
        timer.timeout.connect(slot)
        return timer

    def restore(self) -> None:
        """Put back the geometry, draft and voice; then follow their changes."""
        window = self.window
        geometry = self.state.get("window_geometry")
        if geometry and not window.restoreGeometry(QByteArray.fromBase64(geometry.encode())):
            log.info("The remembered window geometry could not be used")
        draft = self.state.read_draft()
        if draft and not window.editor.toPlainText():
            window.editor.setPlainText(draft)
            # Typed text, as far as opening a file over it is concerned: that asks first.
            window.editor.document().setModified(True)
        voice = self.state.get("last_voice")
        if voice:
            index = window.voice_combo.findData(voice)
            if index >= 0:
                window.voice_combo.setCurrentIndex(index)
        window.editor.textChanged.connect(self._draft_timer.start)
        # `activated` is the person's choice only, not the refills of the list.
        window.voice_combo.activated.connect(self._on_voice_picked)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Show:
            self._shown = True
        elif kind in (QEvent.Type.Move, QEvent.Type.Resize) and self._shown:
            self._geometry_timer.start()
        elif kind == QEvent.Type.Hide and self._shown:
            self.save_geometry()  # hidden to the tray: the next Show comes back here
        return False

    @Slot()
    def save_draft(self) -> None:
        self._draft_timer.stop()
        self._write(lambda: self.state.write_draft(self.window.editor.toPlainText()))

    @Slot()
    def save_geometry(self) -> None:
        self._geometry_timer.stop()
        if not self._shown:
            return
        geometry = bytes(self.window.saveGeometry().toBase64().data()).decode()
        if geometry == self.state.get("window_geometry"):
            return
        self.state.set("window_geometry", geometry)
        self._write(self.state.save)

    @Slot(int)
    def _on_voice_picked(self, index: int) -> None:
        voice = self.window.voice_combo.itemData(index)
        if voice:
            self.state.set("last_voice", str(voice))
            self._write(self.state.save)

    def flush(self) -> None:
        """Write what is waiting now (the app quits)."""
        if self._draft_timer.isActive():
            self.save_draft()
        if self._shown and self.window.isVisible():
            self.save_geometry()

    def _write(self, write: Any) -> None:
        try:
            write()
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("Could not keep the window's state in %s: %s", self.state.folder, exc)
