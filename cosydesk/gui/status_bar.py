"""The main window's status bar: what the app is doing, the quantisation in effect, GPU memory."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStatusBar,
    QStyleOption,
    QWidget,
)

from cosydesk.engine.types import EngineStatus, ModelStatus
from cosydesk.gui.app_state import AppState
from cosydesk.gui.i18n import QT_TRANSLATE_NOOP

MIB = 1024**2
GIB = 1024**3
NO_CUDA = QT_TRANSLATE_NOOP("StatusBar", "No CUDA GPU - running on CPU")


def _size(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def quantization_text(status: EngineStatus) -> tuple[str, str]:
    """(label, tooltip) for the quantisation in effect; says so when it differs from the ask."""
    if status.status != ModelStatus.OK:
        return (
            QCoreApplication.translate("StatusBar", "Quantisation: -"),
            QCoreApplication.translate("StatusBar", "The model is not loaded."),
        )
    names = {
        "4bit": QCoreApplication.translate("StatusBar", "4-bit NF4"),
        "8bit": QCoreApplication.translate("StatusBar", "8-bit"),
        "none": QCoreApplication.translate("StatusBar", "none"),
    }
    label = names.get(status.quantization, status.quantization)
    text = QCoreApplication.translate("StatusBar", "Quantisation: {}").format(label)
    precisions = status.precisions
    tip = QCoreApplication.translate("StatusBar", "LLM: {llm}, flow: {flow}, vocoder: {vocoder}")
    tip = tip.format(
        llm=precisions.get("llm", "?"),
        flow=precisions.get("flow", "?"),
        vocoder=precisions.get("vocoder", "?"),
    )
    if status.quantization_requested == "auto":
        text += QCoreApplication.translate("StatusBar", " (automatic)")
        tip += "\n" + QCoreApplication.translate(
            "StatusBar", "Automatic: 4-bit on a CUDA GPU; on the CPU none, which is faster there."
        )
    elif status.quantization_requested and status.quantization_requested != status.quantization:
        asked = {
            "4bit": QCoreApplication.translate("StatusBar", "4-bit"),
            "8bit": QCoreApplication.translate("StatusBar", "8-bit"),
        }.get(status.quantization_requested, names["none"])
        text += QCoreApplication.translate("StatusBar", " (asked {})").format(asked)
    if status.quantization_note:
        tip += f"\n{status.quantization_note}"
    if status.text_normalization:
        tip += "\n" + QCoreApplication.translate("StatusBar", "Numbers are read with: {}").format(
            status.text_normalization
        )
    return text, tip


def memory_text(status: EngineStatus) -> tuple[str, str]:
    """(label, tooltip) for GPU memory: what the card has in use, then the model's share.

    The first figure is the driver's (total minus free, as `torch.cuda.mem_get_info` reads it):
    it holds the CUDA context, the memory the allocator keeps for reuse and the graphs'
    workspaces, which the model's weights alone (the figure in brackets) leave out.
    """
    card = ""
    if status.card_total:
        card = QCoreApplication.translate("StatusBar", "card {used} / {total}").format(
            used=_size(status.card_used or 0), total=_size(status.card_total)
        )
    if status.status == ModelStatus.OK and not status.device.startswith("cuda"):
        if not status.card_total:
            return QCoreApplication.translate("StatusBar", NO_CUDA), QCoreApplication.translate(
                "StatusBar", "torch finds no CUDA GPU, so the model runs on the CPU (slowly)."
            )
        return (
            QCoreApplication.translate("StatusBar", "Running on CPU (GPU {})").format(card),
            QCoreApplication.translate(
                "StatusBar", "The device setting keeps the model on the CPU."
            ),
        )
    if status.status != ModelStatus.OK:
        if card:
            return (
                QCoreApplication.translate("StatusBar", "GPU: model not loaded, {}").format(card),
                status.card_name or "",
            )
        return QCoreApplication.translate("StatusBar", "GPU: model not loaded"), ""
    on_gpu = sum(c.bytes for c in status.components if c.device.startswith("cuda"))
    model = on_gpu or status.cuda_allocated or 0
    part = QCoreApplication.translate("StatusBar", "{name}: {size} on {device} ({precision})")
    lines = [
        part.format(name=c.name, size=_size(c.bytes), device=c.device, precision=c.precision)
        for c in status.components
    ]
    if status.cuda_reserved is not None:
        lines.append(
            QCoreApplication.translate("StatusBar", "kept by this process's allocator: {}").format(
                _size(status.cuda_reserved)
            )
        )
    if status.card_total:
        used, total = _size(status.card_used or 0), _size(status.card_total)
        lines.insert(
            0,
            QCoreApplication.translate(
                "StatusBar",
                "In use on the card: {used} of {total}, as the driver counts it (this app's CUDA "
                "context, its allocator's reserve and graph workspaces included, and other "
                "programs' use). The model: {model}.",
            ).format(used=used, total=total, model=_size(model)),
        )
        text = QCoreApplication.translate(
            "StatusBar", "GPU: {used} / {total} in use (model {model})"
        ).format(used=used, total=total, model=_size(model))
    else:
        text = QCoreApplication.translate("StatusBar", "GPU: model {model}").format(
            model=_size(model)
        )
    if status.card_name:
        lines.insert(0, status.card_name)
    return text, "\n".join(lines)


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


class ElidedLabel(QLabel):
    """A one-line label that shows what fits and ends in "..." instead of widening its window.

    Its text (what screen readers read) and tooltip stay whole.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        hint.setWidth(40)
        return hint

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, rect.width()
        )
        self.style().drawItemText(
            painter,
            rect,
            int(self.alignment()),
            option.palette,
            self.isEnabled(),
            shown,
            self.foregroundRole(),
        )


class StatusBar(QStatusBar):
    """Shows the app state on the left; quantisation and GPU memory as permanent fields.

    While no model folder is chosen it offers "Choose the model..." right there.
    """

    choose_model_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_label = ElidedLabel(self.tr("Starting..."))
        self.choose_model_button = QPushButton(self.tr("Choose the mo&del..."))
        self.choose_model_button.setAccessibleDescription(
            self.tr("Choose the CosyVoice3 model folder, or download it")
        )
        self.choose_model_button.clicked.connect(self.choose_model_requested)
        self.choose_model_button.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.quant_label = QLabel(QCoreApplication.translate("StatusBar", "Quantisation: -"))
        self.memory_label = QLabel(QCoreApplication.translate("StatusBar", "GPU: model not loaded"))
        self.addWidget(self.state_label, 1)
        self.addWidget(self.choose_model_button)
        self.addWidget(self.progress)
        self.addPermanentWidget(_separator())
        self.addPermanentWidget(self.quant_label)
        self.addPermanentWidget(_separator())
        self.addPermanentWidget(self.memory_label)

    def set_state(self, state: str, detail: str) -> None:
        """Show the controller's state; the progress bar appears only while loading."""
        self.state_label.setText(detail or state)
        self.state_label.setToolTip(detail)
        self.state_label.setProperty("state", state)
        self.choose_model_button.setVisible(state == AppState.NO_MODEL)
        if state != AppState.LOADING:
            self.progress.hide()

    def set_load_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 100))
        self.progress.setVisible(fraction < 1.0)

    def set_engine_status(self, status: EngineStatus) -> None:
        """Refresh quantisation and memory from the runner's latest status."""
        text, tip = quantization_text(status)
        self.quant_label.setText(text)
        self.quant_label.setToolTip(tip)
        text, tip = memory_text(status)
        self.memory_label.setText(text)
        self.memory_label.setToolTip(tip)
