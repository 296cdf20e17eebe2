"""The crash dialog: what went wrong, the last log lines and where the log file is."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cosydesk import logs

DISABLE_VARIABLE = "COSYDESK_NO_CRASH_DIALOG"


def summary(report: str) -> str:
    """The last line of a traceback ("ValueError: ..."), which says what happened."""
    lines = [line for line in report.strip().splitlines() if line.strip()]
    return (
        lines[-1].strip() if lines else QCoreApplication.translate("CrashDialog", "Unknown error")
    )


class CrashDialog(QDialog):
    """Shows an unexpected error with the recent log, and lets the person copy it all."""

    def __init__(self, report: str, log_file: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Unexpected error"))
        self.resize(720, 480)
        layout = QVBoxLayout(self)
        headline = QLabel(
            self.tr(
                "<b>cosydesk ran into an unexpected error.</b> It keeps running, but what you "
                "were doing may not have finished. If this happens again, please report it with "
                "the text below."
            )
        )
        headline.setWordWrap(True)
        layout.addWidget(headline)
        self.message_label = QLabel(summary(report))
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)
        if log_file:
            where = self.tr("The full log is in {}").format(log_file)
        else:
            where = self.tr("No log file is being written.")
        self.log_label = QLabel(where)
        self.log_label.setWordWrap(True)
        layout.addWidget(self.log_label)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setAccessibleName(self.tr("Error report"))
        self.details.setAccessibleDescription(
            self.tr("What went wrong, and the recent lines of the log")
        )
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        recent = "\n".join(logs.recent_lines(100))
        self.details.setPlainText(f"{report.rstrip()}\n\n--- recent log ---\n{recent}")
        layout.addWidget(self.details, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton(self.tr("&Copy report"))
        self.copy_button.setAccessibleDescription(self.tr("Copy the whole report to the clipboard"))
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_report)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @Slot()
    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.details.toPlainText())


class CrashReporter(QObject):
    """The excepthook's `show_dialog`: callable from any thread, shows the dialog on the GUI's."""

    _crashed = Signal(str)

    def __init__(self, log_file: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_file = log_file
        self.dialogs: list[CrashDialog] = []
        self._crashed.connect(self._show)

    def __call__(self, report: str) -> None:
        if os.environ.get(DISABLE_VARIABLE) == "1":
            return
        self._crashed.emit(report)  # queued when called from another thread

    @Slot(str)
    def _show(self, report: str) -> None:
        # One dialog at a time: a burst of errors from one fault would otherwise bury the desk.
        if any(d.isVisible() for d in self.dialogs):
            return
        dialog = CrashDialog(report, self.log_file)
        dialog.finished.connect(lambda _result: self.dialogs.remove(dialog))
        self.dialogs.append(dialog)
        dialog.open()
