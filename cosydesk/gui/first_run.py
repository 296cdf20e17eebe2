"""The first-run dialog: where the model folder is, checked by the engine's own folder reader,
then (given the controller, while the library is empty) the first voice: see first_voice.py."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressDialog,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cosydesk.engine.errors import EngineError
from cosydesk.gui.i18n import QT_TRANSLATE_NOOP
from cosydesk.gui.notice import Kind, Notice

if TYPE_CHECKING:
    from cosydesk.config import Settings
    from cosydesk.gui.controller import Controller
    from cosydesk.gui.first_voice import FirstVoicePage

log = logging.getLogger(__name__)

INTRO = QT_TRANSLATE_NOOP(
    "FirstRunDialog",
    "<b>Welcome to cosydesk.</b><br>It reads text aloud with the CosyVoice3 model on your own "
    "computer. Choose the folder where you downloaded the model, or let cosydesk download it "
    "for you; your texts never leave this computer.",
)


class _DownloadSignals(QObject):
    """Carries the download thread's news into the Qt main thread (queued connections)."""

    progress = Signal(object, object, str)  # bytes done, bytes in all (beyond 32 bits), what
    finished = Signal(str, str)  # outcome ("done", "cancelled", "failed"), sentence


class FirstRunDialog(QDialog):
    """Asks for the model folder; OK only once the folder passes the engine's check.

    It can also download the folder (from Hugging Face, or the mirror in HF_ENDPOINT) into
    cosydesk's data folder, with progress and a Cancel that keeps the files that arrived. Given
    the controller, a library without voices makes the first voice its second step (or its
    only one, with `voice_only`, when the model is set already).
    """

    download_finished = Signal(str)  # "done", "cancelled" or "failed"
    voice_added = Signal(str)

    def __init__(
        self,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        controller: Controller | None = None,
        starter_dir: Path | None = None,
        voice_only: bool = False,
    ) -> None:
        from cosydesk.config import starter_voices_dir
        from cosydesk.engine.folder.modelfolder import describe_expected

        super().__init__(parent)
        self.settings = settings
        self.controller = controller
        self.starter_dir = starter_dir or starter_voices_dir()
        self.setWindowTitle(self.tr("Choose the model"))
        self.resize(640, 520)
        self.pages = QStackedWidget()
        QVBoxLayout(self).addWidget(self.pages)
        self.model_page = QWidget()
        self.pages.addWidget(self.model_page)
        layout = QVBoxLayout(self.model_page)
        layout.setContentsMargins(0, 0, 0, 0)
        intro = QLabel(self.tr(INTRO))
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.help_text = QPlainTextEdit(describe_expected())
        self.help_text.setReadOnly(True)
        self.help_text.setAccessibleName(self.tr("What the model folder holds"))
        self.help_text.setAccessibleDescription(
            self.tr("The files cosydesk expects in the model folder")
        )
        layout.addWidget(self.help_text, 1)

        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(settings.get("model_dir") or ""))
        self.path_edit.setPlaceholderText(self.tr("For example ~/models/Fun-CosyVoice3-0.5B-2512"))
        self.browse_button = QPushButton(self.tr("&Browse..."))
        self.browse_button.clicked.connect(self._browse)
        self.browse_button.setAccessibleDescription(
            self.tr("Choose the model folder in a file dialog")
        )
        label = QLabel(self.tr("Model &folder:"))
        label.setBuddy(self.path_edit)
        row.addWidget(label)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        layout.addLayout(row)

        self.download_button = QPushButton(
            self.tr("&Download it for me (several GB; the exact size shows as it starts)")
        )
        self.download_button.setToolTip(
            self.tr(
                "Fetch the model folder from Hugging Face (HF_ENDPOINT names a mirror); "
                "a stopped download keeps the files that arrived."
            )
        )
        self.download_button.clicked.connect(self.start_download)
        layout.addWidget(self.download_button)
        self._download_cancel: threading.Event | None = None
        self._download_thread: threading.Thread | None = None
        self._download_dest: Path | None = None
        self.download_progress: QProgressDialog | None = None
        self._signals = _DownloadSignals(self)
        self._signals.progress.connect(self._on_download_progress)
        self._signals.finished.connect(self._on_download_finished)

        self.result_label = Notice()
        layout.addWidget(self.result_label)

        self.buttons = QDialogButtonBox()
        self.ok_button = self.buttons.addButton(
            self.tr("&Use this folder"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.later_button = self.buttons.addButton(
            self.tr("&Later"), QDialogButtonBox.ButtonRole.RejectRole
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        # Check a typed path once typing pauses, not at every key.
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(300)
        self._check_timer.timeout.connect(self.check)
        self.path_edit.textChanged.connect(lambda _text: self._check_timer.start())
        self.valid = False
        self.check()

        self.voice_page: FirstVoicePage | None = None
        if controller is not None:
            from cosydesk.gui.first_voice import FirstVoicePage

            self.voice_page = FirstVoicePage(controller, self.starter_dir)
            self.voice_page.done.connect(self._finish)
            self.voice_page.voice_added.connect(self.voice_added)
            self.pages.addWidget(self.voice_page)
            if voice_only:
                self.show_voice_step()

    def show_voice_step(self) -> None:
        """Go on to the first voice (the model is chosen and loads meanwhile)."""
        if self.voice_page is None:  # no controller: nothing could add a voice
            return
        self.voice_page.refresh_starter()
        self.pages.setCurrentWidget(self.voice_page)
        self.setWindowTitle(self.tr("Your first voice"))
        self.voice_page.record_button.setFocus()

    @Slot()
    def check(self) -> bool:
        """Run the engine's quick folder check on the path; show its sentence; enable OK."""
        from cosydesk.engine.folder.modelfolder import open_model_folder

        self._check_timer.stop()
        text = self.path_edit.text().strip()
        if not text:
            self._show(False, self.tr("Choose the folder that holds cosyvoice3.yaml."), error=False)
            return False
        try:
            open_model_folder(Path(text).expanduser())
        except EngineError as exc:
            self._show(False, str(exc), error=True)
            return False
        except OSError as exc:
            self._show(
                False, self.tr("The folder could not be read: {}.").format(exc.strerror), error=True
            )
            return False
        self._show(
            True, self.tr("This is a CosyVoice3 model folder. The model loads in the background.")
        )
        return True

    def _show(self, valid: bool, message: str, *, error: bool = False) -> None:
        self.valid = valid
        self.ok_button.setEnabled(valid)
        kind = Kind.ERROR if error else (Kind.OK if valid else Kind.INFO)
        self.result_label.show_message(message, kind)

    @Slot()
    def _browse(self) -> None:
        start = self.path_edit.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Choose the CosyVoice3 model folder"), start
        )
        if folder:
            self.path_edit.setText(folder)
            self.check()

    # -- downloading --------------------------------------------------------------------------
    @Slot()
    def start_download(self) -> None:
        """Download the model folder in a background thread, showing progress."""
        from cosydesk.config import default_model_dir
        from cosydesk.download import ModelDownload

        if self._download_thread is not None:
            return
        dest = default_model_dir()
        self._download_dest = dest
        cancel = threading.Event()
        self._download_cancel = cancel
        progress = QProgressDialog(
            self.tr("Asking for the file list of {}...").format(dest.name),
            self.tr("Cancel"),
            0,
            1000,
        )
        progress.setWindowTitle(self.tr("Downloading the model"))
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.canceled.connect(self.cancel_download)
        self.download_progress = progress
        self.download_button.setEnabled(False)
        signals = self._signals

        def on_progress(done: int, total: int, message: str) -> None:
            try:
                signals.progress.emit(done, total, message)
            except RuntimeError:  # the dialog is gone: nobody watches, so stop
                cancel.set()

        def report(outcome: str, message: str) -> None:
            try:
                signals.finished.emit(outcome, message)
            except RuntimeError:  # the dialog is gone; what arrived stays for next time
                log.info("Model download ended (%s) after its dialog closed", outcome)

        download = ModelDownload(dest, starter_dir=self.starter_dir)
        # Made here, on the GUI thread, where the translator is sure to be installed.
        stopped = self.tr(
            "The download was stopped; press Download to go on (the files that arrived are kept)."
        )
        failed = self.tr("The download failed: {}")

        def work() -> None:
            from cosydesk.engine.errors import Cancelled, EngineError

            try:
                download.run(on_progress, cancel)
            except Cancelled:
                report("cancelled", stopped)
            except EngineError as exc:
                report("failed", str(exc))
            except Exception as exc:  # the thread must always report back
                log.exception("The model download failed")
                report("failed", failed.format(exc))
            else:
                report("done", " ".join(download.notes))

        self._download_thread = threading.Thread(target=work, name="model-download", daemon=True)
        self._download_thread.start()

    @Slot()
    def cancel_download(self) -> None:
        if self._download_cancel is not None:
            self._download_cancel.set()

    @Slot(object, object, str)
    def _on_download_progress(self, done: int, total: int, message: str) -> None:
        if self.download_progress is None:
            return
        self.download_progress.setValue(int(1000 * done / max(total, 1)))
        self.download_progress.setLabelText(
            self.tr("{message}\n{done:.2f} of {total:.2f} GB").format(
                message=message, done=done / 1e9, total=total / 1e9
            )
        )

    @Slot(str, str)
    def _on_download_finished(self, outcome: str, message: str) -> None:
        if self._download_thread is not None:
            self._download_thread.join()
        self._download_thread = None
        self._download_cancel = None
        if self.download_progress is not None:
            self.download_progress.close()
            self.download_progress.deleteLater()
            self.download_progress = None
        self.download_button.setEnabled(True)
        if outcome == "done" and self._download_dest is not None:
            self.path_edit.setText(str(self._download_dest))
            if self.check() and message:  # the model is whole; the starter voice is not
                self.result_label.setText(f"{self.result_label.text()} {message}")
        else:
            self._show(False, message, error=outcome == "failed")
        self.download_finished.emit(outcome)

    def reject(self) -> None:
        """Later (or closing) stops a download under way, or a voice being prepared; what
        arrived is kept."""
        self.cancel_download()
        if self.voice_page is not None:
            self.voice_page.adding.cancel_all()
        super().reject()

    def accept(self) -> None:
        """Store the folder only if it passes the check now; then go on to the first voice
        when the library has none, else the first run is done."""
        if self.pages.currentWidget() is not self.model_page:
            return  # the voice step ends through its own Finish
        if not self.check():
            return
        folder = str(Path(self.path_edit.text().strip()).expanduser())
        self.settings.set("model_dir", folder)  # the model starts loading now
        if self.voice_page is not None and not self._has_voices():
            self._save()
            self.show_voice_step()
            return
        self._finish()

    @Slot()
    def _finish(self) -> None:
        self.settings.set("first_run_done", True)
        self._save()
        super().accept()

    def _has_voices(self) -> bool:
        if self.controller is None:
            return False
        try:
            return bool(self.controller.library.list())
        except OSError:
            return False

    def _save(self) -> None:
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("Could not save the settings: %s", exc)
