"""Single instance: a second start finds the first, delivers its action, survives a crash."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtNetwork import QLocalSocket

from cosydesk.gui.single_instance import SingleInstance, server_name

APP_ID = "cosydesk-test"


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    # Unix socket paths are short (108 bytes); pytest's tmp paths can come close.
    folder = tmp_path / "run"
    folder.mkdir()
    return folder


@pytest.fixture
def primary(qtbot: object, runtime: Path) -> Iterator[SingleInstance]:
    instance = SingleInstance(APP_ID, runtime_dir=runtime)
    assert instance.try_primary()
    yield instance
    instance.close()


def test_second_start_is_not_primary_and_its_message_arrives(
    qtbot: object, primary: SingleInstance, runtime: Path
) -> None:
    second = SingleInstance(APP_ID, runtime_dir=runtime)
    assert not second.try_primary()
    with qtbot.waitSignal(primary.message_received, timeout=5000) as blocker:  # type: ignore[attr-defined]
        assert second.send("speak-clipboard")
    assert blocker.args == ["speak-clipboard"]


def test_every_action_arrives_in_order(
    qtbot: object, primary: SingleInstance, runtime: Path
) -> None:
    received: list[str] = []
    primary.message_received.connect(received.append)
    second = SingleInstance(APP_ID, runtime_dir=runtime)
    for message in ("show", "stop", "pause", "speak-clipboard"):
        assert second.send(message)
    qtbot.waitUntil(lambda: len(received) == 4, timeout=5000)  # type: ignore[attr-defined]
    assert received == ["show", "stop", "pause", "speak-clipboard"]


def test_unknown_words_are_ignored_and_refused_at_the_sender(
    qtbot: object, primary: SingleInstance, runtime: Path
) -> None:
    received: list[str] = []
    primary.message_received.connect(received.append)
    raw = QLocalSocket()
    raw.connectToServer(primary.server_name)
    assert raw.waitForConnected(2000)
    raw.write(b"format-disk\nshow\n")
    raw.waitForBytesWritten(2000)
    qtbot.waitUntil(lambda: received == ["show"], timeout=5000)  # type: ignore[attr-defined]
    raw.abort()
    with pytest.raises(ValueError, match="unknown message"):
        SingleInstance(APP_ID, runtime_dir=runtime).send("format-disk")


def test_send_without_a_primary_says_so(qtbot: object, runtime: Path) -> None:
    assert not SingleInstance(APP_ID, runtime_dir=runtime).send("show", timeout_ms=200)


def test_other_app_ids_do_not_meet(qtbot: object, primary: SingleInstance, runtime: Path) -> None:
    other = SingleInstance("another-app", runtime_dir=runtime)
    assert other.try_primary()
    other.close()


@pytest.mark.skipif(sys.platform == "win32", reason="Windows pipes leave no file behind")
def test_stale_socket_of_a_crashed_instance_is_replaced(qtbot: object, runtime: Path) -> None:
    path = server_name(APP_ID, runtime)
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(path)  # the file stays after close, as after a crash
    crashed.close()
    assert os.path.exists(path)

    instance = SingleInstance(APP_ID, runtime_dir=runtime)
    try:
        assert instance.try_primary()
        second = SingleInstance(APP_ID, runtime_dir=runtime)
        with qtbot.waitSignal(instance.message_received, timeout=5000):  # type: ignore[attr-defined]
            assert second.send("show")
    finally:
        instance.close()


@pytest.mark.skipif(sys.platform == "win32", reason="Unix socket files")
def test_socket_is_named_per_user_and_removed_on_close(qtbot: object, runtime: Path) -> None:
    instance = SingleInstance(APP_ID, runtime_dir=runtime)
    assert str(os.getuid()) in Path(instance.server_name).name
    assert instance.try_primary()
    assert os.path.exists(instance.server_name)
    assert os.stat(instance.server_name).st_mode & 0o077 == 0  # only this user may connect
    instance.close()
    assert not os.path.exists(instance.server_name)


def test_command_line_action_reaches_the_running_instance_from_another_process(
    qtbot: object, runtime: Path
) -> None:
    instance = SingleInstance("cosydesk", runtime_dir=runtime)  # the app's own id
    assert instance.try_primary()
    script = "from cosydesk.gui.single_instance import send_to_running as s; print(s('pause'))"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    try:
        with qtbot.waitSignal(instance.message_received, timeout=10000) as blocker:  # type: ignore[attr-defined]
            done = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
            )
        assert done.stdout.strip() == "True", done.stderr
        assert blocker.args == ["pause"]
    finally:
        instance.close()
