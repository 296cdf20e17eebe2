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

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.m4a *.opus);;All files (*)"
HINT = (
    "Choose a clip of one person speaking clearly, 5 to 15 seconds long (30 s at most), and type "
    "exactly what it says. The new voice speaks like the clip."
)


class AddVoiceDialog(QDialog):
    """OK is enabled once there is a name, an existing file and a transcript."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a voice from a file")
        self.resize(520, 320)
        form = QFormLayout(self)
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        form.addRow(hint)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("For example: Narrator")
        form.addRow("&Name:", self.name_edit)
        self.file_edit = QLineEdit()
        self.browse_button = QPushButton("&Browse...")
        self.browse_button.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.file_edit, 1)
        row.addWidget(self.browse_button)
        # A row that is a layout gets no buddy from addRow(text, ...): the mnemonic showed as a
        # literal "&Clip:" and the field had no name for screen readers.
        clip_label = QLabel("&Clip:")
        clip_label.setBuddy(self.file_edit)
        self.file_edit.setAccessibleName("Clip")
        self.file_edit.setAccessibleDescription("The audio file of the voice, 5 to 15 seconds")
        self.browse_button.setAccessibleDescription("Choose the audio clip in a file dialog")
        self.name_edit.setAccessibleDescription("The name the voice is listed under")
        form.addRow(clip_label, row)
        self.transcript_edit = QPlainTextEdit()
        self.transcript_edit.setPlaceholderText("Exactly what the clip says")
        self.transcript_edit.setAccessibleDescription("Exactly what the clip says")
        self.transcript_edit.setTabChangesFocus(True)  # a transcript is one line of thought
        form.addRow("&Transcript:", self.transcript_edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Add voice")
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
        name, _ = QFileDialog.getOpenFileName(self, "Choose a voice clip", "", AUDIO_FILTER)
        if not name:
            return
        self.file_edit.setText(name)
        if not self.name():
            self.name_edit.setText(Path(name).stem.replace("_", " ").strip())
