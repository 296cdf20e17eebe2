"""The settings dialog: every option, validated on Apply; environment overrides shown locked."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QKeyCombination, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cosydesk.config import OPTIONS_BY_NAME, coerce
from cosydesk.engine.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

QUANTIZATION_LABELS = {
    "auto": "Automatic (4-bit on a GPU, none on the CPU)",
    "4bit": "4-bit NF4 (least GPU memory)",
    "8bit": "8-bit LLM.int8",
    "none": "None (full precision)",
}
PRECISION_LABELS = {
    "fp32": "fp32 (safest)",
    "bf16": "bf16 (half the memory; needs a recent GPU)",
    "fp16": "fp16 (guarded against silent audio)",
}
NORMALIZATION_LABELS = {
    "wetext": "Full: numbers, dates, amounts and units (wetext)",
    "basic": "Basic: only digits are spelled out",
}
DEVICE_LABELS = {"auto": "Automatic (GPU when present)", "cuda": "CUDA GPU", "cpu": "CPU"}


def _combo(labels: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    for value, label in labels.items():
        combo.addItem(label, value)
    return combo


class _Field:
    """One option's widget with a getter and a setter, so Apply can treat all of them alike."""

    def __init__(self, widget: QWidget, get: Callable[[], Any], put: Callable[[Any], None]) -> None:
        self.widget = widget
        self.get = get
        self.put = put
        self.note: QLabel | None = None


class SettingsDialog(QDialog):
    """Edits `settings`; OK and Apply validate, store and save; Cancel keeps everything."""

    applied = Signal()

    def __init__(
        self,
        settings: Any,
        library: Any = None,
        parent: QWidget | None = None,
        *,
        hotkey_note: str = "",
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.library = library
        self.setWindowTitle("cosydesk settings")
        self.setMinimumWidth(560)
        self.fields: dict[str, _Field] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(self._model_group())
        layout.addWidget(self._speech_group())
        layout.addWidget(self._hotkey_group(hotkey_note))
        layout.addWidget(self._api_group())
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b91c1c;")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.clicked.connect(self._on_button)
        layout.addWidget(self.buttons)
        self._lock_overridden()
        self.load_values()

    # -- groups -----------------------------------------------------------------------------

    def _add(self, form: QFormLayout, name: str, label: str, field: _Field) -> None:
        self.fields[name] = field
        option = OPTIONS_BY_NAME[name]
        field.widget.setToolTip(option.description)
        form.addRow(label, field.widget)
        note = QLabel()
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid); font-size: small;")
        note.hide()
        form.addRow("", note)
        field.note = note

    def _combo_field(self, labels: dict[str, str]) -> _Field:
        combo = _combo(labels)
        return _Field(combo, combo.currentData, lambda v: combo.setCurrentIndex(combo.findData(v)))

    def _model_group(self) -> QGroupBox:
        box = QGroupBox("Model")
        form = QFormLayout(box)
        folder = QLineEdit()
        folder.setPlaceholderText("The folder holding cosyvoice3.yaml")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse_model)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(folder, 1)
        row_layout.addWidget(browse)
        self.model_edit, self.browse_button = folder, browse
        field = _Field(row, lambda: folder.text().strip(), folder.setText)
        self._add(form, "model_dir", "Model &folder:", field)
        self._add(form, "quantization", "&Quantisation:", self._combo_field(QUANTIZATION_LABELS))
        self._add(
            form, "flow_precision", "Flow/vocoder &precision:", self._combo_field(PRECISION_LABELS)
        )
        threshold = QDoubleSpinBox()
        threshold.setRange(0.0, 20.0)
        threshold.setSingleStep(0.5)
        threshold.setDecimals(1)
        threshold.setToolTip("0 lets the 8-bit decode step run from a CUDA graph: much faster.")
        self._add(
            form,
            "int8_threshold",
            "8-bit &outlier threshold:",
            _Field(threshold, threshold.value, threshold.setValue),
        )
        self._add(form, "device", "&Device:", self._combo_field(DEVICE_LABELS))
        idle = QSpinBox()
        idle.setRange(0, 1440)
        idle.setSuffix(" min")
        idle.setSpecialValueText("Never")
        self._add(
            form,
            "idle_unload_minutes",
            "&Unload when idle:",
            _Field(idle, idle.value, idle.setValue),
        )
        return box

    def _speech_group(self) -> QGroupBox:
        box = QGroupBox("Speech")
        form = QFormLayout(box)
        voice = QComboBox()
        voice.addItem("First voice in the library", "")
        names = []
        if self.library is not None:
            try:
                names = [v.name for v in self.library.list()]
            except OSError as exc:
                log.warning("Could not list the voices: %s", exc)
        for name in names:
            voice.addItem(name, name)

        def put_voice(value: str) -> None:
            if value and voice.findData(value) < 0:
                voice.addItem(f"{value} (missing)", value)
            voice.setCurrentIndex(voice.findData(value))

        self._add(
            form, "default_voice", "Default &voice:", _Field(voice, voice.currentData, put_voice)
        )
        speed = QDoubleSpinBox()
        speed.setRange(0.5, 2.0)
        speed.setSingleStep(0.05)
        speed.setDecimals(2)
        speed.setSuffix(" x")
        self._add(form, "speed", "&Speed:", _Field(speed, speed.value, speed.setValue))
        stream = QCheckBox("Start playing before the whole text is rendered")
        self._add(form, "stream", "Streaming:", _Field(stream, stream.isChecked, stream.setChecked))
        self._add(
            form,
            "text_normalization",
            "&Reading numbers:",
            self._combo_field(NORMALIZATION_LABELS),
        )
        reading = self.fields["text_normalization"].note
        if importlib.util.find_spec("wetext") is None and reading is not None:
            reading.setText(
                "wetext is not installed, so the basic rules are used: pip install wetext"
            )
            reading.show()
        output = QComboBox()
        output.addItem("System default", "")
        self.output_note = ""
        try:
            from cosydesk.audio.playback import list_output_devices

            for value, label in list_output_devices():
                output.addItem(label, value)
        except Exception as exc:
            log.warning("Could not list the sound devices: %s", exc)
            self.output_note = str(exc)

        def put_output(value: str) -> None:
            if value and output.findData(value) < 0:
                output.addItem(f"{value} (not connected)", value)
            output.setCurrentIndex(output.findData(value))

        self._add(
            form, "output_device", "&Output device:", _Field(output, output.currentData, put_output)
        )
        note = self.fields["output_device"].note
        if self.output_note and note is not None:
            note.setText(self.output_note)
            note.show()
        return box

    def _hotkey_group(self, note: str) -> QGroupBox:
        box = QGroupBox("Global hotkey")
        form = QFormLayout(box)
        edit = QKeySequenceEdit()
        edit.setMaximumSequenceLength(1)
        edit.setClearButtonEnabled(True)
        # Enter ends the editing (and then presses OK), instead of becoming the hotkey itself.
        edit.setFinishingKeyCombinations(
            [QKeyCombination(Qt.Key.Key_Return), QKeyCombination(Qt.Key.Key_Enter)]
        )
        field = _Field(
            edit,
            lambda: edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText),
            lambda v: edit.setKeySequence(QKeySequence(v)),
        )
        self._add(form, "hotkey", "Speak &clipboard:", field)
        self.hotkey_note = QLabel(note)
        self.hotkey_note.setWordWrap(True)
        self.hotkey_note.setVisible(bool(note))
        form.addRow(self.hotkey_note)
        return box

    def _api_group(self) -> QGroupBox:
        box = QGroupBox("Local speech API")
        form = QFormLayout(box)
        enabled = QCheckBox("Serve the OpenAI-style speech API on this computer")
        self._add(form, "api_enabled", "", _Field(enabled, enabled.isChecked, enabled.setChecked))
        port = QSpinBox()
        port.setRange(1024, 65535)
        self._add(form, "api_port", "P&ort:", _Field(port, port.value, port.setValue))
        key = QLineEdit()
        key.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        key.setPlaceholderText("No key: only this computer can connect")
        self._add(form, "api_key", "&Key:", _Field(key, key.text, key.setText))
        return box

    # -- values -----------------------------------------------------------------------------

    def _lock_overridden(self) -> None:
        """Options set by an environment variable are shown, greyed, with the variable named."""
        for name, field in self.fields.items():
            variable = self.settings.overridden_by_env(name)
            if not variable or field.note is None:
                continue
            field.widget.setEnabled(False)
            field.note.setText(
                f"Set by the environment variable {variable}; unset it to change this here."
            )
            field.note.show()

    def load_values(self) -> None:
        """Show the values in force (environment overrides included)."""
        for name, field in self.fields.items():
            try:
                value = self.settings.effective(name)
            except ConfigError as exc:
                value = self.settings.get(name)
                self._show_error(str(exc))
            field.put(value)

    def _validate_model_dir(self, value: str) -> None:
        if not value or value == self.settings.get("model_dir"):
            return
        from cosydesk.engine.modelfolder import open_model_folder

        open_model_folder(value)

    def apply(self) -> bool:
        """Validate every option, then store the changed ones and save.

        Nothing is stored unless all are valid; on failure the sentences are shown and False is
        returned. A changed model folder must pass the engine's folder check.
        """
        errors = []
        changes: dict[str, Any] = {}
        for name, field in self.fields.items():
            if not field.widget.isEnabled():
                continue
            try:
                value = coerce(OPTIONS_BY_NAME[name], field.get())
                if name == "model_dir":
                    self._validate_model_dir(value)
            except EngineError as exc:  # ConfigError and ModelFolderError are both sentences
                errors.append(str(exc))
                continue
            if value != self.settings.get(name):
                changes[name] = value
        if errors:
            self._show_error("\n".join(errors))
            return False
        for name, value in changes.items():
            self.settings.set(name, value)
        try:
            self.settings.save()
        except OSError as exc:
            self._show_error(
                f"The settings could not be saved to {self.settings.path} ({exc.strerror}); "
                "they apply until cosydesk quits."
            )
            return False
        self.error_label.hide()
        self.applied.emit()
        return True

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    @Slot()
    def _browse_model(self) -> None:
        start = self.model_edit.text() or ""
        folder = QFileDialog.getExistingDirectory(self, "Choose the CosyVoice3 model folder", start)
        if folder:
            self.model_edit.setText(folder)

    @Slot(QAbstractButton)
    def _on_button(self, button: QAbstractButton) -> None:
        role = self.buttons.buttonRole(button)
        if role == QDialogButtonBox.ButtonRole.RejectRole:
            self.reject()
        elif role == QDialogButtonBox.ButtonRole.ApplyRole:
            self.apply()
        elif role == QDialogButtonBox.ButtonRole.AcceptRole and self.apply():
            self.accept()
