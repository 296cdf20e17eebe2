"""What screen readers say for a control: its name and a sentence on what it does."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QWidget)


def accessible(widget: W, name: str, description: str = "") -> W:
    """Give `widget` an accessible name and, when given, a description; returns it.

    Qt would name a combo box by its current item and an unlabelled field not at all, and
    describe a control only by its tooltip; an explicit name and description say what it is for.
    """
    widget.setAccessibleName(name)
    if description:
        widget.setAccessibleDescription(description)
    return widget
