"""The main window: a text editor, a voice picker, Speak / Pause / Stop / Save as WAV..."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cosydesk.gui.a11y import accessible
from cosydesk.gui.app_state import AppState
from cosydesk.gui.confirm import confirm
from cosydesk.gui.editor import TextEditor
from cosydesk.gui.editor_reading import EditorReading
from cosydesk.gui.follow import ReadingHighlighter
from cosydesk.gui.icons import app_icon
from cosydesk.gui.listen_bar import ListenBar
from cosydesk.gui.status_bar import StatusBar
from cosydesk.gui.text_file import TEXT_FILTER, TextFileError, read_text_file, suggested_wav_name

if TYPE_CHECKING:
    from cosydesk.gui.controller import Controller

log = logging.getLogger(__name__)

PLACEHOLDER = str(
    QT_TRANSLATE_NOOP(
        "MainWindow", "Type or paste the text to read aloud, then press Speak (Ctrl+Enter)."
    )
)


class MainWindow(QMainWindow):
    """Talks to the controller; knows nothing of threads or the engine."""

    settings_requested = Signal()
    voices_requested = Signal()
    quit_requested = Signal()
    hidden_to_tray = Signal()

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = controller.settings
        self.library = controller.library
        # Set by the app when a tray icon is showing: closing then only hides the window.
        self.hide_on_close = False
        self._save_dialogs: dict[int, tuple[QProgressDialog, Path]] = {}
        self._last_dir = Path.home()
        self._source: Path | None = None  # the text file the editor's text came from
        self._error_box: QMessageBox | None = None
        self.setWindowTitle("cosydesk")
        self.setWindowIcon(app_icon())
        self.resize(760, 520)
        self._build()
        self._build_menus()
        self.reading.can_continue.connect(self._offer_continue)
        c = controller
        c.state_changed.connect(self._on_state)
        c.engine_status.connect(self.status.set_engine_status)
        c.load_progress.connect(self.status.set_load_progress)
        c.voice_changed.connect(self._on_voice_changed)
        c.job_progress.connect(self._on_job_progress)
        c.job_finished.connect(self._on_job_finished)
        c.job_failed.connect(self._on_job_failed)
        c.job_cancelled.connect(self._on_job_cancelled)
        self.refresh_voices()
        if c.state:
            self._on_state(c.state, "")

    # -- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        top = QHBoxLayout()
        self.voice_label = QLabel(self.tr("&Voice:"))
        self.voice_combo = QComboBox()
        self.voice_combo.setMinimumWidth(220)
        self.voice_label.setBuddy(self.voice_combo)
        accessible(
            self.voice_combo, self.tr("Voice"), self.tr("The voice that reads the text aloud")
        )
        self.voice_combo.activated.connect(self._voice_picked)
        self.manage_voices_button = QPushButton(self.tr("&Manage voices..."))
        self.manage_voices_button.setAccessibleDescription(
            self.tr("Add a voice from a clip or the microphone; rename or delete voices")
        )
        self.manage_voices_button.clicked.connect(self.voices_requested)
        top.addWidget(self.voice_label)
        top.addWidget(self.voice_combo)
        top.addWidget(self.manage_voices_button)
        top.addStretch(1)
        layout.addLayout(top)

        self.editor = TextEditor()
        self.editor.file_dropped.connect(self.load_text_file)
        self.editor.setPlaceholderText(QCoreApplication.translate("MainWindow", PLACEHOLDER))
        self.editor.setTabChangesFocus(True)  # Tab moves on to the buttons
        accessible(
            self.editor,
            self.tr("Text to read"),
            self.tr(
                "Type or paste the text to read aloud; Ctrl+Enter reads it, Ctrl+S saves it as WAV"
            ),
        )
        layout.addWidget(self.editor, 1)
        self.highlighter = ReadingHighlighter(self.editor, self.controller)
        self.reading = EditorReading(self.editor, self.controller, self.highlighter)
        self.editor.textChanged.connect(self._forget_source_when_empty)

        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.listen_bar = ListenBar(self.controller, self.progress)
        layout.addWidget(self.listen_bar)

        buttons = QHBoxLayout()
        self.speak_button = QPushButton(self.tr("&Speak"))
        self.speak_button.setDefault(True)
        self.speak_button.setToolTip(self.tr("Read the text aloud (Ctrl+Enter)"))
        self.pause_button = QPushButton(self.tr("&Pause"))
        self.stop_button = QPushButton(self.tr("S&top"))
        self.stop_button.setToolTip(self.tr("Stop speaking (Esc)"))
        self.save_button = QPushButton(self.tr("Save as &WAV..."))
        self.speak_button.setAccessibleDescription(
            self.tr("Read the text aloud, or only the selection when there is one (Ctrl+Enter)")
        )
        self.pause_button.setAccessibleDescription(
            self.tr("Pause the reading, or resume it (Ctrl+P)")
        )
        self.stop_button.setAccessibleDescription(self.tr("Stop reading (Esc)"))
        self.save_button.setAccessibleDescription(
            self.tr("Save the text, read aloud, as a WAV file (Ctrl+S)")
        )
        self.from_cursor_button = QPushButton(self.tr("From c&ursor"))
        self.from_cursor_button.setToolTip(
            self.tr("Read from the text cursor on (Ctrl+Shift+Enter)")
        )
        self.continue_button = QPushButton(self.tr("Co&ntinue"))
        self.continue_button.setToolTip(
            self.tr("Read on from where the last reading of this text stopped (Ctrl+Shift+R)")
        )
        self.continue_button.setEnabled(False)
        self.speak_button.clicked.connect(self.speak)
        self.from_cursor_button.clicked.connect(self.speak_from_cursor)
        self.continue_button.clicked.connect(self.continue_reading)
        self.pause_button.clicked.connect(self.controller.toggle_pause)
        self.stop_button.clicked.connect(self.controller.stop)
        self.save_button.clicked.connect(self.save_as)
        for button in (
            self.speak_button,
            self.from_cursor_button,
            self.continue_button,
            self.pause_button,
            self.stop_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)
        self.setCentralWidget(central)
        self.status = StatusBar()
        self.setStatusBar(self.status)

    def _action(self, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu(self.tr("&File"))
        self.open_action = self._action(
            self.tr("&Open text..."), self.open_text, QKeySequence.StandardKey.Open
        )
        file_menu.addAction(self.open_action)
        self.save_action = self._action(
            self.tr("Save as &WAV..."), self.save_as, QKeySequence.StandardKey.Save
        )
        file_menu.addAction(self.save_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action(self.tr("&Close window"), self.close, "Ctrl+W"))
        file_menu.addAction(
            self._action(self.tr("&Quit"), self.quit_requested, QKeySequence.StandardKey.Quit)
        )
        # Alt+S is the Speak button's, Alt+T the Stop button's.
        speech = bar.addMenu(self.tr("Spee&ch"))
        self.speak_action = self._action(self.tr("&Speak"), self.speak, "Ctrl+Return")
        self.pause_action = self._action(
            self.tr("&Pause / Resume"), self.controller.toggle_pause, "Ctrl+P"
        )
        self.stop_action = self._action(self.tr("S&top"), self.controller.stop, "Esc")
        self.from_cursor_action = self._action(
            self.tr("Read from the &cursor"), self.speak_from_cursor, "Ctrl+Shift+Return"
        )
        self.continue_action = self._action(
            self.tr("Co&ntinue where it stopped"), self.continue_reading, "Ctrl+Shift+R"
        )
        self.continue_action.setEnabled(False)
        self.previous_action = self._action(
            self.tr("Pre&vious sentence"), lambda: self.controller.skip(-1), "Alt+Left"
        )
        self.next_action = self._action(
            self.tr("Ne&xt sentence"), lambda: self.controller.skip(1), "Alt+Right"
        )
        for action in (
            self.speak_action,
            self.from_cursor_action,
            self.continue_action,
            self.pause_action,
            self.stop_action,
            self.previous_action,
            self.next_action,
        ):
            speech.addAction(action)
        tools = bar.addMenu(self.tr("T&ools"))
        tools.addAction(self._action(self.tr("&Voices..."), self.voices_requested))
        tools.addAction(self._action(self.tr("&Settings..."), self.settings_requested, "Ctrl+,"))
        help_menu = bar.addMenu(self.tr("&Help"))
        help_menu.addAction(self._action(self.tr("Open the &log folder"), self.open_log_folder))
        help_menu.addAction(self._action(self.tr("&About cosydesk"), self.about))

    @Slot()
    def open_log_folder(self) -> None:
        from cosydesk.config import log_dir

        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @Slot()
    def about(self) -> None:
        from cosydesk import __version__

        QMessageBox.about(
            self,
            "About cosydesk",
            f"<b>cosydesk {__version__}</b><p>Reads text aloud with the CosyVoice3 model "
            "(Fun-CosyVoice3-0.5B) on your own computer, its language model quantised to 4 or 8 "
            "bits so that it fits small GPUs.</p><p>Apache License 2.0.</p>",
        )

    # -- voices -----------------------------------------------------------------------------

    def refresh_voices(self) -> None:
        """Fill the picker from the library, keeping the choice, else the default voice."""
        current = self.selected_voice() or self.controller.voice()
        self.voice_combo.clear()
        try:
            names = [v.name for v in self.library.list()]
        except OSError as exc:
            log.warning("Could not list the voices: %s", exc)
            names = []
        if not names:
            self.voice_combo.addItem(self.tr("No voices yet - add one"), None)
            self.voice_combo.setEnabled(False)
            return
        self.voice_combo.setEnabled(True)
        for name in names:
            self.voice_combo.addItem(name, name)
        index = self.voice_combo.findData(current)
        self.voice_combo.setCurrentIndex(max(index, 0))

    def selected_voice(self) -> str | None:
        data = self.voice_combo.currentData()
        return str(data) if data else None

    @Slot(int)
    def _voice_picked(self, _index: int) -> None:
        self.controller.set_voice(self.selected_voice())

    @Slot(str)
    def _on_voice_changed(self, name: str) -> None:
        """The voice was picked elsewhere (the tray): show it here too."""
        if not name:
            return
        if self.voice_combo.findData(name) < 0:
            self.refresh_voices()  # added since the list was filled (the command line)
        index = self.voice_combo.findData(name)
        if index >= 0:
            self.voice_combo.setCurrentIndex(index)

    # -- speaking ---------------------------------------------------------------------------

    def text(self) -> str:
        """The selection when there is one, else the whole text."""
        cursor = self.editor.textCursor()
        if cursor.hasSelection():
            return cursor.selectedText().replace("\u2029", "\n")
        return self.editor.toPlainText()

    @Slot()
    def speak(self) -> None:
        """Read the selection, else the whole text, from its start."""
        text = self.text()
        if not text.strip():
            self.show_error("There is no text to read: type or paste some text first.")
            return
        cursor = self.editor.textCursor()
        start = cursor.selectionStart() if cursor.hasSelection() else 0
        self.reading.speak(text, start, self.selected_voice())

    @Slot()
    def speak_from_cursor(self) -> None:
        """Read the text from the word the text cursor is in to the end."""
        if not self.editor.toPlainText().strip():
            self.show_error("There is no text to read: type or paste some text first.")
            return
        self.reading.speak_from_cursor(self.selected_voice())

    @Slot()
    def continue_reading(self) -> None:
        """Read on from the sentence where the last reading of this very text stopped."""
        self.reading.continue_reading(self.selected_voice())

    @Slot(bool)
    def _offer_continue(self, can: bool) -> None:
        self.continue_button.setEnabled(can)
        self.continue_action.setEnabled(can)

    @Slot(str, str)
    def _on_state(self, state: str, detail: str) -> None:
        self.status.set_state(state, detail)
        speaking = state in (AppState.SPEAKING, AppState.PAUSED)
        self.pause_button.setEnabled(speaking)
        self.pause_action.setEnabled(speaking)
        self.stop_button.setEnabled(speaking)
        self.stop_action.setEnabled(speaking)
        self.pause_button.setText(
            self.tr("&Resume") if state == AppState.PAUSED else self.tr("&Pause")
        )
        self.previous_action.setEnabled(speaking)
        self.next_action.setEnabled(speaking)
        self.listen_bar.set_speaking(speaking)

    # -- opening ----------------------------------------------------------------------------

    @Slot()
    def _forget_source_when_empty(self) -> None:
        if not self.editor.toPlainText():
            self._source = None

    @Slot()
    def open_text(self) -> None:
        """Put a text file's text in the editor (asking first if that replaces typed text)."""
        name, _ = QFileDialog.getOpenFileName(self, "Open text", str(self._last_dir), TEXT_FILTER)
        if name:
            self.load_text_file(Path(name))

    def load_text_file(self, path: Path) -> bool:
        """Read `path` into the editor; False (with a message) if it cannot be read or the
        person keeps the current text."""
        try:
            text, note = read_text_file(path)
        except TextFileError as exc:
            self.show_error(str(exc))
            return False
        if self.editor.document().isModified() and self.editor.toPlainText().strip():
            question = (
                f"Replace the text in the window with {path.name}? The current text is not "
                "saved anywhere."
            )
            if not confirm(self, "Replace the text?", question):
                return False
        self.editor.setPlainText(text)
        self.editor.document().setModified(False)
        self._source = path
        self._last_dir = path.parent
        self.status.showMessage(note or f"Opened {path.name} ({len(text):,} characters)", 8000)
        return True

    # -- saving -----------------------------------------------------------------------------

    def ask_save_path(self, text: str = "") -> Path | None:
        """Ask where to save, suggesting a name from `text`; appends .wav and asks before
        replacing an existing file."""
        name, _ = QFileDialog.getSaveFileName(
            self,
            "Save speech as WAV",
            str(self._last_dir / suggested_wav_name(text, self._source)),
            "WAV audio (*.wav)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if not name:
            return None
        path = Path(name)
        if path.suffix.lower() != ".wav":
            path = path.with_name(path.name + ".wav")
        if path.exists():
            question = f"{path.name} exists already in {path.parent}. Replace it?"
            if not confirm(self, "Replace file?", question):
                return None
        self._last_dir = path.parent
        return path

    def cannot_speak(self) -> str | None:
        """Why speech cannot be made now (no model folder, no voice), as a sentence; else None."""
        model_dir = self.controller.model_dir()
        if model_dir is None:
            return (
                "No model is chosen yet: choose the model folder (Choose the model... in the "
                "status bar) first."
            )
        if not model_dir.is_dir():
            return (
                f"The model folder {model_dir} is not there any more: choose it again in "
                "Settings first."
            )
        if self.selected_voice() is None:  # the picker lists every voice of the library
            return "There is no voice yet: add one with Manage voices... first."
        return None

    @Slot()
    def save_as(self) -> None:
        text = self.text()
        if not text.strip():
            self.show_error("There is no text to save: type or paste some text first.")
            return
        # Asked before the file name: a name chosen for nothing is time lost.
        problem = self.cannot_speak()
        if problem is not None:
            self.show_error(problem)
            return
        path = self.ask_save_path(text)
        if path is None:
            return
        job = self.controller.save(text, self.selected_voice(), path)
        if job is None:
            return
        dialog = QProgressDialog(f"Saving speech to {path.name}...", "Cancel", 0, 0, self)
        dialog.setWindowTitle("Saving")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(700)  # short texts finish before it would flash up
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(lambda: self.controller.cancel(job))
        self._save_dialogs[job] = (dialog, path)

    def save_dialog(self, job_id: int) -> QProgressDialog | None:
        entry = self._save_dialogs.get(job_id)
        return entry[0] if entry else None

    @Slot(int, int, int)
    def _on_job_progress(self, job_id: int, done: int, total: int) -> None:
        entry = self._save_dialogs.get(job_id)
        if entry is None:
            return
        dialog, path = entry
        dialog.setMaximum(max(total, 1))
        dialog.setValue(min(done, total))
        percent = 100 * min(done, total) // max(total, 1)
        dialog.setLabelText(f"Saving speech to {path.name}: {percent}% done")

    def _end_save(self, job_id: int) -> Path | None:
        entry = self._save_dialogs.pop(job_id, None)
        if entry is None:
            return None
        dialog, path = entry
        dialog.canceled.disconnect()
        dialog.close()
        dialog.deleteLater()
        return path

    @Slot(int, object)
    def _on_job_finished(self, job_id: int, result: object) -> None:
        path = self._end_save(job_id)
        if path is not None:
            self.status.showMessage(f"Saved {path}", 8000)

    @Slot(int, str)
    def _on_job_failed(self, job_id: int, message: str) -> None:
        if self._end_save(job_id) is not None:
            self.status.showMessage("Saving failed; nothing was written.", 8000)

    @Slot(int)
    def _on_job_cancelled(self, job_id: int) -> None:
        if self._end_save(job_id) is not None:
            self.status.showMessage("Saving cancelled; nothing was written.", 8000)

    # -- messages and closing ---------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Show `message` in one non-blocking box (a newer message replaces an older one)."""
        if self._error_box is None:
            self._error_box = QMessageBox(self)
            self._error_box.setIcon(QMessageBox.Icon.Warning)
            self._error_box.setWindowTitle("cosydesk")
        self._error_box.setText(message)
        self._error_box.open()
        # An already-open box may sit behind the window that was just brought forward.
        self._error_box.raise_()
        self._error_box.activateWindow()

    def bring_forward(self) -> None:
        """Show, un-minimise and raise the window (for the tray, a second start, ...)."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def showEvent(self, event: QShowEvent) -> None:
        # Voices may have been added meanwhile (by the command line, or another window).
        self.refresh_voices()
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.hide_on_close:
            event.ignore()
            self.hide()
            self.hidden_to_tray.emit()
            return
        event.accept()
        self.quit_requested.emit()
