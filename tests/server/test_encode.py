"""Audio formats: the streamed WAV header, 16-bit samples, whole-file encodings."""

from __future__ import annotations

import io
import subprocess
import sys
import wave

import numpy as np
import pytest
import soundfile

from cosydesk.server.encode import FORMATS, encode_whole, streamed_wav_header, to_s16le


def test_streamed_wav_header_plus_samples_is_a_readable_file():
    samples = np.sin(np.arange(2400) / 7).astype(np.float32) * 0.5
    data = streamed_wav_header(24000) + to_s16le(samples[:1000]) + to_s16le(samples[1000:])
    assert len(streamed_wav_header(24000)) == 44
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        frames = np.frombuffer(w.readframes(10**9), dtype="<i2")
    assert len(frames) == 2400
    read, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == 24000 and np.abs(read - samples).max() < 1e-4


def test_s16le_clips_and_rounds():
    out = np.frombuffer(to_s16le(np.array([0.0, 1.0, -1.0, 2.0, -3.0, 0.5], np.float32)), "<i2")
    assert out.tolist() == [0, 32767, -32767, 32767, -32767, 16384]


@pytest.mark.parametrize("name", ["flac", "mp3", "opus"])
def test_whole_file_formats_decode_to_the_same_sound(name):
    t = np.arange(24000) / 24000
    samples = (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    data = encode_whole(samples, 24000, FORMATS[name])
    read, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == 24000
    assert abs(len(read) - len(samples)) < 2400
    if name == "flac":
        assert np.abs(read - samples).max() < 1e-4
    else:  # lossy: the loudness survives
        assert np.sqrt(np.mean(read**2)) == pytest.approx(0.4 / np.sqrt(2), rel=0.2)


def test_an_empty_utterance_still_encodes():
    data = encode_whole(np.zeros(0, np.float32), 24000, FORMATS["flac"])
    assert soundfile.info(io.BytesIO(data)).samplerate == 24000


BROKEN = np.array([0.5, np.nan, np.inf, -np.inf] * 6000, dtype=np.float32)


@pytest.mark.parametrize("name", ["flac", "opus"])
def test_nan_and_infinite_samples_encode_as_silence_and_full_scale(name):
    # A broken voice can make such audio; the FLAC writer used to refuse it.
    audio, rate = soundfile.read(io.BytesIO(encode_whole(BROKEN, 24000, FORMATS[name])))
    assert rate == 24000 and np.isfinite(audio).all() and np.abs(audio).max() > 0.4
    pcm = np.frombuffer(to_s16le(BROKEN[:4]), dtype="<i2")
    assert pcm.tolist() == [16384, 0, 32767, -32767]


def test_nan_samples_as_mp3_do_not_abort_the_process():
    # LAME asserts on NaN and aborts the whole process (the server with it): run it apart.
    code = (
        "import numpy as np\n"
        "from cosydesk.server.encode import FORMATS, encode_whole\n"
        "data = encode_whole(np.full(24000, np.nan, np.float32), 24000, FORMATS['mp3'])\n"
        "assert len(data) > 100\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
