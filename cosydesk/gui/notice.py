"""A line that tells the result of a check: an icon says error or success, the text says what.

No colour is hard-coded: the text uses the palette of the system's light or dark theme, and the
kind shows as the style's own icon, which also tells it to people who do not see colours.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStyle, QWidget


class Kind(Enum):
    INFO = "info"
    OK = "ok"
    ERROR = "error"


_ICONS = {
    Kind.OK: QStyle.StandardPixmap.SP_DialogApplyButton,
    Kind.ERROR: QStyle.StandardPixmap.SP_MessageBoxWarning,
}


class Notice(QWidget):
    """An icon and a word-wrapped text; `text()` and `setText()` work as a QLabel's do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.icon = QLabel()
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.icon.hide()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.icon)
        layout.addWidget(self.label, 1)
        self.kind = Kind.INFO

    def text(self) -> str:
        return self.label.text()

    def setText(self, text: str) -> None:
        self.label.setText(text)

    def show_message(self, text: str, kind: Kind = Kind.INFO) -> None:
        """Show `text` with the icon of `kind` (none for INFO)."""
        self.kind = kind
        self.label.setText(text)
        # Screen readers hear the kind in the name, as sighted people see it in the icon.
        prefix = {Kind.ERROR: self.tr("Error: "), Kind.OK: self.tr("OK: ")}.get(kind, "")
        self.label.setAccessibleName(prefix + text if prefix else "")
        standard = _ICONS.get(kind)
        if standard is None:
            self.icon.hide()
        else:
            size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
            self.icon.setPixmap(self.style().standardIcon(standard).pixmap(size, size))
            self.icon.show()
