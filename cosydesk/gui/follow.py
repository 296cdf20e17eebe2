"""Follow-along reading: the editor marks the sentence being heard, as it is heard, centred.

The controller knows which characters each part of the utterance covers and how much of the
audio has been played; a timer asks it a few times a second and moves a background mark (an
extra selection, so the text, the cursor and the user's selection are untouched) to the
sentence heard, and scrolls it to the middle of the view. Typing in the
editor ends the marking for that utterance, since its character positions no longer hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QPalette, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

if TYPE_CHECKING:
    from cosydesk.gui.controller import Controller

TICK_MS = 100


def _utf16_length(text: str) -> int:
    """Length in UTF-16 units, the unit of Qt's text positions (emoji count twice)."""
    return len(text.encode("utf-16-le")) // 2


class ReadingHighlighter(QObject):
    """Marks in `editor` what `controller` reports as being heard (see `follow`)."""

    def __init__(self, editor: QPlainTextEdit, controller: Controller) -> None:
        super().__init__(editor)
        self.editor = editor
        self.controller = controller
        self._job: int | None = None
        self._base = 0  # Qt position of the spoken text's first character
        self._text = ""
        self._shown: tuple[int, int] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        editor.textChanged.connect(self.forget)

    def follow(self, job_id: int | None, text: str, base: int = 0) -> None:
        """Mark the parts of `text` (spoken as job `job_id`, starting at Qt position `base`)."""
        self.forget()
        if job_id is None:
            return
        self._job, self._text, self._base = job_id, text, base
        self._timer.start()

    @Slot()
    def forget(self) -> None:
        """Stop following and remove the mark."""
        self._job = None
        self._shown = None
        self._timer.stop()
        if self.editor.extraSelections():
            self.editor.setExtraSelections([])

    def marked(self) -> str:
        """The text under the mark ("" when nothing is marked)."""
        span = self.marked_span()
        if span is None:
            return ""
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(span[0])
        cursor.setPosition(span[1], QTextCursor.MoveMode.KeepAnchor)
        return cursor.selectedText()

    def marked_span(self) -> tuple[int, int] | None:
        """Qt positions (first, end) of the mark, or None."""
        selections = self.editor.extraSelections()
        if not selections:
            return None
        selection = selections[0]
        cursor = selection.cursor  # type: ignore[attr-defined]
        return cursor.selectionStart(), cursor.selectionEnd()

    @Slot()
    def _tick(self) -> None:
        if self._job is None:
            return
        heard = self.controller.reading_range()
        if heard is None or heard[0] != self._job:
            if not self.controller.speaking or heard is not None:
                self.forget()  # finished, stopped, or another utterance took over
            return
        _, start, end = heard
        if (start, end) != self._shown:
            self._shown = (start, end)
            self._mark(start, end)

    def _mark(self, start: int, end: int) -> None:
        text = self._text
        end = min(end, len(text))
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        first = self._base + _utf16_length(text[:start])
        last = first + _utf16_length(text[start:end])
        cursor = QTextCursor(self.editor.document())
        limit = max(self.editor.document().characterCount() - 1, 0)
        cursor.setPosition(min(first, limit))
        cursor.setPosition(min(last, limit), QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor  # type: ignore[attr-defined]
        colour = self.editor.palette().color(QPalette.ColorRole.Highlight)
        colour.setAlpha(60)
        selection.format.setBackground(colour)  # type: ignore[attr-defined]
        self.editor.setExtraSelections([selection])
        self._scroll_to(first)

    def _scroll_to(self, position: int) -> None:
        """Scroll so that the line holding `position` sits in the middle of the view (the
        reader's eyes stay in one place while the text moves under them)."""
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(position)
        block = cursor.block()
        line = block.layout().lineForTextPosition(position - block.position())
        number = block.firstLineNumber() + (line.lineNumber() if line.isValid() else 0)
        # A QPlainTextEdit scrolls by lines; half a view of them above the mark centres it.
        height = max(self.editor.fontMetrics().lineSpacing(), 1)
        half = self.editor.viewport().height() // height // 2
        self.editor.verticalScrollBar().setValue(max(number - half, 0))
