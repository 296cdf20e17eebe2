"""The whole tray app: fast start without torch, no tray -> window, first run, messages from a
second start, the hotkey, settings warnings, the local API, and a clean shutdown."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from cosydesk.gui.app import CosyDesk
from tests.helpers import write_clip
from tests.runner.conftest import on_runner

REPO = Path(__file__).resolve().parents[2]
LONG_TEXT = " ".join(f"Sentence number {n} of a long narration goes here." for n in range(1, 10))


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session with no display server at all, so no hotkey backend can be chosen."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_desk(qtbot: QtBot, library, no_display) -> Iterator:
    made: list[CosyDesk] = []

    def make(settings, **kwargs) -> CosyDesk:
        desk = CosyDesk(settings, library=library, tick_ms=100, **kwargs)
        qtbot.addWidget(desk.window)
        made.append(desk)
        return desk

    yield make
    for desk in made:
        assert desk.shutdown(20000), "the worker did not stop"


def test_the_app_starts_without_importing_torch(dirs: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        started = time.perf_counter()
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from cosydesk.config import Settings
        from cosydesk.gui.app import CosyDesk
        desk = CosyDesk(Settings.load())
        desk.start()
        app.processEvents()
        assert desk.window.isVisible() and desk.first_run_dialog.isVisible()
        print(f"torch={'torch' in sys.modules} seconds={time.perf_counter() - started:.2f}")
        assert desk.shutdown()
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "torch=False" in done.stdout, done.stdout


def test_without_a_system_tray_the_window_is_shown_and_closing_it_quits(
    make_desk, settings
) -> None:
    desk = make_desk(settings)
    desk.start(show_window=False)  # as the autostart entry asks, but there is no tray here
    assert desk.window.isVisible()
    assert desk.window.hide_on_close is False


def test_the_first_start_asks_for_the_model_folder(make_desk, settings) -> None:
    desk = make_desk(settings)
    desk.start()
    assert desk.first_run_dialog is not None and desk.first_run_dialog.isVisible()
    assert desk.controller.state == "no-model"
    assert "model folder" in desk.tray.icon.toolTip()


def test_choosing_the_folder_in_the_first_run_dialog_loads_the_model(
    qtbot: QtBot, make_desk, settings, tiny_model: Path
) -> None:
    desk = make_desk(settings)
    settings.set("device", "cpu")
    desk.start()
    dialog = desk.first_run_dialog
    qtbot.keyClicks(dialog.path_edit, str(tiny_model))
    qtbot.waitUntil(dialog.ok_button.isEnabled)  # checked once typing pauses
    with qtbot.waitSignal(
        desk.controller.state_changed, timeout=120000, check_params_cb=lambda s, _d: s == "ready"
    ):
        dialog.ok_button.click()
    assert desk.tray.state == "ready"
    assert desk.window.status.memory_label.text() == "No CUDA GPU - running on CPU"


def test_a_start_with_a_model_but_no_voice_goes_to_the_first_voice(
    qtbot: QtBot, make_desk, settings, tiny_model: Path, clip: Path
) -> None:
    settings.set("model_dir", str(tiny_model))  # as `cosydesk download` leaves it
    settings.set("device", "cpu")
    desk = make_desk(settings)
    desk.start()
    dialog = desk.first_run_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.pages.currentWidget() is dialog.voice_page
    assert not desk.window.voice_combo.isEnabled()  # "No voices yet - add one"
    with qtbot.waitSignal(dialog.voice_added, timeout=120000):
        dialog.voice_page.add("Narrator", clip, "What the clip says.")
    assert desk.window.voice_combo.isEnabled()
    assert desk.window.selected_voice() == "Narrator"


def test_a_finished_first_run_is_not_shown_again_without_voices(
    make_desk, settings, tiny_model: Path
) -> None:
    settings.set("model_dir", str(tiny_model))
    settings.set("first_run_done", True)  # skipped the voice step
    desk = make_desk(settings)
    desk.start()
    assert desk.first_run_dialog is None


def test_a_second_start_brings_the_window_forward(
    qtbot: QtBot, make_desk, settings, tmp_path: Path
) -> None:
    from cosydesk.gui.single_instance import SingleInstance

    primary = SingleInstance("cosydesk-test", runtime_dir=tmp_path)
    assert primary.try_primary()
    desk = make_desk(settings, instance=primary)
    desk.start()
    desk.window.hide()
    second = SingleInstance("cosydesk-test", runtime_dir=tmp_path)
    assert not second.try_primary()
    assert second.send("show")
    qtbot.waitUntil(desk.window.isVisible)
    primary.close()


def test_run_gui_as_a_second_start_shows_the_first_and_exits(
    qtbot: QtBot, dirs: Path, tmp_path: Path
) -> None:
    from cosydesk.gui.single_instance import SingleInstance

    runtime = tmp_path / "runtime"
    runtime.mkdir()
    primary = SingleInstance("cosydesk", runtime_dir=runtime)
    assert primary.try_primary()
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(REPO),
        XDG_RUNTIME_DIR=str(runtime),
        TMPDIR=str(runtime),
    )
    code = "import sys; from cosydesk.gui.app import run_gui; sys.exit(run_gui([]))"
    with qtbot.waitSignal(primary.message_received, timeout=60000) as blocker:
        second = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True
        )
    assert blocker.args == ["show"]
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0
    assert "already running" in err
    primary.close()


def test_actions_from_the_command_line(qtbot: QtBot, make_desk, settings) -> None:
    desk = make_desk(settings)
    desk.start()
    QGuiApplication.clipboard().setText("")
    desk.handle_message("speak-clipboard")
    assert "clipboard holds no text" in desk.window._error_box.text()
    desk.handle_message("stop")
    desk.handle_message("pause")
    desk.handle_message("dance")  # unknown: ignored
    assert desk.controller.state == "no-model"


def test_without_a_hotkey_backend_the_app_says_how_to_bind_one(
    qtbot: QtBot, make_desk, settings
) -> None:
    desk = make_desk(settings)
    desk.start()
    assert desk.hotkey_backend is None
    assert "cosydesk --action speak-clipboard" in desk.hotkey_note
    assert desk.tray.speak_action.text() == "Speak clipboard"
    desk.open_settings()
    assert "cosydesk --action speak-clipboard" in desk.settings_dialog.hotkey_note.text()
    desk.settings_dialog.close()


def test_the_hotkey_speaks_the_clipboard_and_a_second_press_stops(
    qtbot: QtBot, make_desk, use_model, library, tmp_path: Path, sd
) -> None:
    library.add("Tester", write_clip(tmp_path / "v.wav"), "A short test clip.")
    desk = make_desk(use_model)
    with qtbot.waitSignal(
        desk.controller.state_changed, timeout=120000, check_params_cb=lambda s, _d: s == "ready"
    ):
        desk.start()
    QGuiApplication.clipboard().setText(LONG_TEXT)
    with qtbot.waitSignal(desk.controller.speech_progress, timeout=60000):
        desk._hotkey_pressed.emit()
    assert desk.controller.speaking and desk.tray.state == "speaking"
    desk._hotkey_pressed.emit()
    qtbot.waitUntil(lambda: not desk.controller.speaking)
    assert sd.streams[-1].aborted


def test_a_damaged_settings_file_is_reported_at_start(make_desk, dirs: Path) -> None:
    from cosydesk.config import Settings

    path = dirs / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text("{ this is not json")
    desk = make_desk(Settings.load())
    desk.start()
    assert "(it is damaged: not valid JSON)" in desk.window._error_box.text()


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000 + b"]" * 100_000, b'{"speed": ' + b"9" * 5000 + b"}", b"\x00" * 2_000_000],
    ids=["nested", "5000-digits", "huge"],
)
def test_the_app_starts_with_defaults_whatever_the_settings_file_holds(
    make_desk, dirs: Path, content: bytes
) -> None:
    """As run_gui starts it: Settings.load() then CosyDesk; every start used to crash."""
    from cosydesk.config import OPTIONS, Settings

    path = dirs / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    desk = make_desk(Settings.load())
    desk.start()
    assert desk.window.isVisible()
    assert "could not be read as settings" in desk.window._error_box.text()
    assert desk.settings.as_dict() == {option.name: option.default for option in OPTIONS}


def test_a_settings_file_with_a_byte_order_mark_is_read_at_start(make_desk, dirs: Path) -> None:
    from cosydesk.config import Settings

    path = dirs / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xef\xbb\xbf" + b'{"version": 2, "speed": 1.5, "hotkey": "Ctrl+Alt+R"}')
    desk = make_desk(Settings.load())
    desk.start()
    assert (desk.settings.get("speed"), desk.settings.get("hotkey")) == (1.5, "Ctrl+Alt+R")
    box = desk.window._error_box
    assert box is None or "settings" not in box.text()  # nothing said about the settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_local_speech_api_follows_its_setting(qtbot: QtBot, make_desk, settings) -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    port = _free_port()
    settings.set("api_port", port)
    desk = make_desk(settings)
    desk.start()
    assert desk.api_server is None
    settings.set("api_enabled", True)
    qtbot.waitUntil(lambda: desk.api_server is not None, timeout=10000)
    health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
    assert health.status_code == 200
    settings.set("api_enabled", False)
    qtbot.waitUntil(lambda: desk.api_server is None, timeout=10000)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


class HeldSpeech:
    """The first utterance the model speaks from now on stops after its first chunk until
    `release` is set: a request that surely lasts while the test does something beside it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def install(self, engine: Any) -> None:
        """Runs on the runner's thread, as a job."""
        real = engine.synthesize

        def synthesize(*args: Any, **kwargs: Any) -> Iterator[Any]:
            chunks = real(*args, **kwargs)
            yield next(chunks)
            if not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(120), "the test never released the speech"
            yield from chunks

        engine.synthesize = synthesize


@pytest.fixture
def api_desk(qtbot: QtBot, make_desk, use_model, library, tmp_path: Path, sd) -> CosyDesk:
    """The app with its model loaded, a voice, and its local speech API on."""
    pytest.importorskip("fastapi")
    library.add("Tester", write_clip(tmp_path / "v.wav"), "A short test clip.")
    use_model.set("api_port", _free_port())
    use_model.set("api_enabled", True)
    desk = make_desk(use_model)
    with qtbot.waitSignal(
        desk.controller.state_changed, timeout=120000, check_params_cb=lambda s, _d: s == "ready"
    ):
        desk.start()
    assert desk.api_server is not None
    return desk


def _post_speech(desk: CosyDesk) -> Any:
    import httpx

    return httpx.post(
        f"{desk.api_server.url}/v1/audio/speech",
        json={"input": "Good morning.", "voice": "Tester", "response_format": "wav"},
        timeout=120,
    )


def _queue(desk: CosyDesk) -> dict[str, Any]:
    import httpx

    return httpx.get(f"{desk.api_server.url}/health", timeout=30).json()["queue"]


def test_the_api_answers_while_the_app_speaks_and_both_finish(qtbot: QtBot, api_desk) -> None:
    controller = api_desk.controller
    held = HeldSpeech()
    on_runner(controller.runner, held.install)
    with qtbot.waitSignal(controller.job_finished, timeout=120000) as app_done:
        job = controller.speak(LONG_TEXT)
        qtbot.waitUntil(held.entered.is_set, timeout=60000)
        # The API says the app is speaking, and its request waits for the app's.
        assert _queue(api_desk)["app_speaking"] is True
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(_post_speech, api_desk)
            qtbot.waitUntil(lambda: _queue(api_desk)["waiting"] == 1, timeout=30000)
            held.release.set()
            qtbot.waitUntil(answer.done, timeout=120000)
    assert app_done.args[0] == job
    response = answer.result()
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert len(response.content) > 44
    assert _queue(api_desk)["app_speaking"] is False


def test_the_app_says_when_it_waits_for_an_api_request(qtbot: QtBot, api_desk) -> None:
    from cosydesk.gui.controller import WAITING_FOR_API

    controller, status = api_desk.controller, api_desk.window.status
    held = HeldSpeech()
    on_runner(controller.runner, held.install)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(_post_speech, api_desk)
        assert held.entered.wait(60), "the API request never started"
        controller.speak("Hello there.")
        qtbot.waitUntil(lambda: status.state_label.text() == WAITING_FOR_API, timeout=10000)
        held.release.set()
        qtbot.waitUntil(lambda: status.state_label.text() == "Speaking...", timeout=60000)
        qtbot.waitUntil(answer.done, timeout=120000)
    assert answer.result().status_code == 200


def _exec_until_quit(trigger) -> int:
    """Run the app's event loop, `trigger()` once it runs; the loop's exit status, or -1 if
    it was still running 3 s later (then it is ended for the test)."""
    from PySide6.QtCore import QTimer

    app = QApplication.instance()
    assert app is not None
    QTimer.singleShot(0, trigger)
    # A timer object, stopped afterwards: a pending single shot would end a later test's
    # event loop (a waitSignal there then fails as if it timed out).
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(lambda: QApplication.exit(-1))
    deadline.start(3000)
    try:
        return app.exec()
    finally:
        deadline.stop()


def test_quit_ends_the_app_whatever_is_open(make_desk, settings) -> None:
    """(With a real tray icon, Qt's quit() used to be cancelled by the window hiding itself;
    tests/desktop proves Quit there. Offscreen has no tray: this covers open dialogs.)"""
    desk = make_desk(settings)
    desk.start()
    desk.window.hide_on_close = True  # as with a tray icon showing
    desk.open_settings()
    desk.open_voices()
    quit_action = next(a for a in desk.window.findChildren(QAction) if a.text() == "&Quit")
    assert _exec_until_quit(quit_action.trigger) == 0
    assert desk.shutdown()
    assert not desk.window.isVisible()


def test_closing_the_window_with_a_tray_keeps_the_app_running(make_desk, settings) -> None:
    desk = make_desk(settings)
    desk.start()
    desk.window.hide_on_close = True
    assert _exec_until_quit(desk.window.close) == -1
    assert not desk.window.isVisible()
