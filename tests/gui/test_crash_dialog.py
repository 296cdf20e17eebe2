"""The crash dialog: shown for an uncaught exception (from any thread), never in tests that
set COSYDESK_NO_CRASH_DIALOG, with the message, the recent log and the log file's path."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from cosydesk import logs
from cosydesk.gui.crash_dialog import CrashReporter, summary

REPORT = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad value\n'


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = logs.setup_logging(tmp_path / "logs")
    logging.getLogger("cosydesk.test").info("the line before the crash")
    yield path
    logs.teardown_logging()


@pytest.fixture
def reporter(qtbot: QtBot, log_file: Path, monkeypatch: pytest.MonkeyPatch) -> CrashReporter:
    monkeypatch.delenv("COSYDESK_NO_CRASH_DIALOG", raising=False)
    reporter = CrashReporter(log_file)
    yield reporter
    for dialog in list(reporter.dialogs):
        dialog.close()


def test_the_summary_is_the_last_line_of_the_traceback() -> None:
    assert summary(REPORT) == "ValueError: bad value"


def test_an_error_from_another_thread_opens_the_dialog_on_the_gui_thread(
    qtbot: QtBot, reporter: CrashReporter, log_file: Path
) -> None:
    thread = threading.Thread(target=reporter, args=(REPORT,))
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(reporter.dialogs) and reporter.dialogs[0].isVisible())
    dialog = reporter.dialogs[0]
    assert dialog.message_label.text() == "ValueError: bad value"
    assert str(log_file) in dialog.log_label.text()
    details = dialog.details.toPlainText()
    assert "ValueError: bad value" in details and "the line before the crash" in details
    dialog.copy_button.click()
    assert "the line before the crash" in QGuiApplication.clipboard().text()


def test_a_burst_of_errors_opens_one_dialog(qtbot: QtBot, reporter: CrashReporter) -> None:
    reporter(REPORT)
    reporter(REPORT)
    qtbot.waitUntil(lambda: bool(reporter.dialogs))
    assert len(reporter.dialogs) == 1


def test_the_excepthook_shows_it_for_an_uncaught_exception(
    qtbot: QtBot, reporter: CrashReporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    logs.install_excepthook(reporter)
    try:
        raise KeyError("no such voice")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: bool(reporter.dialogs))
    assert reporter.dialogs[0].message_label.text() == "KeyError: 'no such voice'"


def test_tests_switch_it_off(qtbot: QtBot, log_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("COSYDESK_NO_CRASH_DIALOG", "1")
    reporter = CrashReporter(log_file)
    shown = []
    reporter._crashed.connect(shown.append)
    reporter(REPORT)
    assert shown == [] and reporter.dialogs == []
