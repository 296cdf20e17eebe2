"""Icons drawn with QPainter at run time: the app icon and one tray icon per app state.

Drawing them keeps them sharp at every size a tray asks for and needs no image plugin or
resource file in a frozen build. `resources/cosydesk.svg` is the same design for desktop files.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QLinearGradient, QPainter, QPainterPath, QPen, QPixmap

from cosydesk.gui.app_state import AppState

# Bubble colour per state: calm teal when ready, blue while speaking, amber while loading.
_COLOURS: dict[str, str] = {
    AppState.READY: "#14857a",
    AppState.SPEAKING: "#2563eb",
    AppState.PAUSED: "#2563eb",
    AppState.WORKING: "#2563eb",
    AppState.LOADING: "#b7791f",
    AppState.ERROR: "#c53030",
    AppState.UNLOADED: "#718096",
    AppState.NO_MODEL: "#718096",
}
_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


def _bubble(p: QPainter, colour: QColor) -> None:
    """A speech bubble filling most of a 64x64 canvas, tail at the lower left."""
    path = QPainterPath()
    path.addRoundedRect(QRectF(4, 6, 56, 42), 12, 12)
    tail = QPainterPath()
    tail.moveTo(14, 44)
    tail.lineTo(10, 60)
    tail.lineTo(28, 46)
    tail.closeSubpath()
    path = path.united(tail)
    p.setPen(QPen(colour.darker(135), 2.5))
    p.setBrush(colour)
    p.drawPath(path)


def _waves(p: QPainter, heights: tuple[float, ...]) -> None:
    """Rounded vertical bars, like a level meter, centred in the bubble."""
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("white"))
    width, gap = 6.0, 4.0
    left = 32 - (len(heights) * width + (len(heights) - 1) * gap) / 2
    for i, h in enumerate(heights):
        x = left + i * (width + gap)
        p.drawRoundedRect(QRectF(x, 27 - h / 2, width, h), 3, 3)


def _glyph(p: QPainter, state: str) -> None:
    white = QColor("white")
    if state in (AppState.SPEAKING, AppState.WORKING):
        _waves(p, (10, 22, 30, 22, 10))
    elif state == AppState.PAUSED:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(white)
        p.drawRoundedRect(QRectF(21, 15, 8, 24), 2, 2)
        p.drawRoundedRect(QRectF(35, 15, 8, 24), 2, 2)
    elif state == AppState.LOADING:
        pen = QPen(white, 5)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawArc(QRectF(20, 15, 24, 24), 90 * 16, -270 * 16)
    elif state == AppState.ERROR:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(white)
        p.drawRoundedRect(QRectF(28.5, 12, 7, 20), 3, 3)
        p.drawEllipse(QPointF(32, 38), 4, 4)
    elif state in (AppState.UNLOADED, AppState.NO_MODEL):
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(white)
        for x in (20, 32, 44):
            p.drawEllipse(QPointF(x, 27), 4, 4)
    else:  # ready
        _waves(p, (8, 16, 24, 16, 8))


def render_state(state: str, size: int = 64) -> QPixmap:
    """The tray picture for `state` (one of the controller's states) at `size` pixels."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 64, size / 64)
    _bubble(p, QColor(_COLOURS.get(state, _COLOURS[AppState.READY])))
    _glyph(p, state)
    p.end()
    return pixmap


def state_icon(state: str) -> QIcon:
    """The tray icon for `state`, drawn at the sizes trays commonly ask for."""
    icon = QIcon()
    for size in _SIZES[:6]:
        icon.addPixmap(render_state(state, size))
    return icon


def render_app(size: int = 256) -> QPixmap:
    """The application icon: the bubble on a rounded tile, for windows and desktop files."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 64, size / 64)
    tile = QLinearGradient(0, 0, 0, 64)
    tile.setColorAt(0, QColor("#1f2a44"))
    tile.setColorAt(1, QColor("#111827"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(tile)
    p.drawRoundedRect(QRectF(1, 1, 62, 62), 14, 14)
    p.translate(8, 9)
    p.scale(0.75, 0.75)
    _bubble(p, QColor(_COLOURS[AppState.READY]))
    _glyph(p, AppState.READY)
    p.end()
    return pixmap


def app_icon() -> QIcon:
    """The application icon at every size a window manager may want."""
    icon = QIcon()
    for size in _SIZES:
        icon.addPixmap(render_app(size))
    return icon
