"""The text editor of the main window: plain text, and text files dropped on it are opened."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Signal
from PySide6.QtWidgets import QPlainTextEdit, QWidget


class TextEditor(QPlainTextEdit):
    """A QPlainTextEdit that hands a dropped (or pasted) local file to `file_dropped` instead of
    inserting its path as text."""

    file_dropped = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)

    @staticmethod
    def _local_file(source: QMimeData) -> Path | None:
        if not source.hasUrls():
            return None
        urls = [url for url in source.urls() if url.isLocalFile()]
        if len(urls) != 1:
            return None
        path = Path(urls[0].toLocalFile())
        return path if path.is_file() else None

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return self._local_file(source) is not None or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        path = self._local_file(source)
        if path is None:
            super().insertFromMimeData(source)
        else:
            self.file_dropped.emit(path)
