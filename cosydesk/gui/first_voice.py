"""The first-run dialog's second step: the first voice, so that the first sound comes at once.

CosyVoice3 has no voice of its own. Three ways are offered: record one (the record dialog),
a clip from a file (the add-voice dialog), or the starter voice that the model download fetched.
Each is added on the runner by the voice library, which builds it in a hidden folder and renames
it into place only when its features are computed: the voice is whole or absent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cosydesk.gui.add_voice_dialog import AddVoiceDialog
from cosydesk.gui.i18n import QT_TRANSLATE_NOOP
from cosydesk.gui.record_dialog import RecordDialog
from cosydesk.gui.voice_adding import VoiceAdding
from cosydesk.gui.voices_dialog import try_text

log = logging.getLogger(__name__)

INTRO = QT_TRANSLATE_NOOP(
    "FirstVoicePage",
    "<b>Your first voice</b><br>CosyVoice3 has no voice of its own: it speaks like a short "
    "example of someone speaking. Give it one now; you can add more later under Voices.",
)
NO_STARTER = QT_TRANSLATE_NOOP(
    "FirstVoicePage",
    "The starter voice comes with the model download; it could not be fetched, so record a "
    "voice or use a clip instead.",
)


class FirstVoicePage(QWidget):
    """Offers the three ways to a first voice; `done` when the person finishes or skips."""

    done = Signal()
    voice_added = Signal(str)

    def __init__(
        self, controller: Any, starter_dir: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = controller.settings
        self.starter_dir = starter_dir
        self.added_name: str | None = None
        self.adding = VoiceAdding(controller, self)
        self.adding.added.connect(self._on_added)
        self.adding.failed.connect(self._on_failed)
        self.adding.changed.connect(self._update)

        layout = QVBoxLayout(self)
        intro = QLabel(self.tr(INTRO))
        intro.setWordWrap(True)
        layout.addWidget(intro)

        ways = QGridLayout()
        self.record_button = QPushButton(self.tr("&Record my voice..."))
        self.record_button.clicked.connect(self.record)
        self.file_button = QPushButton(self.tr("Use a clip from a &file..."))
        self.file_button.clicked.connect(self.add_from_file)
        self.starter_button = QPushButton(self.tr("Use the &starter voice"))
        self.starter_button.clicked.connect(self.use_starter)
        self.starter_label = QLabel()
        self.starter_label.setWordWrap(True)
        rows = (
            (self.record_button, QLabel(self.tr("Read one sentence aloud: 5 to 15 seconds."))),
            (self.file_button, QLabel(self.tr("A recording of one person, with what it says."))),
            (self.starter_button, self.starter_label),
        )
        for row, (button, label) in enumerate(rows):
            label.setWordWrap(True)
            label.setBuddy(button)
            button.setAccessibleDescription(label.text())
            ways.addWidget(button, row, 0)
            ways.addWidget(label, row, 1)
        ways.setColumnStretch(1, 1)
        layout.addLayout(ways)

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.clicked.connect(self.adding.cancel_all)
        status = QHBoxLayout()
        status.addWidget(self.status_label, 1)
        status.addWidget(self.cancel_button)
        layout.addLayout(status)
        layout.addStretch(1)

        buttons = QHBoxLayout()
        self.try_button = QPushButton(self.tr("&Try it"))
        self.try_button.setToolTip(self.tr("Hear the new voice read a short sentence"))
        self.try_button.clicked.connect(self.try_voice)
        self.finish_button = QPushButton(self.tr("S&kip for now"))
        self.finish_button.clicked.connect(self.finish)
        buttons.addWidget(self.try_button)
        buttons.addStretch(1)
        buttons.addWidget(self.finish_button)
        layout.addLayout(buttons)
        self.refresh_starter()
        self._update()

    # -- the three ways -----------------------------------------------------------------------

    def refresh_starter(self) -> None:
        """Offer the starter voice only when its clip was fetched and is whole."""
        from cosydesk.starter_voices import available

        voices = available(self.starter_dir) if self.starter_dir is not None else []
        self.starter = voices[0] if voices else None
        if self.starter is not None:
            self.starter_label.setText(f"{self.starter.description}.")
        else:
            self.starter_label.setText(self.tr(NO_STARTER))
        self.starter_button.setAccessibleDescription(self.starter_label.text())
        self._update()

    @Slot()
    def record(self) -> None:
        device = str(self.settings.effective("output_device") or "")
        dialog = RecordDialog(self, name=self.tr("My voice"), output_device=device)
        self.record_dialog = dialog

        def recorded() -> None:
            if dialog.recording_path is not None:
                self.add(dialog.name(), dialog.recording_path, dialog.transcript(), temporary=True)

        dialog.accepted.connect(recorded)
        dialog.open()

    @Slot()
    def add_from_file(self) -> None:
        dialog = AddVoiceDialog(self)
        self.add_dialog = dialog
        dialog.accepted.connect(
            lambda: self.add(dialog.name(), dialog.audio_path(), dialog.transcript())
        )
        dialog.open()

    @Slot()
    def use_starter(self) -> None:
        from cosydesk.starter_voices import clip_path

        if self.starter is not None and self.starter_dir is not None:
            clip = clip_path(self.starter_dir, self.starter)
            self.add(self.starter.name, clip, self.starter.transcript)

    def add(self, name: str, clip: Path, transcript: str, *, temporary: bool = False) -> None:
        """Add the voice on the runner; the page says how it goes."""
        if self.adding.start(name, clip, transcript, temporary=temporary) is not None:
            self._say(
                self.tr(
                    "Preparing the voice '{}' with the model (it loads first if needed)..."
                ).format(name),
                error=False,
            )

    # -- how it ended -------------------------------------------------------------------------

    @Slot(str)
    def _on_added(self, name: str) -> None:
        self.added_name = name
        default = ""
        if not self.settings.get("default_voice"):
            self.settings.set("default_voice", name)
            default = self.tr(" and is your default voice")
            try:
                self.settings.save()
            except OSError as exc:
                log.warning("Could not save the default voice: %s", exc)
        self._say(
            self.tr(
                "The voice '{name}' is ready{default}. Press Try it to hear it, or Finish to "
                "start using cosydesk."
            ).format(name=name, default=default),
            error=False,
        )
        self.voice_added.emit(name)
        self._update()

    @Slot(str, str)
    def _on_failed(self, name: str, message: str) -> None:
        self._say(
            self.tr("The voice '{name}' was not added. {reason}").format(name=name, reason=message),
            error=True,
        )

    @Slot()
    def try_voice(self) -> None:
        if self.added_name is not None:
            self.controller.speak(try_text(), self.added_name)

    @Slot()
    def finish(self) -> None:
        """Finish (or skip): a voice still being prepared is cancelled."""
        self.adding.cancel_all()
        self.done.emit()

    def _say(self, message: str, *, error: bool) -> None:
        self.status_label.setStyleSheet("color: #b91c1c;" if error else "")
        self.status_label.setText(message)

    @Slot()
    def _update(self) -> None:
        busy = self.adding.busy
        for button in (self.record_button, self.file_button):
            button.setEnabled(not busy)
        self.starter_button.setEnabled(not busy and self.starter is not None)
        self.cancel_button.setVisible(busy)
        self.try_button.setEnabled(self.added_name is not None and not busy)
        self.finish_button.setText(
            self.tr("&Finish") if self.added_name is not None else self.tr("S&kip for now")
        )
