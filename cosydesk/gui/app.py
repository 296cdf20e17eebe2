"""The tray app: QApplication setup, the start-up sequence and the wiring between the parts.

Start-up shows the tray icon (or the window, where there is no tray) before anything heavy is
imported; the model then loads on the runner's thread while the status bar and the tray tooltip
show its progress. `CosyDesk` holds the parts so tests can build the whole app without
`QApplication.exec()`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QClipboard, QGuiApplication
from PySide6.QtWidgets import QApplication

from cosydesk.gui.controller import Controller
from cosydesk.gui.icons import app_icon
from cosydesk.gui.main_window import MainWindow
from cosydesk.gui.memory import WindowMemory
from cosydesk.gui.tray import Tray
from cosydesk.gui.tray_listen import TrayListenMenu
from cosydesk.runner import EngineFactory, load_engine
from cosydesk.state import RememberedState

if TYPE_CHECKING:
    from cosydesk.config import Settings
    from cosydesk.engine.voices import VoiceLibrary

log = logging.getLogger(__name__)

APP_ID = "cosydesk"
NO_HOTKEY_HINT = (
    "Bind the command `cosydesk --action speak-clipboard` to a keyboard shortcut in your "
    "desktop's settings (`--action stop` and `--action pause` work too)."
)


class CosyDesk(QObject):
    """The running app: settings, controller, tray, main window, hotkey and single instance."""

    # Re-emitted on the GUI thread: hotkey backends call back from their own threads.
    _hotkey_pressed = Signal()

    def __init__(
        self,
        settings: Settings,
        *,
        library: VoiceLibrary | None = None,
        engine_factory: EngineFactory = load_engine,
        instance: Any = None,
        tick_ms: int = 1000,
    ) -> None:
        super().__init__()
        from cosydesk.config import voices_dir
        from cosydesk.engine.voices import VoiceLibrary

        self.settings = settings
        self.library = library if library is not None else VoiceLibrary(voices_dir())
        self.controller = Controller(settings, self.library, engine_factory, tick_ms=tick_ms)
        self.tray = Tray(self)
        self.window = MainWindow(self.controller)
        # Where the window was, its draft and the last voice, kept beside the settings.
        self.state = RememberedState.load(Path(settings.path).parent)
        self.memory = WindowMemory(self.window, self.state)
        self.memory.restore()
        self.tray_listen = TrayListenMenu(self.tray.menu, self.tray.show_action, self.controller)
        self.instance = instance
        self.hotkey_backend: Any = None
        self.hotkey_note = ""
        self.settings_dialog: Any = None
        self.voices_dialog: Any = None
        self.first_run_dialog: Any = None
        self.api_server: Any = None
        self._told_about_tray = False
        self.quitting = False  # Quit was asked for (the event loop may not run yet)
        self._api_timer = QTimer(self)
        self._api_timer.setSingleShot(True)
        self._api_timer.setInterval(0)
        self._api_timer.timeout.connect(self.apply_api_setting)

        tray, window, c = self.tray, self.window, self.controller
        tray.speak_clipboard_requested.connect(self.speak_clipboard)
        tray.pause_requested.connect(c.toggle_pause)
        tray.stop_requested.connect(c.stop)
        tray.show_window_requested.connect(self.show_window)
        tray.settings_requested.connect(self.open_settings)
        tray.quit_requested.connect(self.quit)
        window.settings_requested.connect(self.open_settings)
        window.voices_requested.connect(self.open_voices)
        window.quit_requested.connect(self.quit)
        window.hidden_to_tray.connect(self._on_hidden_to_tray)
        window.status.choose_model_requested.connect(self.open_first_run)
        c.state_changed.connect(tray.set_state)
        c.state_changed.connect(
            lambda state, _detail: self.tray_listen.set_speaking(state in ("speaking", "paused"))
        )
        c.error.connect(self.report_error)
        self._hotkey_pressed.connect(self.toggle_clipboard)
        settings.on_change(self._on_setting_changed)
        if instance is not None:
            instance.message_received.connect(self.handle_message)

    # -- start and stop ---------------------------------------------------------------------

    def start(self, *, show_window: bool = True) -> None:
        """Show the tray icon (or the window where there is none), then start loading."""
        tray_shown = self.tray.show()
        self.window.hide_on_close = tray_shown
        if show_window or not tray_shown:
            self.window.bring_forward()
        self.register_hotkey()
        self.controller.start()
        self.apply_api_setting()
        if self.settings.warnings:
            self.report_error("\n\n".join(self.settings.warnings))
        if self.controller.model_dir() is None:
            self.open_first_run()
        elif not self.settings.get("first_run_done") and not self._has_voices():
            self.open_first_run(voice_only=True)  # e.g. after `cosydesk download`

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Release the hotkey, hide the tray, stop the runner; False if it would not stop."""
        self.memory.flush()
        self._release_hotkey()
        self._stop_api()
        self.tray.hide()
        for dialog in (self.settings_dialog, self.voices_dialog, self.first_run_dialog):
            if dialog is not None:
                dialog.close()
        self.window.hide_on_close = False
        self.window.hide()
        return self.controller.shutdown(timeout_ms)

    @Slot()
    def quit(self) -> None:
        """End the app, whatever windows or dialogs are open (the tray, Ctrl+Q, a signal).

        Qt's quit() first asks every window to close; the main window used to answer by
        hiding to the tray, which cancelled the quit and left the process (and its GPU memory)
        behind, often without its tray icon. Now it closes; `shutdown` then stops the runner.
        """
        if self.quitting:
            return
        self.quitting = True
        log.info("Quitting")
        self.window.hide_on_close = False
        QApplication.quit()

    # -- actions ----------------------------------------------------------------------------

    def clipboard_text(self) -> str:
        """The clipboard's text; on X11 the mouse selection when the clipboard is empty."""
        clipboard = QGuiApplication.clipboard()
        text = clipboard.text()
        if not text.strip() and clipboard.supportsSelection():
            text = clipboard.text(QClipboard.Mode.Selection)
        return text

    @Slot()
    def speak_clipboard(self) -> None:
        text = self.clipboard_text()
        if not text.strip():
            self.report_error("The clipboard holds no text: copy some text, then try again.")
            return
        self.controller.speak(text)

    @Slot()
    def toggle_clipboard(self) -> None:
        """The hotkey: speaks the clipboard; pressed again while speaking, it stops."""
        if self.controller.speaking:
            self.controller.stop()
        else:
            self.speak_clipboard()

    @Slot(str)
    def handle_message(self, message: str) -> None:
        """A message from a second `cosydesk` start (`--action ...`, or a plain start)."""
        log.info("Message from another cosydesk: %s", message)
        actions = {
            "show": self.show_window,
            "speak-clipboard": self.toggle_clipboard,
            "stop": self.controller.stop,
            "pause": self.controller.toggle_pause,
            "next-sentence": lambda: self.controller.skip(1),
            "previous-sentence": lambda: self.controller.skip(-1),
        }
        action = actions.get(message.strip())
        if action is None:
            log.warning("Ignoring an unknown message: %r", message)
            return
        action()

    @Slot()
    def show_window(self) -> None:
        self.window.bring_forward()

    def report_error(self, message: str) -> None:
        """Show `message` in the window when it is visible, else as a tray balloon."""
        log.info("Telling the person: %s", message)
        if self.window.isVisible() or not self.tray.notify("cosydesk", message, warning=True):
            self.window.bring_forward()
            self.window.show_error(message)

    @Slot()
    def _on_hidden_to_tray(self) -> None:
        if not self._told_about_tray:
            self._told_about_tray = True
            self.tray.notify("cosydesk", "cosydesk keeps running in the tray. Quit it from there.")

    # -- dialogs ----------------------------------------------------------------------------

    @Slot()
    def open_settings(self) -> None:
        from cosydesk.gui.settings_dialog import SettingsDialog

        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()  # a closed one: show fresh values in a new one
        parent = self.window if self.window.isVisible() else None
        self.settings_dialog = SettingsDialog(
            self.settings, self.library, parent, hotkey_note=self.hotkey_note
        )
        self.settings_dialog.applied.connect(self.window.refresh_voices)
        self.settings_dialog.open()

    @Slot()
    def open_voices(self) -> None:
        from cosydesk.gui.voices_dialog import VoicesDialog

        if self.voices_dialog is None:
            self.voices_dialog = VoicesDialog(self.controller, self.window)
            self.voices_dialog.voices_changed.connect(self.window.refresh_voices)
        self.voices_dialog.refresh()
        self.voices_dialog.show()
        self.voices_dialog.raise_()

    @Slot()
    def open_first_run(self, *, voice_only: bool = False) -> None:
        """The first-run dialog: the model folder, then the first voice while there is none."""
        from cosydesk.gui.first_run import FirstRunDialog

        self.window.bring_forward()
        if self.first_run_dialog is not None and self.first_run_dialog.isVisible():
            self.first_run_dialog.raise_()
            return
        self.first_run_dialog = FirstRunDialog(
            self.settings, self.window, controller=self.controller, voice_only=voice_only
        )
        self.first_run_dialog.voice_added.connect(lambda _name: self.window.refresh_voices())
        self.first_run_dialog.open()

    def _has_voices(self) -> bool:
        try:
            return bool(self.library.list())
        except OSError:
            return False

    # -- hotkey -----------------------------------------------------------------------------

    def register_hotkey(self) -> bool:
        """Register the hotkey setting with the platform's backend; say so when impossible."""
        sequence = str(self.settings.effective("hotkey") or "")
        if not sequence:
            self._release_hotkey()
            self.tray.set_hotkey("")
            self.hotkey_note = "No hotkey is set. " + NO_HOTKEY_HINT
            return False
        try:
            from cosydesk.gui.hotkeys import HotkeyError, choose_backend
        except ImportError as exc:
            log.warning("No hotkey support: %s", exc)
            return self._no_hotkey(f"Global hotkeys are not available ({exc}).")
        backend = self.hotkey_backend or choose_backend()
        if backend is None:
            return self._no_hotkey("This desktop offers no way to register a global hotkey.")
        if hasattr(backend, "on_error"):  # the Wayland portal may refuse later, asynchronously
            backend.on_error = self._no_hotkey
        try:
            backend.register(sequence, self._hotkey_pressed.emit)  # replaces the old one
        except HotkeyError as exc:
            self.hotkey_backend = backend
            self._release_hotkey()
            return self._no_hotkey(str(exc))
        self.hotkey_backend = backend
        self.hotkey_note = ""
        self.tray.set_hotkey(sequence)
        log.info("Hotkey %s registered with %s", sequence, getattr(backend, "name", backend))
        return True

    def _no_hotkey(self, reason: str) -> bool:
        self.tray.set_hotkey("")
        self.hotkey_note = f"{reason} {NO_HOTKEY_HINT}"
        log.warning("%s", self.hotkey_note)
        if not self.tray.notify("cosydesk: no global hotkey", self.hotkey_note):
            self.window.status.showMessage("No global hotkey: see Settings.", 15000)
        return False

    def _release_hotkey(self) -> None:
        backend, self.hotkey_backend = self.hotkey_backend, None
        if backend is None:
            return
        try:
            backend.unregister()
        except Exception:
            log.exception("The hotkey backend did not release its hotkey")

    def _on_setting_changed(self, name: str, value: object) -> None:
        if name == "hotkey":
            self.register_hotkey()
        elif name in ("api_enabled", "api_port", "api_key", "default_voice"):
            self._api_timer.start()  # several changes at once restart the server once

    # -- local speech API -------------------------------------------------------------------

    @Slot()
    def apply_api_setting(self) -> None:
        """Serve the app's model on 127.0.0.1 when the setting says so (its requests go to the
        app's own runner, after the person's); restart on changes."""
        self._stop_api()
        if not self.settings.effective("api_enabled"):
            return
        from cosydesk.engine.errors import EngineError
        from cosydesk.gui.api_server import LocalApiServer

        server = LocalApiServer(
            self.controller.runner,
            port=int(self.settings.effective("api_port")),
            api_key=str(self.settings.effective("api_key")),
            library=self.library,
            default_voice=str(self.settings.effective("default_voice")),
        )
        try:
            url = server.start()
        except (EngineError, OSError) as exc:
            self.report_error(f"The local speech API could not start: {exc}")
            return
        self.api_server = server
        self.window.status.showMessage(f"Local speech API at {url}", 8000)

    def _stop_api(self) -> None:
        server, self.api_server = self.api_server, None
        if server is not None and not server.stop():
            log.warning("The local speech API did not stop in time")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cosydesk", add_help=False)
    parser.add_argument("--minimized", action="store_true")
    parser.add_argument("--action")
    parser.add_argument("--verbose", "-v", action="store_true")
    args, _unknown = parser.parse_known_args(list(argv))
    return args


def _quit_on_signals(app: QApplication, desk: CosyDesk) -> None:
    """Ctrl+C, SIGTERM (logout, `kill`) and SIGHUP (the terminal closed) quit as Quit does."""

    def request_quit(signum: int, _frame: object) -> None:
        log.info("Quitting on signal %d", signum)
        desk.quit()

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), request_quit)
    # Python runs signal handlers only between bytecodes; an idle timer lets it in regularly.
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(300)


def run_gui(argv: Sequence[str] | None = None) -> int:
    """Run the tray app until Quit; returns the exit status.

    A second start does not open another app: it asks the running one to show its window, or
    to do its `--action`. `--minimized` starts in the tray without showing the window (the
    autostart entry uses it); `--action speak-clipboard` starts there too, then speaks.
    """
    from cosydesk import logs
    from cosydesk.config import Settings
    from cosydesk.gui.crash_dialog import CrashReporter
    from cosydesk.gui.i18n import install_translation
    from cosydesk.gui.single_instance import MESSAGES, SingleInstance

    args = _parse(sys.argv[1:] if argv is None else argv)
    if QApplication.instance() is None:
        from cosydesk.gui.display_check import display_problem

        problem = display_problem()
        if problem is not None:  # Qt would abort the process with a misleading hint
            print(f"cosydesk: {problem}", file=sys.stderr)
            return 1
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_ID])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName("cosydesk")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # closing the window leaves the tray icon running

    # The command line may have set up plain stderr logging already; the app's own setup
    # (file, stderr, memory tail) replaces it, so that no line is printed twice.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    log_file = logs.setup_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    logs.install_qt_message_handler()
    reporter = CrashReporter(log_file, app)
    logs.install_excepthook(reporter)
    # Before any window is built: widgets translate their texts when they are made.
    install_translation()

    action = args.action if args.action in MESSAGES else None
    instance = SingleInstance(APP_ID)
    if not instance.try_primary():
        # Another start won the race (a shortcut pressed twice while cosydesk starts).
        instance.send(action or "show")
        if action is None:
            print("cosydesk is already running: its window was brought forward.", file=sys.stderr)
        return 0

    settings = Settings.load()
    desk = CosyDesk(settings, instance=instance)
    _quit_on_signals(app, desk)
    desk.start(show_window=not args.minimized and action in (None, "show"))
    if action is not None:
        # Once the event loop runs: the clipboard of another program is read through it.
        QTimer.singleShot(0, lambda: desk.handle_message(action))
    log.info("cosydesk started; log file %s", log_file)
    code = 0 if desk.quitting else app.exec()  # a signal during start-up asked to quit
    # Quit must end the process within about 3 s: a model call that ignores cancellation (a
    # load in progress) is not waited for longer than this.
    clean = desk.shutdown(timeout_ms=2000)
    log.info("cosydesk quit (exit status %d)", code)
    if not clean:
        # A model call that ignores cancellation still holds the runner's thread; interpreter
        # shutdown would run beside it (and may crash in torch), so leave without waiting.
        logging.shutdown()
        os._exit(code)
    return int(code)
