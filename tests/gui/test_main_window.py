"""The main window driven like a person would: type, pick a voice, Speak, Stop, Save as WAV."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from cosydesk.gui.main_window import MainWindow
from tests.helpers import write_clip
from tests.runner.conftest import on_runner

LONG_TEXT = " ".join(f"Sentence number {n} of a long narration goes here." for n in range(1, 10))


def _is(state: str):
    return lambda s, _detail: s == state


@pytest.fixture
def idle_window(qtbot: QtBot, make_controller, settings, library, tmp_path: Path, sd):
    """A window whose app has no model folder yet (nothing heavy loads)."""
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    library.add("Bob", write_clip(tmp_path / "b.wav", freq=150), "Bob speaking here.")
    controller = make_controller(settings)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    controller.start()
    window.show()
    return window


@pytest.fixture
def window(qtbot: QtBot, make_controller, use_model, library, tmp_path: Path, sd):
    """A window whose model (the tiny one, on the CPU) has loaded."""
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    controller = make_controller(use_model)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.state_changed, timeout=120000, check_params_cb=_is("ready")):
        controller.start()
    return window


def test_the_voice_picker_lists_the_library_and_starts_on_the_default(
    qtbot: QtBot, make_controller, settings, library, tmp_path: Path
) -> None:
    library.add("Alice", write_clip(tmp_path / "a.wav"), "Alice speaking here.")
    library.add("Bob", write_clip(tmp_path / "b.wav"), "Bob speaking here.")
    settings.set("default_voice", "Bob")
    window = MainWindow(make_controller(settings))
    qtbot.addWidget(window)
    combo = window.voice_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["Alice", "Bob"]
    assert window.selected_voice() == "Bob"


def test_with_no_voices_the_picker_says_how_to_get_one(qtbot: QtBot, make_controller, settings):
    window = MainWindow(make_controller(settings))
    qtbot.addWidget(window)
    assert not window.voice_combo.isEnabled()
    assert "add one" in window.voice_combo.currentText()
    assert window.selected_voice() is None


def test_speak_with_no_text_explains_what_to_do(qtbot: QtBot, idle_window: MainWindow) -> None:
    qtbot.mouseClick(idle_window.speak_button, Qt.MouseButton.LeftButton)
    box = idle_window._error_box
    assert box is not None and box.isVisible()
    assert "There is no text to read" in box.text()


def test_only_the_selection_is_read_when_there_is_one(qtbot: QtBot, idle_window) -> None:
    qtbot.keyClicks(idle_window.editor, "First part. Second part.")
    assert idle_window.text() == "First part. Second part."
    cursor = idle_window.editor.textCursor()
    cursor.setPosition(12)
    cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
    idle_window.editor.setTextCursor(cursor)
    assert idle_window.text() == "Second part."


def test_the_status_bar_says_a_model_folder_is_needed(idle_window: MainWindow) -> None:
    assert "model folder" in idle_window.status.state_label.text()
    assert not idle_window.stop_button.isEnabled()


def test_speak_plays_and_stop_ends_it(qtbot: QtBot, window: MainWindow, sd) -> None:
    assert window.status.memory_label.text() == "No CUDA GPU - running on CPU"
    assert window.status.quant_label.text() == "Quantisation: none"
    qtbot.keyClicks(window.editor, LONG_TEXT)
    controller = window.controller
    with qtbot.waitSignal(controller.speech_progress, timeout=60000):
        qtbot.mouseClick(window.speak_button, Qt.MouseButton.LeftButton)
    assert window.stop_button.isEnabled() and window.pause_button.isEnabled()
    assert "Speaking" in window.status.state_label.text()
    # A text this long shows how much of it has been heard, growing as it is played.
    assert window.progress.isVisible() and window.progress.maximum() == len(LONG_TEXT)
    qtbot.waitUntil(lambda: sd.streams[-1].pull(4800).any(), timeout=60000)
    qtbot.waitUntil(lambda: window.progress.value() > 0, timeout=60000)
    with qtbot.waitSignal(controller.state_changed, check_params_cb=_is("ready")):
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    assert sd.streams[-1].aborted
    assert not window.stop_button.isEnabled()


def test_a_sentence_or_two_shows_no_progress_bar(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.keyClicks(window.editor, "Hello there. How are you?")
    with qtbot.waitSignal(window.controller.speech_progress, timeout=60000):
        qtbot.mouseClick(window.speak_button, Qt.MouseButton.LeftButton)
    assert not window.progress.isVisible()
    window.controller.stop()


def test_pause_button_becomes_resume(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.keyClicks(window.editor, LONG_TEXT)
    with qtbot.waitSignal(window.controller.speech_progress, timeout=60000):
        qtbot.mouseClick(window.speak_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    assert window.pause_button.text() == "&Resume"
    assert window.status.state_label.text() == "Paused"
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    assert window.pause_button.text() == "&Pause"
    window.controller.stop()


def _answer_save_dialog(monkeypatch: pytest.MonkeyPatch, path: Path) -> list:
    asked: list = []

    def fake(*args, **kwargs):
        asked.append(kwargs.get("options"))
        return str(path), "WAV audio (*.wav)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake)
    return asked


def test_save_as_wav_adds_the_extension_and_writes_the_file(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import soundfile

    _answer_save_dialog(monkeypatch, tmp_path / "narration")
    qtbot.keyClicks(window.editor, "Save me to a file.")
    with qtbot.waitSignal(window.controller.job_finished, timeout=60000):
        qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    info = soundfile.info(tmp_path / "narration.wav")
    assert info.samplerate == 24000 and info.frames > 0
    assert "narration.wav" in window.status.currentMessage()


def test_save_asks_before_replacing_a_file(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "old.wav"
    target.write_bytes(b"keep me")
    _answer_save_dialog(monkeypatch, target)
    questions: list[str] = []
    answer = QMessageBox.StandardButton.Cancel

    def question(parent, title, text, *args):
        questions.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    qtbot.keyClicks(window.editor, "Replace it?")
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert questions and "old.wav exists already" in questions[0]
    assert target.read_bytes() == b"keep me"

    answer = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(window.controller.job_finished, timeout=60000):
        qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert target.read_bytes()[:4] == b"RIFF"


def test_cancelling_a_long_save_leaves_no_file(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _answer_save_dialog(monkeypatch, tmp_path / "long.wav")
    qtbot.keyClicks(window.editor, LONG_TEXT)
    controller = window.controller
    with qtbot.waitSignal(controller.job_progress, timeout=60000) as blocker:
        qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    dialog = window.save_dialog(blocker.args[0])
    assert dialog is not None
    dialog.show()
    cancel = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Cancel")
    with qtbot.waitSignal(controller.job_cancelled, timeout=60000):
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert list(tmp_path.glob("*long*")) == []
    assert "nothing was written" in window.status.currentMessage()


def test_closing_the_window_hides_it_when_a_tray_icon_is_showing(
    qtbot: QtBot, idle_window: MainWindow
) -> None:
    idle_window.hide_on_close = True
    with qtbot.waitSignal(idle_window.hidden_to_tray):
        idle_window.close()
    assert not idle_window.isVisible()
    idle_window.hide_on_close = False
    idle_window.show()
    with qtbot.waitSignal(idle_window.quit_requested):
        idle_window.close()


# -- following along ------------------------------------------------------------------------------


TOKENS_PER_PART = 40
SAMPLES_PER_TOKEN = 960


def _force_part_lengths(controller) -> None:
    """Make the tiny model speak exactly TOKENS_PER_PART tokens a part from now on: left to
    itself it may end a part of several sentences after one token, and a test that pulls a
    few samples would then be heard in a later sentence than it expects."""
    from cosydesk.engine.model.sampling import ForcedLengthSampler

    def force_lengths(engine) -> None:
        size = engine.llm.speech_token_size
        engine.renderer.sampler_factory = lambda: ForcedLengthSampler(TOKENS_PER_PART, size)

    on_runner(controller.runner, force_lengths)


def _speak_all(qtbot: QtBot, window: MainWindow, sd, button: QPushButton | None = None):
    """Speak the editor's text (with `button`, else Speak), each part exactly TOKENS_PER_PART
    speech tokens long, and wait until all of it has been rendered; the fake card's stream,
    which has played nothing yet."""
    _force_part_lengths(window.controller)
    with qtbot.waitSignal(window.controller.job_finished, timeout=120000):
        qtbot.mouseClick(button or window.speak_button, Qt.MouseButton.LeftButton)
    return sd.streams[-1]


def test_the_part_being_heard_is_marked_and_the_mark_moves_on(
    qtbot: QtBot, window: MainWindow, sd
) -> None:
    text = "😀 " + LONG_TEXT  # the emoji takes two of Qt's positions, one of Python's
    window.editor.setPlainText(text)
    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() != "", timeout=3000)
    first = window.highlighter.marked()
    assert text.startswith(first) and first.endswith(".") and first != text

    stream.pull(TOKENS_PER_PART * SAMPLES_PER_TOKEN)  # the rest of part one, into part two
    qtbot.waitUntil(lambda: window.highlighter.marked() not in ("", first), timeout=3000)
    second = window.highlighter.marked()
    assert text.index(second) >= len(first)  # a later part, on whole sentences
    assert second.startswith("Sentence number") and second.endswith(".")
    while stream.active:
        stream.pull(4800)
    qtbot.waitUntil(lambda: window.highlighter.marked() == "", timeout=3000)


def test_typing_while_speaking_removes_the_mark(qtbot: QtBot, window: MainWindow, sd) -> None:
    window.editor.setPlainText(LONG_TEXT)
    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() != "", timeout=3000)
    qtbot.keyClicks(window.editor, "x")
    assert window.highlighter.marked() == ""
    stream.pull(48000)
    qtbot.wait(300)  # a few ticks: the mark does not come back for this utterance
    assert window.highlighter.marked() == ""
    window.controller.stop()


def test_a_spoken_selection_is_marked_where_it_is(qtbot: QtBot, window: MainWindow, sd) -> None:
    intro = "😀 Not this part. "  # an emoji counts twice in Qt's positions
    window.editor.setPlainText(intro + LONG_TEXT)
    cursor = window.editor.textCursor()
    cursor.setPosition(len(intro) + 1)  # one more for the emoji's second UTF-16 unit
    cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
    window.editor.setTextCursor(cursor)
    assert window.text() == LONG_TEXT
    stream = _speak_all(qtbot, window, sd)
    stream.pull(480)
    qtbot.waitUntil(lambda: window.highlighter.marked() != "", timeout=3000)
    span = window.highlighter.marked_span()
    assert span is not None and span[0] == len(intro) + 1
    assert LONG_TEXT.startswith(window.highlighter.marked())
    window.controller.stop()


# -- opening text files ---------------------------------------------------------------------------


def test_an_opened_text_file_fills_the_editor_and_names_the_wav(
    qtbot: QtBot, idle_window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = tmp_path / "Chapter One.txt"
    book.write_text("It was a bright cold day in April.", encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(book), ""))
    idle_window.open_action.trigger()
    assert idle_window.editor.toPlainText() == "It was a bright cold day in April."
    offered: list[str] = []

    def save_dialog(parent, title, start, *args, **kwargs):
        offered.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    assert idle_window.ask_save_path(idle_window.text()) is None
    assert Path(offered[0]) == tmp_path / "Chapter One.wav"


def test_opening_a_file_over_typed_text_asks_first(
    qtbot: QtBot, idle_window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = tmp_path / "book.txt"
    book.write_text("The book.", encoding="utf-8")
    qtbot.keyClicks(idle_window.editor, "My own words.")
    asked: list[str] = []

    def keep(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", keep)
    assert not idle_window.load_text_file(book)
    assert idle_window.editor.toPlainText() == "My own words." and "book.txt" in asked[0]


def test_a_file_that_is_not_text_is_explained(
    qtbot: QtBot, idle_window: MainWindow, tmp_path: Path
) -> None:
    picture = tmp_path / "cat.jpg"
    picture.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    assert not idle_window.load_text_file(picture)
    box = idle_window._error_box
    assert box is not None and "not a text file" in box.text()


def test_a_text_file_dropped_on_the_editor_is_opened_not_pasted_as_a_path(
    qtbot: QtBot, idle_window: MainWindow, tmp_path: Path
) -> None:
    from PySide6.QtCore import QMimeData, QUrl

    book = tmp_path / "dropped.txt"
    book.write_text("Words from a dropped file.", encoding="utf-8")
    drop = QMimeData()
    drop.setUrls([QUrl.fromLocalFile(str(book))])
    assert idle_window.editor.canInsertFromMimeData(drop)
    idle_window.editor.insertFromMimeData(drop)  # what a drop or a paste of the file does
    assert idle_window.editor.toPlainText() == "Words from a dropped file."
    plain = QMimeData()
    plain.setText(" And typed text.")
    idle_window.editor.moveCursor(QTextCursor.MoveOperation.End)
    idle_window.editor.insertFromMimeData(plain)
    assert idle_window.editor.toPlainText() == "Words from a dropped file. And typed text."
