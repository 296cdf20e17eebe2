"""Controls for while listening, under the main window's text: previous / next sentence, speed,
volume, and the time heard and still to come, which also move the window's progress bar.

Speed and volume are the settings of those names (their ranges come from their declarations);
a change reaches the speech under way at once (volume) or from its next part (speed), through
the controller, and is saved a moment later.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QWidget,
)

from cosydesk.config import option

TICK_MS = 200
SAVE_AFTER_MS = 800  # a slider dragged writes the settings file once, when it rests
# Texts shorter than this (characters) get no progress bar: they are over before it would help.
PROGRESS_FROM_CHARS = 300


def clock(seconds: float) -> str:
    """`seconds` as m:ss (h:mm:ss from an hour on)."""
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ListenBar(QWidget):
    """The row of listening controls; `progress` is the bar it moves while speech is heard."""

    def __init__(self, controller: Any, progress: QProgressBar, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.settings = controller.settings
        self.progress = progress
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        self.previous_button = QPushButton(self.tr("Previous sentence"))
        self.previous_button.setToolTip(self.tr("Go back one sentence (Alt+Left)"))
        self.previous_button.setAccessibleName(self.tr("Previous sentence"))
        self.next_button = QPushButton(self.tr("Next sentence"))
        self.next_button.setToolTip(self.tr("Skip to the next sentence (Alt+Right)"))
        self.next_button.setAccessibleName(self.tr("Next sentence"))
        self.previous_button.clicked.connect(lambda: controller.skip(-1))
        self.next_button.clicked.connect(lambda: controller.skip(1))

        speed = option("speed")
        assert speed.minimum is not None and speed.maximum is not None
        self.speed_label = QLabel(self.tr("Sp&eed:"))
        self.speed_box = QDoubleSpinBox()
        self.speed_box.setDecimals(2)
        self.speed_box.setRange(speed.minimum, speed.maximum)
        self.speed_box.setSingleStep(0.1)
        self.speed_box.setSuffix(" x")
        # Typing "1.25" must not restart the speech at 1, then 1.2, then 1.25: the value
        # counts once typed (Enter, or focus elsewhere), or at once with the arrows.
        self.speed_box.setKeyboardTracking(False)
        self.speed_box.setAccessibleName(self.tr("Speed"))
        self.speed_box.setToolTip(f"{speed.description} It applies from the next part on.")
        self.speed_label.setBuddy(self.speed_box)

        volume = option("volume")
        assert volume.minimum is not None and volume.maximum is not None
        self.volume_label = QLabel(self.tr("Vo&lume:"))
        self.volume_slider = QSlider(Qt.Orientation.Horizontal)
        self.volume_slider.setRange(int(volume.minimum), int(volume.maximum))
        self.volume_slider.setMaximumWidth(140)
        self.volume_slider.setAccessibleName(self.tr("Volume"))
        self.volume_slider.setToolTip(volume.description)
        self.volume_label.setBuddy(self.volume_slider)

        self.time_label = QLabel("")
        self.time_label.setAccessibleDescription(self.tr("Time heard, and time left of the speech"))
        layout.addWidget(self.previous_button)
        layout.addWidget(self.next_button)
        layout.addStretch(1)
        controls: tuple[QWidget, ...] = (
            self.speed_label,
            self.speed_box,
            self.volume_label,
            self.volume_slider,
            self.time_label,
        )
        for widget in controls:
            layout.addWidget(widget)

        self._show_settings()
        self.speed_box.valueChanged.connect(self._speed_chosen)
        self.volume_slider.valueChanged.connect(self._volume_chosen)
        self.settings.on_change(self._on_setting_changed)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_AFTER_MS)
        self._save_timer.timeout.connect(self._save)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.tick)
        self.set_speaking(False)

    # -- settings -------------------------------------------------------------------------------

    def _show_settings(self) -> None:
        for widget, name in ((self.speed_box, "speed"), (self.volume_slider, "volume")):
            widget.blockSignals(True)
            widget.setValue(self.settings.get(name))
            widget.blockSignals(False)

    def _on_setting_changed(self, name: str, _value: object) -> None:
        if name in ("speed", "volume"):
            self._show_settings()  # the tray or the settings dialog changed it

    @Slot(float)
    def _speed_chosen(self, value: float) -> None:
        self.settings.set("speed", round(value, 2))
        self._save_timer.start()

    @Slot(int)
    def _volume_chosen(self, value: int) -> None:
        self.settings.set("volume", value)
        self._save_timer.start()

    @Slot()
    def _save(self) -> None:
        try:
            self.settings.save()
        except OSError as exc:
            self.controller.error.emit(f"The speed and volume could not be saved: {exc}")

    # -- while speaking -------------------------------------------------------------------------

    def set_speaking(self, speaking: bool) -> None:
        """Enable skipping and follow the time while something is spoken."""
        self.previous_button.setEnabled(speaking)
        self.next_button.setEnabled(speaking)
        if speaking:
            if not self._timer.isActive():
                self._timer.start()
            self.tick()
        else:
            self._timer.stop()
            self.time_label.setText("")
            self.progress.hide()

    @Slot()
    def tick(self) -> None:
        """Show where the listener is: time heard and left, and the bar at the character
        reached."""
        heard = self.controller.listening()
        if heard is None:
            return
        self.time_label.setText(f"{clock(heard.elapsed)} heard, {clock(heard.remaining)} left")
        if heard.total < PROGRESS_FROM_CHARS:
            return
        self.progress.setRange(0, heard.total)
        self.progress.setValue(min(int(heard.position), heard.total))
        self.progress.show()
