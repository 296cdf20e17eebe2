"""The settings dialog: every option, validated on Apply; environment overrides shown locked.

Its pages are tabs, so that it fits a 768 px high screen at 150 % scaling (512 px).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QKeyCombination, Qt, Signal, Slot
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cosydesk.autostart import Autostart, AutostartError
from cosydesk.config import coerce, option
from cosydesk.engine.errors import ConfigError, EngineError
from cosydesk.gui.i18n import plain
from cosydesk.gui.notice import Kind, Notice

if TYPE_CHECKING:
    from cosydesk.config import Settings
    from cosydesk.engine.voices import VoiceLibrary

log = logging.getLogger(__name__)


def _combo(name: str) -> QComboBox:
    """The choices of setting `name`, each shown in its declared words (translated)."""
    combo = QComboBox()
    for value, label in option(name).allowed:
        combo.addItem(config_text(label), value)
    return combo


def config_text(text: str) -> str:
    """A label or description declared in cosydesk/config.py, in the interface's language (they
    are marked for the translation tools in config_text.py)."""
    return QCoreApplication.translate("config", text)


def _page(*groups: QWidget) -> QWidget:
    """A tab page holding `groups` at its top."""
    page = QWidget()
    layout = QVBoxLayout(page)
    for group in groups:
        layout.addWidget(group)
    layout.addStretch(1)
    return page


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
        settings: Settings,
        library: VoiceLibrary | None = None,
        parent: QWidget | None = None,
        *,
        hotkey_note: str = "",
        autostart: Autostart | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.library = library
        self.autostart = autostart or Autostart()
        self.setWindowTitle(self.tr("Settings"))  # the desktop adds the app's name
        self.setMinimumWidth(560)
        self.fields: dict[str, _Field] = {}
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        pages = (
            (
                _page(self._model_group()),
                self.tr("Model"),
                self.tr("The model folder, quantisation and device"),
            ),
            (
                _page(self._speech_group()),
                self.tr("Speech"),
                self.tr("Default voice, speed and sound output"),
            ),
            (
                _page(self._hotkey_group(hotkey_note), self._login_group()),
                self.tr("Desktop"),
                self.tr("The global hotkey, and starting at login"),
            ),
            (
                _page(self._api_group()),
                self.tr("Speech API"),
                self.tr("The local OpenAI-style speech API"),
            ),
        )
        for page, title, about in pages:
            self.tabs.setTabToolTip(self.tabs.addTab(page, title), about)
        for tabs in (self.tabs, self.tabs.tabBar()):
            tabs.setAccessibleName(self.tr("Settings pages"))
            tabs.setAccessibleDescription(
                self.tr(
                    "Model, Speech, Desktop and Speech API settings; "
                    "Ctrl+Tab moves to the next page"
                )
            )
        layout.addWidget(self.tabs, 1)
        self.error_label = Notice()
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
        description = config_text(option(name).description)
        field.widget.setToolTip(description)
        # Named by its label (a combo box would otherwise be named by its current choice).
        spoken = plain(label)
        if spoken:
            field.widget.setAccessibleName(spoken)
        field.widget.setAccessibleDescription(description)
        form.addRow(label, field.widget)
        note = QLabel()
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid); font-size: small;")
        note.hide()
        form.addRow("", note)
        field.note = note

    def _combo_field(self, name: str) -> _Field:
        combo = _combo(name)
        return _Field(combo, combo.currentData, lambda v: combo.setCurrentIndex(combo.findData(v)))

    def _number_field(self, name: str, **looks: Any) -> _Field:
        """A spin box bounded by the range that setting `name` declares.

        `looks` are the spin box's presentation: step, decimals, suffix, special_value_text.
        """
        declared = option(name)
        low, high = declared.minimum, declared.maximum
        if low is None or high is None:
            raise ValueError(f"the setting {name} declares no range for its spin box")
        box: QSpinBox | QDoubleSpinBox
        if declared.type is int:
            box = QSpinBox()
            box.setRange(int(low), int(high))
        else:
            box = QDoubleSpinBox()
            box.setDecimals(looks.get("decimals", 2))  # before the range, which it rounds
            box.setRange(float(low), float(high))
        if "step" in looks:
            box.setSingleStep(looks["step"])
        box.setSuffix(looks.get("suffix", ""))
        box.setSpecialValueText(looks.get("special_value_text", ""))
        return _Field(box, box.value, box.setValue)

    def _model_group(self) -> QGroupBox:
        box = QGroupBox(self.tr("Model"))
        form = QFormLayout(box)
        folder = QLineEdit()
        folder.setPlaceholderText(self.tr("The folder holding cosyvoice3.yaml"))
        browse = QPushButton(self.tr("&Browse..."))
        browse.clicked.connect(self._browse_model)
        browse.setAccessibleDescription(self.tr("Choose the model folder in a file dialog"))
        folder.setAccessibleName(self.tr("Model folder"))
        folder.setAccessibleDescription(config_text(option("model_dir").description))
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(folder, 1)
        row_layout.addWidget(browse)
        self.model_edit, self.browse_button = folder, browse
        field = _Field(row, lambda: folder.text().strip(), folder.setText)
        self._add(form, "model_dir", self.tr("Model &folder:"), field)
        self._add(
            form, "quantization", self.tr("&Quantisation:"), self._combo_field("quantization")
        )
        self._add(
            form,
            "flow_precision",
            self.tr("Flow/vocoder &precision:"),
            self._combo_field("flow_precision"),
        )
        self._add(
            form,
            "int8_threshold",
            self.tr("8-bit &outlier threshold:"),
            # 0 is the fast setting; say so where the value shows, the trade is in the tooltip.
            self._number_field(
                "int8_threshold",
                step=0.5,
                decimals=1,
                special_value_text=self.tr("0 (off: fastest)"),
            ),
        )
        self._add(form, "device", self.tr("&Device:"), self._combo_field("device"))
        self._add(
            form,
            "idle_unload_minutes",
            self.tr("&Unload when idle:"),
            self._number_field(
                "idle_unload_minutes", suffix=self.tr(" min"), special_value_text=self.tr("Never")
            ),
        )
        return box

    def _speech_group(self) -> QGroupBox:
        box = QGroupBox(self.tr("Speech"))
        form = QFormLayout(box)
        voice = QComboBox()
        voice.addItem(self.tr("First voice in the library"), "")
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
                voice.addItem(self.tr("{} (missing)").format(value), value)
            voice.setCurrentIndex(voice.findData(value))

        self._add(
            form,
            "default_voice",
            self.tr("Default &voice:"),
            _Field(voice, voice.currentData, put_voice),
        )
        speed = self._number_field("speed", step=0.05, decimals=2, suffix=self.tr(" x"))
        self._add(form, "speed", self.tr("&Speed:"), speed)
        stream = QCheckBox(self.tr("Start playing before the whole text is rendered"))
        stream.setAccessibleName(stream.text())
        self._add(
            form,
            "stream",
            self.tr("Streaming:"),
            _Field(stream, stream.isChecked, stream.setChecked),
        )
        self._add(
            form,
            "text_normalization",
            self.tr("&Reading numbers:"),
            self._combo_field("text_normalization"),
        )
        reading = self.fields["text_normalization"].note
        if importlib.util.find_spec("wetext") is None and reading is not None:
            reading.setText(
                self.tr("wetext is not installed, so the basic rules are used: pip install wetext")
            )
            reading.show()
        output = QComboBox()
        output.addItem(self.tr("System default"), "")
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
                output.addItem(self.tr("{} (not connected)").format(value), value)
            output.setCurrentIndex(output.findData(value))

        self._add(
            form,
            "output_device",
            self.tr("Output d&evice:"),
            _Field(output, output.currentData, put_output),
        )
        note = self.fields["output_device"].note
        if self.output_note and note is not None:
            note.setText(self.output_note)
            note.show()
        return box

    def _hotkey_group(self, note: str) -> QGroupBox:
        box = QGroupBox(self.tr("Global hotkey"))
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
        self._add(form, "hotkey", self.tr("Speak &clipboard:"), field)
        for inner in edit.findChildren(QLineEdit):  # where the keys are typed
            inner.setAccessibleName(self.tr("Speak clipboard hotkey"))
        self.hotkey_note = QLabel(note)
        self.hotkey_note.setWordWrap(True)
        self.hotkey_note.setVisible(bool(note))
        form.addRow(self.hotkey_note)
        return box

    def _api_group(self) -> QGroupBox:
        box = QGroupBox(self.tr("Local speech API"))
        form = QFormLayout(box)
        enabled = QCheckBox(self.tr("Serve the OpenAI-style speech &API on this computer"))
        enabled.setAccessibleName(self.tr("Serve the speech API"))
        self._add(form, "api_enabled", "", _Field(enabled, enabled.isChecked, enabled.setChecked))
        self._add(form, "api_port", self.tr("Por&t:"), self._number_field("api_port"))
        key = QLineEdit()
        key.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        key.setPlaceholderText(self.tr("No key: only this computer can connect"))
        self._add(form, "api_key", self.tr("&Key:"), _Field(key, key.text, key.setText))
        return box

    def _login_group(self) -> QGroupBox:
        box = QGroupBox(self.tr("Login"))
        layout = QVBoxLayout(box)
        self.autostart_check = QCheckBox(self.tr("Start cosydesk when I &log in"))
        self.autostart_check.setAccessibleName(plain(self.autostart_check.text()))
        self.autostart_check.setAccessibleDescription(
            self.tr("Start cosydesk in the tray at login, through {}").format(self.autostart.path)
        )
        layout.addWidget(self.autostart_check)
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
                self.tr("Set by the environment variable {}; unset it to change this here.").format(
                    variable
                )
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
        self.autostart_check.setChecked(self.autostart.is_enabled())

    def _validate_model_dir(self, value: str) -> None:
        if not value or value == self.settings.get("model_dir"):
            return
        from cosydesk.engine.folder.modelfolder import open_model_folder

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
                value = coerce(option(name), field.get())
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
                self.tr(
                    "The settings could not be saved to {path} ({reason}); "
                    "they apply until cosydesk quits."
                ).format(path=self.settings.path, reason=exc.strerror)
            )
            return False
        wanted = self.autostart_check.isChecked()
        if wanted != self.autostart.is_enabled():
            try:
                self.autostart.set_enabled(wanted)
            except AutostartError as exc:
                self._show_error(str(exc))
                return False
        self.error_label.hide()
        self.applied.emit()
        return True

    def _show_error(self, text: str) -> None:
        self.error_label.show_message(text, Kind.ERROR)
        self.error_label.show()

    @Slot()
    def _browse_model(self) -> None:
        start = self.model_edit.text() or ""
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Choose the CosyVoice3 model folder"), start
        )
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
