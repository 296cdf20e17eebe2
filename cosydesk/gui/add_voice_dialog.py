"""Asks for a new voice: a name, an audio clip and exactly what the clip says."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from cosydesk.gui.i18n import QT_TRANSLATE_NOOP

AUDIO_FILTER = QT_TRANSLATE_NOOP(
    "AddVoiceDialog", "Audio files (*.wav *.flac *.ogg *.mp3 *.m4a *.opus);;All files (*)"
)
HINT = QT_TRANSLATE_NOOP(
    "AddVoiceDialog",
    "Choose a clip of one person speaking clearly, 5 to 15 seconds long (30 s at most), and type "
    "exactly what it says. The new voice speaks like the clip.",
)


class AddVoiceDialog(QDialog):
    """OK is enabled once there is a name, an existing file and a transcript."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Add a voice from a file"))
        self.resize(520, 320)
        form = QFormLayout(self)
        hint = QLabel(self.tr(HINT))
        hint.setWordWrap(True)
        form.addRow(hint)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(self.tr("For example: Narrator"))
        form.addRow(self.tr("&Name:"), self.name_edit)
        self.file_edit = QLineEdit()
        self.browse_button = QPushButton(self.tr("&Browse..."))
        self.browse_button.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.file_edit, 1)
        row.addWidget(self.browse_button)
        # A row that is a layout gets no buddy from addRow(text, ...): the mnemonic showed as a
        # literal "&Clip:" and the field had no name for screen readers.
        clip_label = QLabel(self.tr("&Clip:"))
        clip_label.setBuddy(self.file_edit)
        self.file_edit.setAccessibleName(self.tr("Clip"))
        self.file_edit.setAccessibleDescription(
            self.tr("The audio file of the voice, 5 to 15 seconds")
        )
        self.browse_button.setAccessibleDescription(
            self.tr("Choose the audio clip in a file dialog")
        )
        self.name_edit.setAccessibleDescription(self.tr("The name the voice is listed under"))
        form.addRow(clip_label, row)
        self.transcript_edit = QPlainTextEdit()
        self.transcript_edit.setPlaceholderText(self.tr("Exactly what the clip says"))
        self.transcript_edit.setAccessibleDescription(self.tr("Exactly what the clip says"))
        self.transcript_edit.setTabChangesFocus(True)  # a transcript is one line of thought
        form.addRow(self.tr("&Transcript:"), self.transcript_edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("&Add voice"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        for signal in (
            self.name_edit.textChanged,
            self.file_edit.textChanged,
            self.transcript_edit.textChanged,
        ):
            signal.connect(self._update)
        self._update()

    def name(self) -> str:
        return self.name_edit.text().strip()

    def audio_path(self) -> Path:
        return Path(self.file_edit.text().strip()).expanduser()

    def transcript(self) -> str:
        return self.transcript_edit.toPlainText().strip()

    @Slot()
    def _update(self) -> None:
        ready = bool(self.name() and self.transcript() and self.file_edit.text().strip())
        self.ok_button.setEnabled(ready and self.audio_path().is_file())

    @Slot()
    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, self.tr("Choose a voice clip"), "", self.tr(AUDIO_FILTER)
        )
        if not name:
            return
        self.file_edit.setText(name)
        if not self.name():
            self.name_edit.setText(Path(name).stem.replace("_", " ").strip())
