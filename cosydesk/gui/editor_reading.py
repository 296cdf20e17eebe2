"""Reading the main window's text: the selection or all of it, from the text cursor, or on from
where the last reading of the same text stopped; the place is kept when listening stops.

Places are characters of the editor's whole text, stored with that text's identity
(reading_place.py), so a place survives a restart and is dropped once the text changes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QPlainTextEdit

from cosydesk.gui.follow import ReadingHighlighter
from cosydesk.gui.reading_place import FILE_NAME, ReadingPlaces
from cosydesk.gui.sentences import word_start


class EditorReading(QObject):
    """Speaks `editor`'s text through `controller`, marked by `highlighter`."""

    # Whether the editor's text has a place to continue from (offer "Continue" then).
    can_continue = Signal(bool)

    def __init__(
        self,
        editor: QPlainTextEdit,
        controller: Any,
        highlighter: ReadingHighlighter,
        places: ReadingPlaces | None = None,
    ) -> None:
        super().__init__(editor)
        self.editor = editor
        self.controller = controller
        self.highlighter = highlighter
        self.places = places if places is not None else _reading_places()
        # What was last spoken from the editor: (that text, its first character in the whole
        # text, the whole text then), to know where a place lies.
        self._spoken: tuple[str, int, str] | None = None
        controller.reading_stopped.connect(self._on_reading_stopped)
        editor.textChanged.connect(self.offer_continue)

    def speak(self, text: str, qt_start: int, voice: str | None) -> None:
        """Read `text`, the part of the editor's text from Qt position `qt_start` on."""
        whole = self.editor.toPlainText()
        base = _python_index(whole, qt_start)
        if text != whole[base : base + len(text)]:  # a selection across paragraphs: no place
            base = 0
        job = self.controller.speak(text, voice)
        self._spoken = (text, base, whole) if job is not None else None
        self.highlighter.follow(job, text, qt_start)

    def speak_from(self, start: int, voice: str | None) -> None:
        """Read the whole text from its character `start` (from its beginning when nothing
        but white space follows `start`)."""
        whole = self.editor.toPlainText()
        if not whole[start:].strip():
            start = 0
        job = self.controller.speak(whole, voice, start)
        self._spoken = (whole, 0, whole) if job is not None else None
        self.highlighter.follow(job, whole, 0)

    def speak_from_cursor(self, voice: str | None) -> None:
        """Read on from the start of the word the text cursor is in."""
        whole = self.editor.toPlainText()
        start = _python_index(whole, self.editor.textCursor().position())
        self.speak_from(word_start(whole, start), voice)

    def continue_reading(self, voice: str | None) -> None:
        """Read on from where the last reading of this very text stopped (else its start)."""
        self.speak_from(self.places.place(self.editor.toPlainText()) or 0, voice)

    @Slot(str, int)
    def _on_reading_stopped(self, text: str, position: int) -> None:
        spoken, self._spoken = self._spoken, None
        if spoken is None or spoken[0] != text or spoken[2] != self.editor.toPlainText():
            return  # another text (the clipboard), or the editor's text changed since
        _, base, whole = spoken
        position = base + (len(text) if position < 0 else position)  # -1: heard to its end
        if whole[position:].strip():
            self.places.remember(whole, position)
        else:
            self.places.forget(whole)
        self.offer_continue()

    @Slot()
    def offer_continue(self) -> None:
        """Tell `can_continue` whether the editor's text has a place kept."""
        self.can_continue.emit(self.places.place(self.editor.toPlainText()) is not None)


def _python_index(text: str, position: int) -> int:
    """The index in `text` of Qt's text position `position` (Qt counts UTF-16 units, in which
    characters beyond the BMP, such as emoji, take two)."""
    units = 0
    for index, char in enumerate(text):
        if units >= position:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def _reading_places() -> ReadingPlaces:
    from cosydesk.config import data_dir

    return ReadingPlaces(data_dir() / FILE_NAME)
