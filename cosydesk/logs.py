"""Logging for the app: a rotating file under the platform's log dir, stderr, a tail in memory.

`setup_logging` is called once at start; `recent_lines` gives the last lines for a bug report;
`install_qt_message_handler` routes Qt's own messages into the `qt` logger;
`install_excepthook` logs every uncaught exception and shows a crash dialog.
Qt-free except inside `install_qt_message_handler`.
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from cosydesk import config

LOG_FILE = "cosydesk.log"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_MAX_BYTES = 2 * 1024 * 1024
_BACKUPS = 3
_TAIL_LINES = 1000

log = logging.getLogger(__name__)


class _TailHandler(logging.Handler):
    """Keeps the last formatted records in memory for bug reports."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.lines: collections.deque[str] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.extend(self.format(record).splitlines())
        except Exception:
            self.handleError(record)


def _for_the_console(record: logging.LogRecord) -> bool:
    """What a person at a terminal reads: cosydesk's own lines, and other libraries' errors.

    Libraries' warnings (bitsandbytes announcing kernels it could not fetch, deprecations seen
    through `py.warnings`) say nothing a user can act on; they go to the log file only.
    """
    own = record.name == "cosydesk" or record.name.startswith(("cosydesk.", "qt"))
    return own or record.levelno >= logging.ERROR


# The handlers this module installed, so a second setup replaces them instead of doubling
# every line (logging itself is process-global; this only remembers what we put there).
_installed: list[logging.Handler] = []


def setup_logging(log_dir: Path | None = None, level: int = logging.INFO) -> Path:
    """Log to a rotating file in `log_dir` (default: `config.log_dir()`), stderr and memory.

    Returns the log file's path. Calling it again replaces the handlers of the previous call.
    If the folder cannot be written, logging goes on to stderr and memory only (with a warning)
    and the path is still returned.
    """
    teardown_logging()
    folder = log_dir if log_dir is not None else config.log_dir()
    path = folder / LOG_FILE
    formatter = logging.Formatter(_FORMAT)

    handlers: list[logging.Handler] = []
    file_error: OSError | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
            )
        )
    except OSError as exc:
        file_error = exc
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(_for_the_console)
    handlers.append(console)
    handlers.append(_TailHandler(_TAIL_LINES))

    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    _installed.extend(handlers)
    logging.captureWarnings(True)
    if file_error is not None:
        log.warning("Cannot write the log file %s (%s); logging to stderr only", path, file_error)
    return path


def teardown_logging() -> None:
    """Remove and close the handlers `setup_logging` installed."""
    root = logging.getLogger()
    while _installed:
        handler = _installed.pop()
        root.removeHandler(handler)
        handler.close()


def recent_lines(n: int = 200) -> list[str]:
    """The last `n` logged lines (oldest first); empty before `setup_logging`."""
    for handler in _installed:
        if isinstance(handler, _TailHandler):
            lines = list(handler.lines)
            return lines[-n:] if n > 0 else []
    return []


def install_qt_message_handler() -> None:
    """Route qDebug/qWarning/... into the `qt` logger at the matching level."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(kind: QtMsgType, context: object, message: str) -> None:
        category = getattr(context, "category", None) or "default"
        where = ""
        file = getattr(context, "file", None)
        if file:
            where = f" ({file}:{getattr(context, 'line', 0)})"
        qt_log.log(levels.get(kind, logging.WARNING), "[%s] %s%s", category, message, where)

    qInstallMessageHandler(handler)


def install_excepthook(show_dialog: Callable[[str], None] | None) -> None:
    """Log every uncaught exception with its traceback, then call `show_dialog(report)`.

    `report` is the formatted traceback. The hook also covers Python threads; `show_dialog` may
    therefore be called from any thread and must hand the work to the GUI thread itself (e.g.
    by emitting a queued signal). Ctrl+C keeps Python's own behaviour. Setting
    COSYDESK_NO_CRASH_DIALOG=1 keeps the logging and skips the dialog (for tests).
    """
    previous = sys.excepthook

    def report(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
            return
        text = "".join(traceback.format_exception(kind, value, tb))
        logging.getLogger("cosydesk.crash").critical("Uncaught exception\n%s", text.rstrip())
        if show_dialog is None or os.environ.get("COSYDESK_NO_CRASH_DIALOG") == "1":
            return
        try:
            show_dialog(text)
        except Exception:
            # The dialog itself failing must not recurse into this hook.
            logging.getLogger("cosydesk.crash").exception("The crash dialog failed")

    def report_thread(args: threading.ExceptHookArgs) -> None:
        # A thread ending with SystemExit is an ordinary exit, as in Python's own hook.
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        report(args.exc_type, args.exc_value, args.exc_traceback)

    def report_unraisable(args: sys.UnraisableHookArgs) -> None:
        # Exceptions Python cannot raise anywhere: in a C library's callback into Python (the
        # sound card's, through cffi), in __del__, in a finaliser. They used to reach stderr only.
        if args.exc_value is None:
            return
        where = f"{args.err_msg or 'Exception ignored'}: {args.object!r}"
        logging.getLogger("cosydesk.crash").error("%s", where)
        report(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = report
    threading.excepthook = report_thread
    sys.unraisablehook = report_unraisable
