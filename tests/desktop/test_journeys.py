"""The journeys people take with cosydesk, on a real desktop: the app started as `cosydesk`,
keys pressed and clicks made with xdotool, the screen read through the accessibility tree, the
sound heard at a PulseAudio sink. Each asserts what a person would notice."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.desktop.app import DesktopApp
from tests.desktop.conftest import MakeApp, note
from tests.desktop.services import RATE, Pinger, PulseServer, client_windows
from tests.helpers import write_clip

pytestmark = pytest.mark.desktop

# The accessible name of the main window's text editor.
EDITOR = "Text to read"
# How long the tiny model on two CPU cores may take to load, speak or reload.
LOAD_S = 90
SPEECH_S = 60


def ended_speeches(log: str) -> list[tuple[float, float, float]]:
    """(rendered, played, waited) seconds of each speech the app says has ended, in order."""
    found = re.findall(
        r"Speech \d+ ended: ([\d.]+) s rendered, ([\d.]+) s played, ([\d.]+) s waited", log
    )
    return [(float(a), float(b), float(c)) for a, b, c in found]


def test_first_run_choose_the_model_and_the_status_says_ready(
    make_app: MakeApp, tiny_model: Path
) -> None:
    app = make_app()
    app.start()
    started = app.started_at
    dialog = app.wait_for("dialog", re.compile("[Cc]hoose the model"), timeout=30)
    note("launch to first-run dialog, s", time.monotonic() - started)
    assert app.tray_icon() is not None  # the tray icon is there too
    field = app.wait_for("text", "Model folder:")
    app.click(field)
    app.type(str(tiny_model))
    app.wait_until(
        lambda: (b := app.find("push button", "Use this folder")) and "enabled" in b.states,
        10,
        "the dialog to accept the folder",
    )
    app.key("Return")
    app.wait_until(lambda: app.find("dialog", dialog.name) is None, 10, "the dialog to close")
    app.wait_until(lambda: app.status() == "Ready", LOAD_S, "the status bar to say Ready")
    assert "Quantisation: none (automatic)" in app.status_labels()
    assert "No CUDA GPU - running on CPU" in app.status_labels()


def test_launch_to_tray_icon(make_app: MakeApp, ready_settings: dict[str, object]) -> None:
    app = make_app(ready_settings)
    app.start("--minimized")
    app.wait_until(app.tray_icon, 20, "the tray icon")
    note("launch to tray icon, s", time.monotonic() - app.started_at)
    assert app.find("frame", "cosydesk") is None  # minimised to the tray: no window


def test_add_a_voice_from_a_file(
    make_app: MakeApp, ready_settings: dict[str, object], tmp_path: Path
) -> None:
    clip = write_clip(tmp_path / "narrator.wav", seconds=3.0, freq=140.0)
    app = make_app(ready_settings)
    app.start()
    app.wait_until(lambda: app.status() == "Ready", LOAD_S, "Ready")
    app.click(app.wait_for("push button", "Manage voices..."))
    app.click(app.wait_for("push button", "Add from file..."))
    app.wait_for("dialog", re.compile("^Add a voice from a file"))
    app.click(app.wait_for("text", "Name:"))
    app.type("Narrator")
    app.click(app.wait_for("text", "Clip"))
    app.type(str(clip))
    app.click(app.wait_for("text", "Transcript:"))
    app.type("This is how the narrator sounds.")
    app.click(app.wait_for("push button", "Add voice"))
    item = app.wait_for("list item", "Narrator", timeout=SPEECH_S)
    app.assert_alive()
    assert item is not None
    voices = app.data / "voices"
    (folder,) = [p for p in voices.iterdir() if not p.name.startswith(".")]
    assert list(folder.glob("features-*.npz")), "the voice was listed before it was complete"
    app.click(app.wait_for("push button", "Close"))
    app.wait_until(
        lambda: app.find("combo box", "Narrator") is not None, 10, "the voice in the main window"
    )


def test_speak_twenty_times_and_hear_every_one_whole(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = make_app(ready_settings, voice="Tester")
    app.start()
    app.wait_until(lambda: app.status() == "Ready", LOAD_S, "Ready")
    editor = app.wait_for("text", EDITOR)
    app.click(editor)
    app.type("Hello there. This is a test.")
    recorder = pulse.record()
    try:
        for run in range(20):
            start = recorder.now()
            pressed = time.monotonic()
            app.key("ctrl+Return")
            first = recorder.wait_for_sound(start, timeout=SPEECH_S)
            # The recorder's clock is the sink's: sample index to seconds after the press.
            note("Speak to first sound at the sink, s", (first - start) / RATE)
            app.wait_until(
                lambda n=run: len(ended_speeches(app.log())) > n, SPEECH_S, "the speech to end"
            )
            rendered, played, waited = ended_speeches(app.log())[run]
            # Let what the sink still buffers arrive before measuring what was heard.
            time.sleep(0.3)
            heard = recorder.sound_seconds(start)
            assert heard > 0, f"run {run + 1}: silence"
            assert played == pytest.approx(rendered, abs=0.01), f"run {run + 1}"
            # Gaps left out (the player waiting for synthesis, or the sound server for a late
            # callback on a busy machine), what was heard is what was rendered; quiet samples of
            # random speech may round to silence, so a little less is allowed, never more. (The
            # player test in tests/audio holds a tone's tail to 10 ms.)
            assert rendered - 0.03 <= heard <= rendered + 0.01, (
                f"run {run + 1}: heard {heard:.3f} s of {rendered:.3f} s ({waited:.3f} s waited)"
            )
            assert time.monotonic() - pressed < SPEECH_S
            app.wait_until(lambda: app.status() == "Ready", 10, "Ready again")
    finally:
        recorder.stop()


LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long narration, read aloud." for n in range(1, 13)
)


def ready_app(make_app: MakeApp, settings: dict[str, object], *args: str) -> DesktopApp:
    """An app with a voice, started and Ready."""
    app = make_app(settings, voice="Tester")
    app.start(*args)
    app.wait_ready(LOAD_S)
    return app


def write_into_editor(app: DesktopApp, text: str) -> None:
    """Replace the editor's text: typed when short, pasted from the clipboard when long (as a
    person would; typing 2,000 characters with xdotool takes 17 s)."""
    app.click(app.wait_for("text", EDITOR))
    app.key("ctrl+a", "BackSpace")
    if len(text) < 100:
        app.type(text)
        return
    with app.clipboard(text):
        app.key("ctrl+v")
        app.wait_until(
            lambda: (editor := app.find("text", EDITOR)) is not None and editor.text == text,
            10,
            "the pasted text in the editor",
        )


def test_the_hotkey_speaks_the_clipboard_and_pressed_again_stops(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = ready_app(make_app, ready_settings, "--minimized")
    recorder = pulse.record()
    try:
        with app.clipboard(LONG_TEXT):
            start = recorder.now()
            app.key("ctrl+alt+s")
            first = recorder.wait_for_sound(start, timeout=SPEECH_S)
            note("hotkey to first sound at the sink, s", (first - start) / RATE)
            time.sleep(0.5)
            app.key("ctrl+alt+s")
            pressed = recorder.now()
            time.sleep(2.0)
            # Once the buffer in flight has played (0.3 s at most), nothing more is heard.
            assert recorder.first_sound(pressed + int(0.3 * RATE)) is None, "still speaking"
            assert not ended_speeches(app.log()), "the whole text was spoken: the stop was ignored"
    finally:
        recorder.stop()


def test_save_as_wav_writes_a_whole_file_and_cancel_leaves_nothing(
    make_app: MakeApp, ready_settings: dict[str, object], tmp_path: Path
) -> None:
    import soundfile

    app = ready_app(make_app, ready_settings)
    folder = tmp_path / "narration"
    folder.mkdir()
    write_into_editor(app, "Hello there. This is saved to a file.")
    app.key("ctrl+s")
    app.wait_for("dialog", re.compile("^Save speech as WAV"))
    app.key("ctrl+a")
    app.type(str(folder / "hello.wav"))
    app.key("Return")
    app.wait_until(lambda: "Saved speech to" in app.log(), SPEECH_S, "the file to be saved")
    info = soundfile.info(folder / "hello.wav")
    assert (info.samplerate, info.channels, info.format) == (24000, 1, "WAV")
    assert info.frames > 0
    audio, _ = soundfile.read(folder / "hello.wav", dtype="float32")
    assert audio.shape[0] == info.frames and abs(audio).max() > 0

    write_into_editor(app, " ".join([LONG_TEXT] * 3))
    app.key("ctrl+s")
    app.wait_for("dialog", re.compile("^Save speech as WAV"))
    app.key("ctrl+a")
    app.type(str(folder / "long.wav"))
    app.key("Return")
    app.wait_for("dialog", re.compile("^Saving"), timeout=SPEECH_S)
    app.click(app.wait_for("push button", "Cancel"))
    app.wait_until(
        lambda: app.status_message() == "Saving cancelled; nothing was written.",
        SPEECH_S,
        "the status bar to say the save was cancelled",
    )
    assert sorted(p.name for p in folder.iterdir()) == ["hello.wav"]  # no part file either


def _choose_quantisation(app: DesktopApp, label: str) -> None:
    app.key("ctrl+comma")
    app.wait_for("dialog", re.compile("[Ss]ettings"))
    app.click(app.wait_for("combo box", re.compile("^(4-bit|8-bit|Automatic|None)")))
    app.click(app.wait_for("list item", label))
    app.click(app.wait_for("push button", "OK"))


def test_switching_quantisation_keeps_the_window_answering(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = ready_app(make_app, ready_settings)
    window = client_windows(app.session.display)["cosydesk"]
    pinger = Pinger(app.session.display, window)
    try:
        _choose_quantisation(app, "8-bit LLM.int8")
        app.wait_until(
            lambda: "Quantisation: 8-bit" in app.status_labels() and app.status() == "Ready",
            LOAD_S,
            "the model reloaded in 8-bit",
        )
        idle = pinger.stop()
        note("longest X ping while reloading (idle), s", idle)

        write_into_editor(app, LONG_TEXT)
        app.speak_and_hear(SPEECH_S)
        pinger = Pinger(app.session.display, window)
        _choose_quantisation(app, "4-bit NF4 (least GPU memory)")
        app.wait_until(
            lambda: "Quantisation: 4-bit NF4" in app.status_labels(),
            LOAD_S + SPEECH_S,
            "the model reloaded in 4-bit",
        )
        speaking = pinger.stop()
        note("longest X ping while speaking and reloading, s", speaking)
    finally:
        pinger.stop()
    # Issue 9: the window never stalls 100 ms or more while the model reloads.
    assert idle < 0.1, f"the window stalled {idle:.3f} s while reloading"
    assert speaking < 0.1, f"the window stalled {speaking:.3f} s while speaking and reloading"


@pytest.mark.parametrize(
    ("how", "window", "model"),
    [
        ("menu", "open", "loaded"),
        ("ctrl+q", "open", "loaded"),
        ("tray", "hidden", "loading"),
        ("tray", "open", "none"),  # the first-run dialog open over the window
        ("sigterm", "hidden", "loaded"),
        ("sigterm", "open", "loading"),
    ],
)
def test_quit_ends_the_process_within_3_s(
    make_app: MakeApp, ready_settings: dict[str, object], how: str, window: str, model: str
) -> None:
    import signal

    settings = ready_settings if model != "none" else {"first_run_done": True}
    app = make_app(settings)
    app.start(*(["--minimized"] if window == "hidden" else []))
    app.wait_until(app.tray_icon, 20, "the tray icon")
    if model == "loaded":
        app.wait_ready(LOAD_S)
    elif model == "loading":
        app.wait_until(lambda: "load: " in app.log(), LOAD_S, "the model to start loading")
    if model == "none":
        app.wait_for("dialog", re.compile("[Cc]hoose the model"))
    if window == "open":
        app.wait_for("frame", "cosydesk")
    else:
        assert app.find("frame", "cosydesk") is None
    if how == "menu":
        app.click(app.wait_for("menu item", "File"))
        app.click(app.wait_for("menu item", "Quit"))
    elif how == "ctrl+q":
        app.focus_window("cosydesk")
        app.key("ctrl+q")
    elif how == "tray":
        app.click_tray(3)
        # Popup menus are not in the accessibility tree (screen readers follow their focus);
        # the menu opens with the keyboard in it: Up wraps to its last item, Quit.
        time.sleep(0.5)
        app.key("Up", "Return")
    else:
        app.signal(signal.SIGTERM)
    asked = time.monotonic()
    assert app.wait_exit(timeout=3) == 0
    note("Quit to process exit, s", time.monotonic() - asked)


def test_a_sound_server_that_dies_mid_speech_is_said_and_the_next_speak_plays(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = ready_app(make_app, ready_settings)
    write_into_editor(app, LONG_TEXT)
    app.speak_and_hear(SPEECH_S)
    pulse.stop()
    try:
        message = app.wait_until(
            lambda: next((t for t in app.texts() if "sound" in t.lower() and "stop" in t), None),
            20,
            "a message about the sound output",
        )
        assert "sound server" in str(message)
        app.key("Return")  # close the message
    finally:
        pulse.start()
    app.wait_until(lambda: app.status() == "Ready", SPEECH_S, "Ready after the failure")
    write_into_editor(app, "Hello again.")
    app.speak_and_hear(SPEECH_S)


# -- control while listening ----------------------------------------------------------------------

# Four sentences of one part each; with the model held to 25 tokens a part, each is heard for
# exactly one second at speed 1 (tests.desktop.fixed_app).
FOUR = " ".join(
    f"Sentence {n} " + " ".join(["goes on"] * 30) + "." for n in ("one", "two", "three", "four")
)


def fixed_app(
    make_app: MakeApp, settings: dict[str, object], chunk_seconds: float = 0
) -> DesktopApp:
    """A Ready app whose model speaks one second a part, FOUR in its editor."""
    app = make_app(settings, voice="Tester")
    app.module = "tests.desktop.fixed_app"
    app.extra_env = {
        "COSYDESK_TEST_PART_TOKENS": "25",
        "COSYDESK_TEST_CHUNK_SECONDS": str(chunk_seconds),
    }
    app.start()
    app.wait_ready(LOAD_S)
    write_into_editor(app, FOUR)
    return app


def heard_speech(app: DesktopApp, recorder, start: int) -> tuple[float, float]:
    """(seconds the app played, seconds heard at the sink) of the speech that ends next."""
    app.wait_until(lambda: ended_speeches(app.log()), SPEECH_S, "the speech to end")
    time.sleep(0.3)  # what the sink still buffers
    return ended_speeches(app.log())[-1][1], recorder.sound_seconds(start)


def assert_heard_as_played(played: float, heard: float) -> None:
    """What the sink heard is what the app played: nothing dropped or left queued was heard.
    Quiet samples of random speech round to silence at the sink, up to 30 ms a part (as in the
    journey that speaks twenty times); FOUR has four parts."""
    assert played - 4 * 0.03 <= heard <= played + 0.01, f"heard {heard:.3f} s of {played:.3f} s"


def test_a_new_speed_is_heard_from_the_next_part(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = fixed_app(make_app, ready_settings)
    recorder = pulse.record()
    try:
        start = recorder.now()
        app.key("ctrl+Return")
        recorder.wait_for_sound(start, timeout=SPEECH_S)
        app.click(app.wait_for("spin box", "Speed"))
        app.key("ctrl+a")
        app.type("2")
        app.key("Return")
        played, heard = heard_speech(app, recorder, start)
    finally:
        recorder.stop()
    # At speed 1 the four parts last 4 s. The part heard when the speed changed plays on
    # whole; the rest comes at twice the speed: 1 + 3 x 0.5 s (2 + 2 x 0.5 s when the change
    # came after the first part).
    assert 2.45 <= played <= 3.05, f"{played:.2f} s played"
    assert_heard_as_played(played, heard)


def test_next_sentence_skips_the_rest_of_the_one_heard(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = fixed_app(make_app, ready_settings)
    recorder = pulse.record()
    try:
        start = recorder.now()
        app.key("ctrl+Return")
        first = recorder.wait_for_sound(start, timeout=SPEECH_S)
        app.key("alt+Right")
        pressed = recorder.now()
        after = recorder.wait_for_sound(pressed, timeout=SPEECH_S)
        note("next sentence to its sound at the sink, s", (after - pressed) / RATE)
        played, heard = heard_speech(app, recorder, start)
    finally:
        recorder.stop()
    assert f"skips to character {FOUR.index('Sentence two')}" in app.log()
    # Sentences two to four whole (3 s), and of sentence one only what played before the key.
    skipped_at = (pressed - first) / RATE
    assert 3.0 <= played < 3.0 + min(skipped_at + 0.2, 0.95), f"{played:.2f} s played"
    assert_heard_as_played(played, heard)


def test_stop_gives_the_controls_back_while_the_model_still_renders(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    # Each chunk takes 3 s more to render, as on a slow card: the runner lets go of the
    # stopped speech only then, and the window must not wait for it.
    app = fixed_app(make_app, ready_settings, chunk_seconds=3.0)
    app.speak_and_hear(SPEECH_S)
    stop = app.wait_for("push button", "Stop")
    app.click(stop)
    clicked = time.monotonic()
    seen: list[str] = []

    def ready() -> bool:
        seen.append(app.status())
        return seen[-1] == "Ready"

    app.wait_until(ready, 10, "Ready after Stop")
    note("Stop to Ready in the status bar, s", time.monotonic() - clicked)
    assert "Working..." not in seen, seen
    assert "enabled" in app.wait_for("push button", "Speak").states


def test_continue_reads_on_after_a_restart_where_the_last_reading_stopped(
    make_app: MakeApp, ready_settings: dict[str, object], pulse: PulseServer
) -> None:
    app = fixed_app(make_app, ready_settings)
    recorder = pulse.record()
    try:
        start = recorder.now()
        app.key("ctrl+Return")
        recorder.wait_for_sound(start, timeout=SPEECH_S)
        for _ in range(2):  # on to sentence three, each skip heard before the next
            app.key("alt+Right")
            recorder.wait_for_sound(recorder.now(), timeout=SPEECH_S)
        app.click(app.wait_for("push button", "Stop"))
    finally:
        recorder.stop()
    app.focus_window("cosydesk")
    app.key("ctrl+q")
    assert app.wait_exit(timeout=10) == 0

    app.start()  # the same settings and data: cosydesk started again
    app.wait_ready(LOAD_S)
    write_into_editor(app, FOUR)
    button = app.wait_for("push button", "Continue")
    assert "enabled" in button.states
    recorder = pulse.record()
    try:
        start = recorder.now()
        app.click(button)
        played, heard = heard_speech(app, recorder, start)
    finally:
        recorder.stop()
    # Sentences three and four, one second each; one and two are not read again.
    assert played == pytest.approx(2.0, abs=0.02), f"{played:.2f} s played"
    assert_heard_as_played(played, heard)
