"""WAV writing with real files: content, atomic rename, no partial files, no silent overwrite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cosydesk.audio.wavfile import WavExistsError, WavWriter, write_wav


def _tone(seconds: float, sr: int = 24000) -> np.ndarray:
    t = np.arange(int(seconds * sr), dtype=np.float32) / sr
    return (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_chunks_become_one_24khz_mono_pcm16_file(tmp_path: Path) -> None:
    audio = _tone(1.0)
    target = tmp_path / "speech.wav"
    with WavWriter(target) as wav:
        for chunk in np.array_split(audio, 7):
            wav.write(chunk)
            assert not target.exists()  # nothing at the target while writing
        assert wav.seconds_written == pytest.approx(1.0)

    info = soundfile.info(target)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        24000,
        1,
        "PCM_16",
        "WAV",
    )
    data, sr = soundfile.read(target, dtype="float32")
    assert sr == 24000 and data.shape == audio.shape
    assert np.max(np.abs(data - audio)) <= 1.0 / 32767
    assert _files(tmp_path) == ["speech.wav"]


def test_float_subtype_keeps_samples_exactly(tmp_path: Path) -> None:
    audio = _tone(0.2) * 1.7  # beyond full scale: float keeps it
    path = write_wav(tmp_path / "f.wav", audio, 24000, subtype="FLOAT")
    data, _ = soundfile.read(path, dtype="float32")
    assert soundfile.info(path).subtype == "FLOAT"
    np.testing.assert_array_equal(data, audio)


def test_pcm16_clips_loud_samples_instead_of_wrapping(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "loud.wav", np.array([1.5, -1.5, 0.25], dtype=np.float32))
    data, _ = soundfile.read(path, dtype="int16")
    assert data.tolist() == [32767, -32768, 8192]


def test_an_exception_while_writing_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "cancelled.wav"
    with pytest.raises(KeyboardInterrupt), WavWriter(target) as wav:
        wav.write(_tone(0.5))
        assert len(_files(tmp_path)) == 1  # the temp file, beside the target
        raise KeyboardInterrupt
    assert _files(tmp_path) == []


def test_abort_removes_the_temp_file_and_later_calls_do_nothing(tmp_path: Path) -> None:
    target = tmp_path / "aborted.wav"
    wav = WavWriter(target)
    wav.write(_tone(0.1))
    wav.abort()
    wav.abort()
    assert wav.commit() == target
    assert _files(tmp_path) == []


def test_existing_file_is_refused_before_any_work_and_left_intact(tmp_path: Path) -> None:
    target = tmp_path / "keep.wav"
    target.write_bytes(b"precious")
    with pytest.raises(WavExistsError, match="already exists: choose another name") as caught:
        WavWriter(target)
    assert isinstance(caught.value, FileExistsError)
    assert target.read_bytes() == b"precious"
    assert _files(tmp_path) == ["keep.wav"]


def test_overwrite_replaces_the_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "again.wav"
    target.write_bytes(b"old")
    write_wav(target, _tone(0.1), 24000, overwrite=True)
    assert soundfile.info(target).frames == 2400
    assert _files(tmp_path) == ["again.wav"]


def test_file_appearing_during_the_save_is_not_clobbered(tmp_path: Path) -> None:
    target = tmp_path / "race.wav"
    wav = WavWriter(target)
    wav.write(_tone(0.1))
    target.write_bytes(b"someone else's")
    with pytest.raises(WavExistsError):
        wav.commit()
    assert target.read_bytes() == b"someone else's"
    assert _files(tmp_path) == ["race.wav"]


def test_missing_folder_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist: choose another place"):
        WavWriter(tmp_path / "nowhere" / "x.wav")


def test_empty_save_is_a_valid_wav_file(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "empty.wav") as wav:
        pass
    assert soundfile.info(wav.path).frames == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_saved_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_wav(tmp_path / "shared.wav", _tone(0.05))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
