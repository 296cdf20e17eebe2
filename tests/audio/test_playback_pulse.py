"""The player against a real sound server: PortAudio (through ALSA's pulse plugin) playing
into a PulseAudio null sink whose monitor is recorded. PortAudio calls back from its own
thread as soon as a stream starts, which a fake sound device never does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest

from cosydesk.audio.playback import AudioDeviceError, Player
from tests.desktop.services import RATE, PulseServer, pulse_server, require

pytestmark = pytest.mark.desktop


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        yield server


def _sounddevice() -> ModuleType:
    try:
        import sounddevice
    except OSError:
        require({"libportaudio2": "libportaudio2"})  # there is no such program: skips or fails
        raise
    return sounddevice


@pytest.fixture
def sd(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The real sounddevice, its device list read while this test's server runs."""
    for name, value in pulse.env.items():
        monkeypatch.setenv(name, value)
    module = _sounddevice()
    module._terminate()
    module._initialize()
    return module


class Outcome:
    """What a player reported: done, or an error sentence."""

    def __init__(self, player: Player) -> None:
        self.event = threading.Event()
        self.error: str | None = None
        self.done = False
        player.on_done = self._done
        player.on_error = self._error

    def _done(self) -> None:
        self.done = True
        self.event.set()

    def _error(self, message: str) -> None:
        self.error = message
        self.event.set()


def tone(seconds: float, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_twenty_utterances_in_a_row_are_each_heard_whole(
    sd: ModuleType, pulse: PulseServer
) -> None:
    recorder = pulse.record()
    try:
        heard = []
        for _ in range(20):
            start = recorder.now()
            player = Player(RATE)
            outcome = Outcome(player)
            player.start()
            player.feed(tone(0.25))
            player.feed(tone(0.25, 660.0))
            player.finish()
            assert outcome.event.wait(10), "the player never said it was done"
            assert outcome.done, outcome.error
            recorder.wait_for_sound(start, timeout=5)
            # Let the sink's buffer play out before measuring what was heard.
            end = recorder.now() + RATE // 2
            while recorder.now() < end:
                threading.Event().wait(0.02)
            heard.append(recorder.sound_seconds(start))
    finally:
        recorder.stop()
    # Every tone whole, its last 10 ms included (closing the stream early lost ~30 ms).
    assert all(abs(seconds - 0.5) <= 0.01 for seconds in heard), heard


def test_a_sound_server_that_dies_mid_speech_is_an_error_not_the_end(
    sd: ModuleType, pulse: PulseServer
) -> None:
    player = Player(RATE)
    outcome = Outcome(player)
    player.start()
    player.feed(tone(5.0))
    player.finish()
    threading.Event().wait(0.5)
    pulse.stop()
    try:
        assert outcome.event.wait(10), "a dead sound server went unnoticed"
        assert not outcome.done
        assert outcome.error is not None and "sound server" in outcome.error
    finally:
        player.stop()
        pulse.start()


def test_a_sound_server_started_after_the_app_is_found_at_the_next_speak(
    sd: ModuleType, pulse: PulseServer
) -> None:
    pulse.stop()
    try:
        sd._terminate()
        sd._initialize()  # as at an app start with no sound server running
        with pytest.raises(AudioDeviceError, match="No sound output device"):
            Player(RATE).start()
    finally:
        pulse.start()
    recorder = pulse.record()
    try:
        start = recorder.now()
        player = Player(RATE)
        outcome = Outcome(player)
        player.start()  # no restart of the app: the device list is read again
        player.feed(tone(0.3))
        player.finish()
        assert outcome.event.wait(10) and outcome.done, outcome.error
        recorder.wait_for_sound(start, timeout=5)
    finally:
        recorder.stop()
