"""The first-run dialog: where the model folder is, checked by the engine's own folder reader."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cosydesk.engine.errors import EngineError

log = logging.getLogger(__name__)

INTRO = (
    "<b>Welcome to cosydesk.</b><br>It reads text aloud with the CosyVoice3 model on your own "
    "computer. Choose the folder where you downloaded the model; nothing is sent anywhere."
)


class FirstRunDialog(QDialog):
    """Asks for the model folder; OK only once the folder passes the engine's check."""

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        from cosydesk.engine.modelfolder import describe_expected

        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("cosydesk - choose the model")
        self.resize(640, 520)
        layout = QVBoxLayout(self)
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.help_text = QPlainTextEdit(describe_expected())
        self.help_text.setReadOnly(True)
        layout.addWidget(self.help_text, 1)

        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(settings.get("model_dir") or ""))
        self.path_edit.setPlaceholderText("For example ~/models/Fun-CosyVoice3-0.5B-2512")
        self.browse_button = QPushButton("&Browse...")
        self.browse_button.clicked.connect(self._browse)
        label = QLabel("Model &folder:")
        label.setBuddy(self.path_edit)
        row.addWidget(label)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        layout.addLayout(row)

        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)

        self.buttons = QDialogButtonBox()
        self.ok_button = self.buttons.addButton(
            "&Use this folder", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.later_button = self.buttons.addButton("&Later", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        # Check a typed path once typing pauses, not at every key.
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(300)
        self._check_timer.timeout.connect(self.check)
        self.path_edit.textChanged.connect(lambda _text: self._check_timer.start())
        self.valid = False
        self.check()

    @Slot()
    def check(self) -> bool:
        """Run the engine's quick folder check on the path; show its sentence; enable OK."""
        from cosydesk.engine.modelfolder import open_model_folder

        self._check_timer.stop()
        text = self.path_edit.text().strip()
        if not text:
            self._show(False, "Choose the folder that holds cosyvoice3.yaml.", error=False)
            return False
        try:
            open_model_folder(Path(text).expanduser())
        except EngineError as exc:
            self._show(False, str(exc), error=True)
            return False
        except OSError as exc:
            self._show(False, f"The folder could not be read: {exc.strerror}.", error=True)
            return False
        self._show(True, "This is a CosyVoice3 model folder. The model loads in the background.")
        return True

    def _show(self, valid: bool, message: str, *, error: bool = False) -> None:
        self.valid = valid
        self.ok_button.setEnabled(valid)
        colour = "#b91c1c" if error else ("#15803d" if valid else "palette(text)")
        self.result_label.setStyleSheet(f"color: {colour};")
        self.result_label.setText(message)

    @Slot()
    def _browse(self) -> None:
        start = self.path_edit.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the CosyVoice3 model folder", start)
        if folder:
            self.path_edit.setText(folder)
            self.check()

    def accept(self) -> None:
        """Store the folder (and that the first run is done) only if it passes the check now."""
        if not self.check():
            return
        folder = str(Path(self.path_edit.text().strip()).expanduser())
        self.settings.set("first_run_done", True)
        self.settings.set("model_dir", folder)
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("Could not save the settings: %s", exc)
        super().accept()
