"""Logging: the log file, the in-memory tail, Qt messages and the crash hook."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosydesk import logs


@pytest.fixture
def clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    logs.teardown_logging()
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.usefixtures("clean_logging")
def test_lines_reach_the_file_and_the_tail(tmp_path: Path) -> None:
    path = logs.setup_logging(tmp_path / "logs")
    logging.getLogger("cosydesk.test").info("synthesis finished in %.1f s", 1.5)
    logging.getLogger("cosydesk.test").debug("below the level")

    assert path == tmp_path / "logs" / "cosydesk.log"
    text = path.read_text(encoding="utf-8")
    assert "INFO    cosydesk.test: synthesis finished in 1.5 s" in text
    assert "below the level" not in text
    assert logs.recent_lines()[-1].endswith("cosydesk.test: synthesis finished in 1.5 s")


@pytest.mark.usefixtures("clean_logging")
def test_tail_keeps_the_last_n_lines_and_tracebacks(tmp_path: Path) -> None:
    logs.setup_logging(tmp_path)
    for number in range(10):
        logging.getLogger("cosydesk.test").warning("line %d", number)
    assert [line[-6:] for line in logs.recent_lines(3)] == ["line 7", "line 8", "line 9"]

    try:
        raise ValueError("the model folder is empty")
    except ValueError:
        logging.getLogger("cosydesk.test").exception("loading failed")
    assert logs.recent_lines(1) == ["ValueError: the model folder is empty"]


@pytest.mark.usefixtures("clean_logging")
def test_a_second_setup_does_not_double_lines(tmp_path: Path) -> None:
    logs.setup_logging(tmp_path)
    path = logs.setup_logging(tmp_path)
    logging.getLogger("cosydesk.test").warning("only once")
    assert path.read_text(encoding="utf-8").count("only once") == 1
    assert sum("only once" in line for line in logs.recent_lines()) == 1


@pytest.mark.usefixtures("clean_logging")
def test_unwritable_log_folder_still_logs_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    logs.setup_logging(blocker / "logs")
    logging.getLogger("cosydesk.test").warning("still heard")
    lines = logs.recent_lines()
    assert any("Cannot write the log file" in line for line in lines)
    assert lines[-1].endswith("still heard")


def test_qt_messages_go_to_the_qt_logger(caplog: pytest.LogCaptureFixture) -> None:
    from PySide6.QtCore import qInstallMessageHandler, qWarning

    logs.install_qt_message_handler()
    try:
        with caplog.at_level(logging.DEBUG, logger="qt"):
            qWarning("QSystemTrayIcon::setVisible: No Icon set")
    finally:
        qInstallMessageHandler(None)
    records = [r for r in caplog.records if r.name == "qt"]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "No Icon set" in records[0].getMessage()


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put Python's hooks back after the test, whatever it installed."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.delenv("COSYDESK_NO_CRASH_DIALOG", raising=False)


def _raise_and_hook() -> None:
    try:
        raise RuntimeError("the worker died")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]


@pytest.mark.usefixtures("hooks")
def test_crash_hook_logs_the_traceback_and_shows_the_dialog(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown: list[str] = []
    logs.install_excepthook(shown.append)
    with caplog.at_level(logging.CRITICAL, logger="cosydesk.crash"):
        _raise_and_hook()
    assert len(shown) == 1
    assert "RuntimeError: the worker died" in shown[0] and "Traceback" in shown[0]
    assert "RuntimeError: the worker died" in caplog.text


@pytest.mark.usefixtures("hooks")
def test_crash_dialog_is_skipped_with_the_test_flag_but_the_log_remains(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("COSYDESK_NO_CRASH_DIALOG", "1")
    shown: list[str] = []
    logs.install_excepthook(shown.append)
    with caplog.at_level(logging.CRITICAL, logger="cosydesk.crash"):
        _raise_and_hook()
    assert shown == []
    assert "the worker died" in caplog.text


@pytest.mark.usefixtures("hooks")
def test_crash_hook_covers_python_threads_and_survives_a_failing_dialog(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_dialog(report: str) -> None:
        raise RuntimeError("no display")

    logs.install_excepthook(broken_dialog)

    def work() -> None:
        raise OSError("disk gone")

    with caplog.at_level(logging.ERROR, logger="cosydesk.crash"):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert "OSError: disk gone" in caplog.text
    assert "The crash dialog failed" in caplog.text


@pytest.mark.usefixtures("hooks")
def test_crash_hook_covers_exceptions_python_cannot_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception in a C library's callback (the sound card's) or in __del__ reaches the log
    and the dialog, not only stderr."""
    shown: list[str] = []
    logs.install_excepthook(shown.append)

    class Stream:
        def __del__(self) -> None:
            raise AssertionError("callback failed")

    with caplog.at_level(logging.ERROR, logger="cosydesk.crash"):
        Stream()  # collected at once; Python can only report what __del__ raised
    assert "AssertionError: callback failed" in caplog.text
    assert len(shown) == 1 and "callback failed" in shown[0]


@pytest.mark.usefixtures("clean_logging")
def test_library_warnings_go_to_the_file_not_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = logs.setup_logging(tmp_path)
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning("could not fetch kernels")
    logging.getLogger("some_library.module").error("a real failure")
    logging.getLogger("cosydesk.engine").warning("No CUDA GPU: running on the CPU")
    console = capsys.readouterr().err
    assert "could not fetch kernels" not in console
    assert "a real failure" in console and "No CUDA GPU" in console
    assert "could not fetch kernels" in path.read_text(encoding="utf-8")
