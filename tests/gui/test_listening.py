"""Control while listening, through the main window's real widgets: speed, volume, skipping a
sentence, reading from the cursor, continuing where the last reading stopped, progress and the
mark following what is heard, and Stop giving the controls back at once.

The tiny model speaks exactly TOKENS_PER_PART tokens a part here, so that how much audio each
part makes is known; the fake sound card plays only what the test pulls.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from pytestqt.qtbot import QtBot

from cosydesk.config import option
from cosydesk.gui.main_window import MainWindow
from tests.gui import test_app, test_main_window
from tests.gui.conftest import write_clip
from tests.gui.test_main_window import (
    LONG_TEXT,
    SAMPLES_PER_TOKEN,
    TOKENS_PER_PART,
    _force_part_lengths,
    _is,
    _speak_all,
)
from tests.runner.conftest import on_runner

window = test_main_window.window  # the fixture: a window whose tiny model has loaded
PART = TOKENS_PER_PART * SAMPLES_PER_TOKEN  # samples of one part at speed 1
SENTENCES = re.findall(r"Sentence number \d+ of a long narration goes here\.", LONG_TEXT)


def _played_seconds(caplog: pytest.LogCaptureFixture) -> list[float]:
    """Seconds heard of each speech that ended, as the app logs them."""
    return [
        float(m)
        for m in re.findall(r"Speech \d+ ended: [\d.]+ s rendered, ([\d.]+) s played", caplog.text)
    ]


def _play_out(qtbot: QtBot, window: MainWindow, stream) -> None:
    """Play everything queued, as the card would, until the speech has ended."""
    with qtbot.waitSignal(window.controller.state_changed, check_params_cb=_is("ready")):
        while stream.active:
            stream.pull(4800)


def _rerendered(qtbot: QtBot, window: MainWindow, act) -> None:
    """Do `act` (which renders the rest again) and wait until the new job has rendered."""
    with qtbot.waitSignal(window.controller.job_finished, timeout=120000):
        act()


def test_a_new_speed_is_heard_from_the_next_part_on(
    qtbot: QtBot, window: MainWindow, sd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cosydesk.gui.controller")
    bar = window.listen_bar
    speed = option("speed")
    assert (bar.speed_box.minimum(), bar.speed_box.maximum()) == (speed.minimum, speed.maximum)
    window.editor.setPlainText(LONG_TEXT)
    _play_out(qtbot, window, _speak_all(qtbot, window, sd))
    (normal,) = _played_seconds(caplog)
    parts = round(normal * 24000 / PART)
    assert parts >= 2

    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)  # the first part is heard now
    _rerendered(qtbot, window, lambda: bar.speed_box.setValue(2.0))
    _play_out(qtbot, window, stream)
    faster = _played_seconds(caplog)[-1]
    # The first part whole at the old speed, every later one at twice the speed.
    assert faster * 24000 == pytest.approx(PART + (parts - 1) * PART / 2, rel=0.05)
    assert window.settings.get("speed") == 2.0


def test_volume_applies_at_once_while_the_speech_goes_on(
    qtbot: QtBot, window: MainWindow, sd, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosydesk.audio.playback import Player

    fed: list[np.ndarray] = []  # what the model rendered, as the player got it
    feed = Player.feed
    monkeypatch.setattr(Player, "feed", lambda self, chunk: (fed.append(chunk), feed(self, chunk)))
    window.editor.setPlainText(LONG_TEXT)
    stream = _speak_all(qtbot, window, sd)
    rendered = np.concatenate(fed)
    bar = window.listen_bar
    np.testing.assert_array_equal(stream.pull(4800), rendered[:4800])
    bar.volume_slider.setValue(bar.volume_slider.minimum())
    lowest = option("volume").minimum
    assert window.settings.get("volume") == lowest
    np.testing.assert_allclose(stream.pull(4800), rendered[4800:9600] * lowest / 100, atol=1e-7)
    assert window.controller.listening().elapsed == pytest.approx(9600 / 24000)
    bar.volume_slider.setValue(50)
    np.testing.assert_allclose(stream.pull(4800), rendered[9600:14400] * 0.5, atol=1e-7)
    assert window.settings.get("volume") == 50
    window.controller.stop()


def test_the_sentence_heard_is_marked_not_the_whole_part(
    qtbot: QtBot, window: MainWindow, sd
) -> None:
    window.editor.setPlainText(LONG_TEXT)
    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() == SENTENCES[0], timeout=3000)
    stream.pull(PART // 2)  # half way through the first part: a later sentence of it
    qtbot.waitUntil(lambda: window.highlighter.marked() not in ("", SENTENCES[0]), timeout=3000)
    assert window.highlighter.marked() in SENTENCES[1:]
    window.controller.stop()


def test_next_and_previous_sentence_skip_at_once(qtbot: QtBot, window: MainWindow, sd) -> None:
    window.editor.setPlainText(LONG_TEXT)
    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() == SENTENCES[0], timeout=3000)
    bar = window.listen_bar
    assert bar.next_button.isEnabled() and bar.previous_button.isEnabled()
    for click, expected in ((bar.next_button, 1), (bar.next_button, 2), (bar.previous_button, 1)):
        _rerendered(qtbot, window, lambda b=click: qtbot.mouseClick(b, Qt.MouseButton.LeftButton))
        stream.pull(480)
        qtbot.waitUntil(
            lambda e=expected: window.highlighter.marked() == SENTENCES[e], timeout=3000
        )
    window.controller.stop()
    assert not bar.next_button.isEnabled()


def test_two_quick_presses_of_next_skip_two_sentences(qtbot: QtBot, window: MainWindow, sd) -> None:
    """The second press comes before the runner has started the first skip's sentence (the
    speaker still plays the old one): it goes on from the sentence skipped to."""
    window.editor.setPlainText(LONG_TEXT)
    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() == SENTENCES[0], timeout=3000)

    def twice() -> None:
        window.controller.skip(1)
        window.controller.skip(1)

    _rerendered(qtbot, window, twice)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() == SENTENCES[2], timeout=3000)
    window.controller.stop()


def test_previous_sentence_as_the_speech_ends_reads_it_again(
    qtbot: QtBot, window: MainWindow, sd
) -> None:
    window.editor.setPlainText("First sentence here. Second sentence here.")
    stream = _speak_all(qtbot, window, sd)
    while stream.active:  # played out; the app has not yet heard that the sound ended
        stream.pull(4800)
    _rerendered(qtbot, window, lambda: window.controller.skip(-1))
    again = sd.streams[-1]
    assert again is not stream  # a new output takes over from the one that ended
    again.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() == "First sentence here.", timeout=3000)
    _play_out(qtbot, window, again)


def test_reading_from_the_cursor_starts_at_its_word_and_keeps_it_centred(
    qtbot: QtBot, window: MainWindow, sd
) -> None:
    lines = [f"Line {n} is read aloud here." for n in range(1, 61)]
    text = "\n".join(lines)
    window.resize(500, 300)
    window.editor.setPlainText(text)
    cursor = window.editor.textCursor()
    cursor.setPosition(text.index("Line 40") + len("Line 4"))  # inside "40"
    window.editor.setTextCursor(cursor)
    stream = _speak_all(qtbot, window, sd, button=window.from_cursor_button)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() == "40 is read aloud here.", timeout=3000)
    span = window.highlighter.marked_span()
    assert span is not None
    mark = QTextCursor(window.editor.document())
    mark.setPosition(span[0])
    middle = window.editor.viewport().height() / 2
    line = window.editor.fontMetrics().lineSpacing()
    assert abs(window.editor.cursorRect(mark).center().y() - middle) <= 1.5 * line
    window.controller.stop()


def test_continue_reads_on_where_the_last_reading_stopped_after_a_restart(
    qtbot: QtBot, window: MainWindow, sd, make_controller, use_model
) -> None:
    window.editor.setPlainText(LONG_TEXT)
    assert not window.continue_button.isEnabled()
    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)
    _rerendered(qtbot, window, lambda: window.controller.skip(2))
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() == SENTENCES[2], timeout=3000)
    qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    assert window.continue_button.isEnabled()
    window.close()
    window.controller.shutdown()

    again = MainWindow(make_controller(use_model))  # the app started anew
    qtbot.addWidget(again)
    again.show()
    with qtbot.waitSignal(
        again.controller.state_changed, timeout=120000, check_params_cb=_is("ready")
    ):
        again.controller.start()
    again.editor.setPlainText(LONG_TEXT)
    assert again.continue_button.isEnabled()
    stream = _speak_all(qtbot, again, sd, button=again.continue_button)
    stream.pull(480)
    qtbot.waitUntil(lambda: again.highlighter.marked() == SENTENCES[2], timeout=3000)
    again.controller.stop()
    # A changed text has no place to continue from: its characters moved.
    again.editor.setPlainText("A new first line. " + LONG_TEXT)
    assert not again.continue_button.isEnabled()


def test_progress_follows_what_is_heard_not_what_is_rendered(
    qtbot: QtBot, window: MainWindow, sd
) -> None:
    window.editor.setPlainText(LONG_TEXT)
    stream = _speak_all(qtbot, window, sd)  # every part rendered, none heard yet
    bar = window.listen_bar
    bar.tick()
    assert window.progress.isVisible() and window.progress.value() == 0
    assert bar.time_label.text().startswith("0:00 heard")
    stream.pull(PART // 2)  # half of the first part
    bar.tick()
    assert 0 < window.progress.value() < window.progress.maximum() // 2
    stream.pull(PART)
    bar.tick()
    heard = window.controller.listening()
    assert heard.elapsed == pytest.approx(1.5 * PART / 24000)
    assert heard.remaining > 0 and window.progress.value() < window.progress.maximum()
    window.controller.stop()


def test_stop_gives_the_controls_back_before_the_runner_lets_go(
    qtbot: QtBot, window: MainWindow, sd
) -> None:
    """A chunk may take seconds to render on a slow card; Stop does not wait for it."""
    rendering, hold = threading.Event(), threading.Event()

    def slow_renderer(engine) -> None:
        render = engine.renderer.render

        def slow(*args, **kwargs):
            for chunk in render(*args, **kwargs):
                yield chunk
                rendering.set()
                hold.wait(60)  # the next chunk is a long time coming, cancel or not

        engine.renderer.render = slow

    on_runner(window.controller.runner, slow_renderer)
    window.editor.setPlainText(LONG_TEXT)
    try:
        qtbot.mouseClick(window.speak_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(rendering.is_set, timeout=60000)
        qtbot.waitUntil(lambda: window.controller.state == "speaking")
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
        qtbot.wait(100)  # the runner's word that it works on the job may still be queued
        assert window.status.state_label.text() == "Ready"
        assert window.speak_button.isEnabled() and not window.stop_button.isEnabled()
    finally:
        hold.set()
    with qtbot.waitSignal(window.controller.job_finished, timeout=60000):
        qtbot.mouseClick(window.speak_button, Qt.MouseButton.LeftButton)
    window.controller.stop()


def test_a_voice_picked_while_speaking_speaks_the_parts_not_heard_yet(
    qtbot: QtBot, window: MainWindow, sd, library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library.add("Bob", write_clip(tmp_path / "b.wav", freq=150), "Bob speaking here.")
    window.refresh_voices()
    engine = on_runner(window.controller.runner, lambda engine: engine)
    spoken: list[tuple[str, str]] = []  # (voice, text) of each part the model renders
    real = engine.segment_input

    def spy(text: str, voice, *args, **kwargs):
        spoken.append((voice.name, text))
        return real(text, voice, *args, **kwargs)

    monkeypatch.setattr(engine, "segment_input", spy)
    window.editor.setPlainText(LONG_TEXT)
    stream = _speak_all(qtbot, window, sd)
    first_parts = list(spoken)
    assert len(first_parts) >= 2 and {voice for voice, _ in first_parts} == {"Alice"}
    stream.pull(480)  # the first part is heard now
    combo = window.voice_combo
    combo.setCurrentIndex(combo.findData("Bob"))
    _rerendered(qtbot, window, lambda: combo.activated.emit(combo.currentIndex()))
    again = spoken[len(first_parts) :]
    # The part heard goes on in Alice's voice; every later one is Bob's, none left out.
    assert [voice for voice, _ in again] == ["Bob"] * (len(first_parts) - 1)
    assert [text.strip() for _, text in again] == [text.strip() for _, text in first_parts[1:]]
    _play_out(qtbot, window, stream)


def test_the_tray_menu_sets_speed_volume_and_voice_as_the_window_shows_them(
    qtbot: QtBot, window: MainWindow, library, tmp_path: Path
) -> None:
    from cosydesk.gui.tray import Tray
    from cosydesk.gui.tray_listen import TrayListenMenu

    library.add("Bob", write_clip(tmp_path / "b.wav", freq=150), "Bob speaking here.")
    tray = Tray()
    listen = TrayListenMenu(tray.menu, tray.show_action, window.controller)
    assert tray.menu.actions()[-1].text() == "Quit"

    def pick(menu, label: str) -> None:
        menu.aboutToShow.emit()
        (action,) = [a for a in menu.actions() if a.text() == label]
        action.trigger()

    speed = option("speed")
    listen.speed_menu.aboutToShow.emit()
    labels = [a.text() for a in listen.speed_menu.actions()]
    assert labels[0] == f"{speed.minimum:g} x" and labels[-1] == f"{speed.maximum:g} x"
    pick(listen.speed_menu, "1.5 x")
    assert window.listen_bar.speed_box.value() == 1.5
    pick(listen.volume_menu, "50 %")
    assert window.listen_bar.volume_slider.value() == 50
    pick(listen.voice_menu, "Bob")
    assert window.voice_combo.currentText() == "Bob" and window.controller.voice() == "Bob"
    # The window and the tray's speech (the clipboard) go on with the voice picked.
    with qtbot.waitSignal(window.controller.job_finished, timeout=60000):
        window.controller.speak("Hello there.")
    assert window.controller.listening() is not None
    window.controller.stop()


make_desk, no_display = test_app.make_desk, test_app.no_display  # the fixtures of the whole app


def test_a_desktop_shortcut_skips_to_the_next_sentence_of_the_clipboard(
    qtbot: QtBot, make_desk, use_model, library, tmp_path: Path, sd
) -> None:
    from PySide6.QtGui import QGuiApplication

    from cosydesk.cli import build_parser

    assert build_parser().parse_args(["--action", "next-sentence"]).action == "next-sentence"
    library.add("Tester", write_clip(tmp_path / "v.wav"), "A short test clip.")
    desk = make_desk(use_model)
    controller = desk.controller
    with qtbot.waitSignal(controller.state_changed, timeout=120000, check_params_cb=_is("ready")):
        desk.start(show_window=False)
    # 480 samples must fall in the first sentence of the first part (of three sentences).
    _force_part_lengths(controller)
    QGuiApplication.clipboard().setText(LONG_TEXT)
    with qtbot.waitSignal(controller.job_finished, timeout=120000):
        desk.handle_message("speak-clipboard")
    stream = sd.streams[-1]
    stream.pull(480)
    with qtbot.waitSignal(controller.job_finished, timeout=120000):
        desk.handle_message("next-sentence")  # `cosydesk --action next-sentence`
    stream.pull(480)
    heard = controller.reading_range()
    assert heard is not None and LONG_TEXT[heard[1] : heard[2]] == SENTENCES[1]
    controller.stop()
