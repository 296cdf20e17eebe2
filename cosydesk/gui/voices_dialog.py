"""The voice library: add (from a file or the microphone), rename, delete, choose the default."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cosydesk.engine.errors import EngineError
from cosydesk.gui.a11y import accessible
from cosydesk.gui.add_voice_dialog import AddVoiceDialog
from cosydesk.gui.confirm import confirm
from cosydesk.gui.i18n import QT_TRANSLATE_NOOP
from cosydesk.gui.record_dialog import RecordDialog
from cosydesk.gui.voice_adding import VoiceAdding

if TYPE_CHECKING:
    from cosydesk.gui.controller import Controller

log = logging.getLogger(__name__)

EMPTY_TEXT = QT_TRANSLATE_NOOP(
    "VoicesDialog",
    "No voices yet. CosyVoice3 speaks like a short example: add a clip of someone speaking "
    "(with what it says), or record your own voice.",
)
# Spoken by Try it, so a person hears the voice read their own language.
TRY_TEXT = QT_TRANSLATE_NOOP(
    "VoicesDialog", "Hello! This is how I sound when I read your text aloud."
)


def try_text() -> str:
    """The sentence Try it speaks, in the interface's language."""
    return QCoreApplication.translate("VoicesDialog", TRY_TEXT)


class VoicesDialog(QDialog):
    """Lists the library's voices; new voices are prepared on the runner (it needs the model)."""

    voices_changed = Signal()

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = controller.settings
        self.library = controller.library
        self.setWindowTitle(self.tr("Voices"))
        self.resize(620, 400)
        self.adding = VoiceAdding(controller, self)
        self.adding.added.connect(self._on_added)
        self.adding.failed.connect(self._on_add_failed)
        self.adding.changed.connect(self._show_busy)

        self.list = accessible(
            QListWidget(),
            self.tr("Voices"),
            self.tr("The voices in the library; the default voice is in bold"),
        )
        self.list.currentItemChanged.connect(self._on_current)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy_label = QLabel()
        self.busy_label.setWordWrap(True)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.adding.cancel_all)
        self.add_button = QPushButton(self.tr("&Add from file..."))
        self.record_button = QPushButton(self.tr("&Record..."))
        self.rename_button = QPushButton(self.tr("Re&name..."))
        self.delete_button = QPushButton(self.tr("&Delete"))
        self.default_button = QPushButton(self.tr("Use as de&fault"))  # Alt+D is Delete's
        self.try_button = QPushButton(self.tr("&Try it"))
        self.try_button.setToolTip(self.tr("Hear the selected voice read a short sentence"))
        self.close_button = QPushButton(self.tr("Close"))
        for button, description in (
            (self.cancel_button, self.tr("Stop adding the voice")),
            (self.add_button, self.tr("Add a voice from an audio clip and what it says")),
            (self.record_button, self.tr("Record a voice with the microphone")),
            (self.rename_button, self.tr("Give the selected voice another name")),
            (self.delete_button, self.tr("Delete the selected voice and its clip")),
            (self.default_button, self.tr("Read with the selected voice when no other is picked")),
            (self.try_button, self.tr("Hear the selected voice read a short sentence")),
            (self.close_button, self.tr("Close the voices window")),
        ):
            button.setAccessibleDescription(description)
        self.add_button.clicked.connect(self.add_from_file)
        self.record_button.clicked.connect(self.record)
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.default_button.clicked.connect(self.make_default)
        self.try_button.clicked.connect(self.try_selected)
        self.close_button.clicked.connect(self.accept)

        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        left.addWidget(self.details)
        busy = QHBoxLayout()
        busy.addWidget(self.busy_label, 1)
        busy.addWidget(self.cancel_button)
        left.addLayout(busy)
        right = QVBoxLayout()
        for button in (self.add_button, self.record_button):
            right.addWidget(button)
        right.addSpacing(12)
        for button in (self.try_button, self.rename_button, self.delete_button):
            right.addWidget(button)
        right.addWidget(self.default_button)
        right.addStretch(1)
        right.addWidget(self.close_button)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right)

        self.refresh()
        self._show_busy()

    # -- the list ---------------------------------------------------------------------------

    def refresh(self, select: str | None = None) -> None:
        """Reload the list from disk, keeping (or moving to) the selection."""
        select = select or self.selected_name()
        default = self.settings.get("default_voice")
        self.list.clear()
        try:
            voices = self.library.list()
        except OSError as exc:
            log.warning("Could not list the voices: %s", exc)
            voices = []
        for info in voices:
            if info.name == default:
                label = self.tr("{name}  ({seconds:.1f} s)  - default")
            else:
                label = self.tr("{name}  ({seconds:.1f} s)")
            item = QListWidgetItem(label.format(name=info.name, seconds=info.duration_s))
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(info.transcript)
            if info.name == default:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
            if info.name == select:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._on_current()

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def names(self) -> list[str]:
        return [
            str(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())
        ]

    @Slot()
    def _on_current(self, *_args: object) -> None:
        name = self.selected_name()
        for button in (self.try_button, self.rename_button, self.delete_button):
            button.setEnabled(name is not None)
        self.default_button.setEnabled(name is not None)
        if name is None:
            self.details.setText(self.tr(EMPTY_TEXT))
            return
        item = self.list.currentItem()
        self.details.setText(
            self.tr("<b>{name}</b> says: \u201c{transcript}\u201d").format(
                name=_escape(name), transcript=_escape(item.toolTip())
            )
        )

    # -- adding -----------------------------------------------------------------------------

    @Slot()
    def add_from_file(self) -> None:
        dialog = AddVoiceDialog(self)
        dialog.accepted.connect(
            lambda: self._start_adding(dialog.name(), dialog.audio_path(), dialog.transcript())
        )
        dialog.open()

    @Slot()
    def record(self) -> None:
        dialog = RecordDialog(
            self, output_device=str(self.settings.effective("output_device") or "")
        )

        def done() -> None:
            if dialog.recording_path is not None:
                self._start_adding(
                    dialog.name(), dialog.recording_path, dialog.transcript(), temporary=True
                )

        dialog.accepted.connect(done)
        dialog.open()

    def _start_adding(
        self, name: str, audio_path: Path, transcript: str, *, temporary: bool = False
    ) -> int | None:
        return self.adding.start(name, audio_path, transcript, temporary=temporary)

    @Slot()
    def _show_busy(self) -> None:
        busy = self.adding.busy
        quoted = self.tr("'{}'")
        names = self.tr(", ").join(quoted.format(name) for name in self.adding.names())
        self.busy_label.setText(
            self.tr(
                "Adding {}: checking the clip and preparing it with the model (the model "
                "loads first if needed)..."
            ).format(names)
            if busy
            else ""
        )
        self.busy_label.setVisible(busy)
        self.cancel_button.setVisible(busy)

    @Slot(str)
    def _on_added(self, name: str) -> None:
        self.refresh(select=name)
        self.voices_changed.emit()

    @Slot(str, str)
    def _on_add_failed(self, name: str, message: str) -> None:
        self._error(
            self.tr("The voice '{name}' was not added. {reason}").format(name=name, reason=message)
        )

    # -- rename, delete, default ------------------------------------------------------------

    @Slot()
    def try_selected(self) -> None:
        """Speak a sample sentence with the selected voice (the model loads first if needed)."""
        name = self.selected_name()
        if name is not None:
            self.controller.speak(try_text(), name)

    @Slot()
    def rename_selected(self) -> None:
        old = self.selected_name()
        if old is None:
            return
        new, ok = QInputDialog.getText(
            self, self.tr("Rename voice"), self.tr("New name for '{}':").format(old), text=old
        )
        new = new.strip()
        if not ok or not new or new == old:
            return
        try:
            info = self.library.rename(old, new)
        except (EngineError, OSError) as exc:
            self._error(str(exc))
            return
        if self.settings.get("default_voice") == old:
            self._set_default(info.name)
        self.refresh(select=info.name)
        self.voices_changed.emit()

    @Slot()
    def delete_selected(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        question = self.tr("Delete the voice '{}' and its clip? This cannot be undone.")
        if not confirm(self, self.tr("Delete voice"), question.format(name)):
            return
        try:
            self.library.delete(name)
        except (EngineError, OSError) as exc:
            self._error(str(exc))
            return
        if self.settings.get("default_voice") == name:
            self._set_default("")
        self.refresh()
        self.voices_changed.emit()

    @Slot()
    def make_default(self) -> None:
        name = self.selected_name()
        if name is not None:
            self._set_default(name)
            self.refresh(select=name)
            self.voices_changed.emit()

    def _set_default(self, name: str) -> None:
        self.settings.set("default_voice", name)
        try:
            self.settings.save()
        except OSError as exc:
            self._error(self.tr("The default voice could not be saved ({}).").format(exc.strerror))

    def _error(self, message: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Voices"), message, parent=self)
        box.open()
        self.error_box = box


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
