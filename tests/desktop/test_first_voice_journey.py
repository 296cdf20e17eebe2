"""A first start with no voices, on a real desktop, ends with a recorded voice that speaks.

The microphone is real too: PortAudio records the default source of the test's PulseAudio,
which is the null sink's monitor, while `paplay` plays a voiced-sounding tone into that sink,
as a person would read the sentence aloud."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.desktop.conftest import MakeApp
from tests.desktop.services import PulseServer, require
from tests.helpers import write_clip

pytestmark = pytest.mark.desktop

LOAD_S = 90
SPEECH_S = 60


def _enabled(app, name: str):
    """A showing, enabled push button called `name` (the main window has a Stop of its own)."""
    for node in app.nodes():
        wanted = node.role == "push button" and node.name == name
        if wanted and {"showing", "enabled"} <= set(node.states):
            return node
    return None


def test_a_first_start_ends_with_a_recorded_voice_that_speaks(
    make_app: MakeApp, pulse: PulseServer, tiny_model: Path, tmp_path: Path
) -> None:
    require({"paplay": "pulseaudio-utils"})
    env = {**os.environ, **pulse.env}
    subprocess.run(["pactl", "set-default-source", "s.monitor"], env=env, check=True, timeout=10)
    reading = write_clip(tmp_path / "reading.wav", seconds=12.0, freq=150.0)

    app = make_app()  # no settings, no voices: a first start
    app.start()
    app.wait_for("dialog", re.compile("Choose the model"), timeout=30)
    app.click(app.wait_for("text", "Model folder:"))
    app.type(str(tiny_model))
    app.wait_until(lambda: _enabled(app, "Use this folder"), 10, "the folder to be accepted")
    app.key("Return")

    app.wait_for("dialog", re.compile("Your first voice"))
    app.click(app.wait_for("push button", "Record my voice..."))
    app.wait_for("dialog", re.compile("^Record a voice"))
    speaker = subprocess.Popen(
        ["paplay", "--device=s", str(reading)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app.click(app.wait_until(lambda: _enabled(app, "Record"), 10, "Record"))
        stop = app.wait_until(lambda: _enabled(app, "Stop"), 20, "Stop, after 5 s of recording")
        # Stop is the Record button itself: xdotool's synced move to where the pointer already
        # is waits for a motion that never comes, so leave the spot first.
        app.xdotool("mousemove", "--sync", "1", "1")
        app.click(stop)
    finally:
        speaker.kill()
        speaker.wait()
    app.wait_for("label", re.compile(r"^Recorded \d+\.\d s\."))
    recorder = pulse.record()
    try:
        start = recorder.now()
        app.click(app.wait_until(lambda: _enabled(app, "Listen"), 10, "Listen"))
        recorder.wait_for_sound(start, timeout=10)  # the recording, played back
    finally:
        recorder.stop()
    app.click(app.wait_until(lambda: _enabled(app, "Save voice"), 10, "Save voice"))

    app.wait_for("label", re.compile("The voice 'My voice' is ready"), timeout=LOAD_S)
    voices = app.data / "voices"
    (folder,) = [p for p in voices.iterdir() if not p.name.startswith(".")]
    assert list(folder.glob("features-*.npz")), "the voice was offered before it was complete"
    app.click(app.wait_for("push button", "Finish"))
    app.wait_until(lambda: app.find("combo box", "My voice"), 10, "the voice in the main window")
    app.wait_until(lambda: app.status() == "Ready", LOAD_S, "Ready")

    app.click(app.wait_for("text", "Text to read"))
    app.type("Hello from my own voice.")
    app.speak_and_hear(SPEECH_S)
    assert "Traceback" not in app.stderr()
