"""Playback against a fake sound card (the sounddevice module replaced, nothing else)."""

from __future__ import annotations

import importlib.abc
import sys
import threading

import numpy as np
import pytest

from cosydesk.audio.playback import AudioDeviceError, Player, list_output_devices
from cosydesk.engine.errors import EngineError
from tests.audio.fake_sounddevice import FakeSoundDevice, device


@pytest.fixture
def sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    fake = FakeSoundDevice()
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return fake


class _NoPortAudio(importlib.abc.MetaPathFinder):
    """Makes `import sounddevice` fail the way it does where libportaudio2 is missing."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


@pytest.fixture
def no_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])


class Events:
    def __init__(self, player: Player) -> None:
        self.done = threading.Event()
        self.errors: list[str] = []
        player.on_done = self.done.set
        player.on_error = self.errors.append


def _ramp(start: int, count: int) -> np.ndarray:
    return (np.arange(start, start + count, dtype=np.float32)) / 10000.0


def test_chunks_play_in_order_across_buffers_then_on_done(sd: FakeSoundDevice) -> None:
    player = Player(24000)
    events = Events(player)
    player.start()
    stream = sd.streams[0]
    assert (stream.samplerate, stream.channels, stream.dtype) == (24000, 1, "float32")

    chunks = [_ramp(0, 300), _ramp(300, 50), _ramp(350, 1000)]
    for chunk in chunks:
        player.feed(chunk)
    player.finish()
    heard = stream.drain(256)

    expected = np.concatenate(chunks)
    # The last sample is followed by silence for the device's latency before the stream
    # ends: closing it earlier drops what the device still holds.
    assert heard.size >= expected.size + 0.05 * 24000
    np.testing.assert_array_equal(heard[: expected.size], expected)
    np.testing.assert_array_equal(heard[expected.size :], 0.0)
    assert events.done.wait(5)
    assert stream.closed and not player.is_active
    assert player.position_seconds == pytest.approx(1350 / 24000)
    assert events.errors == []


def test_sound_starts_with_the_first_chunk_while_synthesis_goes_on(sd: FakeSoundDevice) -> None:
    player = Player()
    events = Events(player)
    player.start()
    stream = sd.streams[0]

    player.feed(_ramp(0, 100))
    first = stream.pull(160)
    np.testing.assert_array_equal(first[:100], _ramp(0, 100))
    np.testing.assert_array_equal(first[100:], 0.0)  # waiting for the next chunk: silence
    assert player.is_active and not events.done.is_set()

    player.feed(_ramp(100, 100).reshape(1, -1))  # (1, n) as an engine may give it
    np.testing.assert_array_equal(stream.pull(100), _ramp(100, 100))
    assert player.position_seconds == pytest.approx(200 / 24000)


def test_stop_is_immediate_and_silent(sd: FakeSoundDevice) -> None:
    player = Player()
    events = Events(player)
    player.start()
    stream = sd.streams[0]
    player.feed(np.full(24000, 0.5, dtype=np.float32))
    assert stream.pull(512).max() == 0.5

    player.stop()
    assert stream.aborted and not stream.stopped  # abort drops the card's buffers too
    assert stream.closed and not player.is_active
    late = np.full((512, 1), np.nan, dtype=np.float32)
    stream.callback(late, 512, None, 0)  # a callback racing with the stop
    np.testing.assert_array_equal(late, 0.0)
    player.feed(np.ones(100, dtype=np.float32))
    player.stop()  # twice is harmless
    assert not events.done.is_set() and events.errors == []


def test_pause_plays_silence_and_resume_goes_on_from_the_same_place(
    sd: FakeSoundDevice,
) -> None:
    player = Player()
    player.start()
    stream = sd.streams[0]
    player.feed(_ramp(0, 400))
    np.testing.assert_array_equal(stream.pull(100), _ramp(0, 100))

    player.pause()
    assert player.is_paused
    np.testing.assert_array_equal(stream.pull(200), 0.0)
    assert player.position_seconds == pytest.approx(100 / 24000)
    assert stream.active  # the device stays open: resuming has no start-up delay

    player.resume()
    np.testing.assert_array_equal(stream.pull(100), _ramp(100, 100))


def test_finish_with_nothing_queued_ends_at_once(sd: FakeSoundDevice) -> None:
    player = Player()
    events = Events(player)
    player.start()
    player.finish()
    sd.streams[0].drain(64)
    assert events.done.wait(5)


@pytest.mark.usefixtures("no_portaudio")
def test_missing_portaudio_is_a_sentence_that_says_what_to_install() -> None:
    with pytest.raises(AudioDeviceError) as caught:
        Player().start()
    message = str(caught.value)
    assert "PortAudio" in message and "libportaudio2" in message and "WAV file" in message
    assert isinstance(caught.value, EngineError)
    with pytest.raises(AudioDeviceError, match="libportaudio2"):
        list_output_devices()


def test_no_output_device_at_all(sd: FakeSoundDevice) -> None:
    sd.devices = [device("Microphone", outputs=0, inputs=1)]
    sd.default_output = -1
    with pytest.raises(AudioDeviceError, match=r"No sound output device was found.*WAV file"):
        Player().start()
    assert list_output_devices() == []


def test_chosen_device_that_is_gone_is_a_sentence(sd: FakeSoundDevice) -> None:
    with pytest.raises(AudioDeviceError, match=r"'USB Headset' is not available.*Settings"):
        Player(device="USB Headset").start()
    assert sd.streams == []


def test_chosen_device_by_name_or_part_of_it(sd: FakeSoundDevice) -> None:
    sd.devices.append(device("USB Headset: Audio (hw:2,0)"))
    Player(device="USB Headset: Audio (hw:2,0)").start()
    Player(device="usb headset").start()
    Player(device=1).start()
    assert [stream.device for stream in sd.streams] == [2, 2, 1]


def test_device_that_cannot_be_opened_is_a_sentence(sd: FakeSoundDevice) -> None:
    sd.open_error = "Device unavailable [PaErrorCode -9985]"
    with pytest.raises(AudioDeviceError, match=r"could not be opened.*Device unavailable"):
        Player().start()


def test_output_device_list_has_outputs_only_each_name_once(sd: FakeSoundDevice) -> None:
    sd.devices.append(device("Built-in Speakers", hostapi=1))
    sd.devices.append(device("HDMI 1", hostapi=1))
    assert list_output_devices() == [
        ("Built-in Speakers", "Built-in Speakers (ALSA)"),
        ("HDMI 1", "HDMI 1 (PulseAudio)"),
    ]


def test_truncate_drops_what_is_queued_past_a_sample_and_takes_back_finish(
    sd: FakeSoundDevice,
) -> None:
    player = Player(24000)
    events = Events(player)
    player.start()
    stream = sd.streams[0]
    for start in (0, 300, 600):
        player.feed(_ramp(start, 300))
    player.finish()
    np.testing.assert_array_equal(stream.pull(100), _ramp(0, 100))
    # The listener is at sample 100: keep up to 450, then the rest comes from elsewhere.
    assert player.truncate(450) and player.fed_samples == 450
    player.feed(_ramp(5000, 100))
    player.finish()
    heard = stream.drain(64)
    np.testing.assert_array_equal(heard[:350], _ramp(100, 350))
    np.testing.assert_array_equal(heard[350:450], _ramp(5000, 100))
    np.testing.assert_array_equal(heard[450:], 0.0)
    assert events.done.wait(5)
    assert not player.truncate(0)  # drained: too late, a new player must take over


def test_volume_scales_the_samples_from_the_next_buffer_on(sd: FakeSoundDevice) -> None:
    player = Player(24000)
    player.start()
    stream = sd.streams[0]
    player.feed(np.full(400, 0.5, np.float32))
    np.testing.assert_array_equal(stream.pull(100), 0.5)
    player.volume = 0.5
    np.testing.assert_array_equal(stream.pull(100), 0.25)
    player.volume = 0.0
    np.testing.assert_array_equal(stream.pull(100), 0.0)
    assert player.played_samples == 300  # muted speech goes on: the place moves
    player.stop()
