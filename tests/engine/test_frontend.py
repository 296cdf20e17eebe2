"""Prompt frontend: upstream zero-shot parity on the fixture, clip checks, feature caching."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from cosydesk.engine.errors import VoiceError
from cosydesk.engine.folder.yamlconf import load_yaml
from cosydesk.engine.prompt.frontend import (
    PromptFeatures,
    PromptFrontend,
    check_clip,
    read_prompt_clip,
)


@pytest.fixture(scope="module")
def golden(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "golden" / "frontend.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def frontend(parity_dir: Path) -> PromptFrontend:
    model = parity_dir / "model"
    config = load_yaml(model / "cosyvoice3.yaml")
    return PromptFrontend.from_model_dir(model, config["feat_extractor"], config["sample_rate"])


@pytest.fixture(scope="module")
def features(frontend: PromptFrontend, parity_dir: Path) -> PromptFeatures:
    return frontend.extract(parity_dir / "prompt.wav")


def assert_feature_close(ours: torch.Tensor, ref: np.ndarray) -> None:
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == ref.shape
    error = float(np.abs(ours.numpy().astype(np.float64) - ref).max())
    assert error <= 1e-4 * max(1.0, float(np.abs(ref).max())), error


def voiced(sample_rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    """A buzzy 150 Hz tone with a slow envelope: enough structure to tokenise."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    wave = 0.3 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


# ------------------------------------------------------------------ parity


def test_zero_shot_speech_tokens_match_exactly(features: PromptFeatures, golden) -> None:
    assert features.speech_token.dtype == torch.int64
    for key in ("zs_llm_prompt_speech_token", "zs_flow_prompt_speech_token"):
        np.testing.assert_array_equal(features.speech_token.numpy(), golden[key])
        assert features.speech_token.shape[1] == int(golden[f"{key}_len"][0])


def test_zero_shot_prompt_mel_matches(features: PromptFeatures, golden) -> None:
    assert_feature_close(features.speech_feat, golden["zs_prompt_speech_feat"])
    assert features.speech_feat.shape[1] == int(golden["zs_prompt_speech_feat_len"][0])


def test_zero_shot_embedding_matches(features: PromptFeatures, golden) -> None:
    assert_feature_close(features.embedding, golden["zs_llm_embedding"])
    assert_feature_close(features.embedding, golden["zs_flow_embedding"])


def test_unaligned_stages_match(frontend: PromptFrontend, golden) -> None:
    wav_16k = torch.from_numpy(golden["wav_16k"])
    np.testing.assert_array_equal(
        frontend.speech_tokens(wav_16k).numpy(), golden["speech_token_raw"]
    )
    assert_feature_close(frontend.speaker_embedding(wav_16k), golden["campplus_embedding"])
    assert_feature_close(
        frontend.speech_feat(torch.from_numpy(golden["wav_24k"])), golden["speech_feat_raw"]
    )


def test_alignment_truncates_the_longer_side(features: PromptFeatures, golden) -> None:
    # The fixture clip yields 78 tokens but only 154 frames: tokens are cut to 77.
    assert golden["speech_token_raw"].shape[1] == 78
    assert features.speech_token.shape[1] == 77
    assert features.speech_feat.shape[1] == 2 * features.speech_token.shape[1]


def test_tensor_input_gives_the_same_features(frontend, features, golden) -> None:
    again = frontend.extract(torch.from_numpy(golden["wav_24k"]), sample_rate=24000)
    assert torch.equal(again.speech_token, features.speech_token)
    assert torch.equal(again.speech_feat, features.speech_feat)
    assert torch.equal(again.embedding, features.embedding)


# ------------------------------------------------------------------ other clips


def test_stereo_44k1_clip_is_usable(frontend: PromptFrontend, tmp_path: Path) -> None:
    path = tmp_path / "voice.wav"
    soundfile.write(path, voiced(44100, 2.0, channels=2), 44100)
    result = frontend.extract(path)
    n = result.speech_token.shape[1]
    # 2 s: 100 mel frames at 24 kHz, 50 tokens at 25 Hz.
    assert n == 50
    assert result.speech_feat.shape == (1, 2 * n, 80)
    assert result.embedding.shape == (1, 192)
    assert bool(torch.isfinite(result.speech_feat).all())


def test_too_long_clip_is_refused(frontend: PromptFrontend, tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    soundfile.write(path, voiced(16000, 31.0), 16000)
    with pytest.raises(VoiceError, match=r"speech\.wav lasts 31\.0 s.*at most 30 s"):
        frontend.extract(path)


def test_thirty_seconds_is_still_accepted(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    soundfile.write(path, voiced(16000, 30.0), 16000)
    wav, rate = read_prompt_clip(path)
    assert (wav.shape[1], rate) == (480000, 16000)


def test_empty_file_is_refused(frontend: PromptFrontend, tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros((0, 1), dtype=np.float32), 24000)
    with pytest.raises(VoiceError, match="holds no sound"):
        frontend.extract(path)


def test_not_audio_file_is_refused(frontend: PromptFrontend, tmp_path: Path) -> None:
    path = tmp_path / "transcript.wav"
    path.write_text("Reference words here.\n" * 40)
    with pytest.raises(VoiceError, match="could not be read as audio"):
        frontend.extract(path)


def test_silent_clip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros((48000, 1), dtype=np.float32), 24000)
    with pytest.raises(VoiceError, match=r"silence\.wav is silent"):
        read_prompt_clip(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_clip_with_nan_or_infinite_samples_is_refused(tmp_path: Path, bad: float) -> None:
    wav = voiced(24000, 2.0)
    wav[1000:1010] = bad  # a few broken samples in a real recording
    path = tmp_path / "broken.wav"
    soundfile.write(path, wav, 24000, subtype="FLOAT")
    with pytest.raises(VoiceError) as caught:
        read_prompt_clip(path)
    assert str(caught.value) == (
        "The voice clip broken.wav holds invalid samples (NaN or infinity), not sound: export "
        "it again as a plain WAV or FLAC recording."
    )


def test_very_short_and_low_rate_clips_are_refused() -> None:
    with pytest.raises(VoiceError, match="too short"):
        check_clip(torch.from_numpy(voiced(24000, 0.2)).T, 24000)
    with pytest.raises(VoiceError, match="at least 16000 Hz"):
        check_clip(torch.from_numpy(voiced(8000, 3.0)).T, 8000)


# ------------------------------------------------------------------ caching


def test_features_survive_a_save_and_load(features: PromptFeatures, tmp_path: Path) -> None:
    path = tmp_path / "voices" / "anna.npz"
    features.save(path)
    loaded = PromptFeatures.load(path)
    assert loaded.speech_token.dtype == torch.int64
    assert torch.equal(loaded.speech_token, features.speech_token)
    assert torch.equal(loaded.speech_feat, features.speech_feat)
    assert torch.equal(loaded.embedding, features.embedding)
    assert sorted(p.name for p in path.parent.iterdir()) == ["anna.npz"]


def test_damaged_feature_file_is_a_voice_error(features: PromptFeatures, tmp_path: Path) -> None:
    path = tmp_path / "anna.npz"
    features.save(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(VoiceError, match=r"damaged.*add the voice again"):
        PromptFeatures.load(path)


def test_inconsistent_feature_file_is_a_voice_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.npz"
    np.savez(
        path,
        format_version=np.array(1),
        speech_token=np.zeros((1, 5), dtype=np.int64),
        speech_feat=np.zeros((1, 7, 80), dtype=np.float32),
        embedding=np.zeros((1, 192), dtype=np.float32),
    )
    with pytest.raises(VoiceError, match="damaged"):
        PromptFeatures.load(path)


def test_feature_file_of_another_kind_is_a_voice_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(VoiceError, match="damaged"):
        PromptFeatures.load(path)
    with pytest.raises(VoiceError, match="missing"):
        PromptFeatures.load(tmp_path / "gone.npz")


# A child process reads the clip with its address space capped at what it has once warm plus
# this much: reading the whole file, as before, needs gigabytes for these clips and fails there
# instead of taking the machine.
READ_BUDGET_MB = 512
_READ_PROBE = r"""
import resource, sys
import soundfile, torch  # loaded before the cap: what is measured is the reading
from cosydesk.engine.prompt.frontend import read_prompt_clip
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:"))
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
resource.setrlimit(resource.RLIMIT_AS, (vm * 1024 + (int(sys.argv[2]) << 20), hard))
try:
    read_prompt_clip(sys.argv[1])
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def _sparse_wav(path: Path, rate: int, channels: int, data_bytes: int) -> Path:
    """A 16-bit WAV whose samples are a hole in the file: zeros, taking no disk space."""
    import struct

    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
    head = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + struct.pack("<I", 16)
    path.write_bytes(head + fmt + b"data" + struct.pack("<I", data_bytes))
    os.truncate(path, 44 + data_bytes)
    return path


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's /proc")
@pytest.mark.parametrize(
    ("rate", "channels", "data_bytes", "said"),
    [
        # Hours of silence in a file of 44 bytes on disk (a FLAC of silence is as small).
        (16000, 1, 2**32 - 64, "lasts 134217.7 s; voice clips may last at most 30 s"),
        # 30 s of 64 channels: 737 MB of float32 samples before they were mixed down.
        (96000, 64, 30 * 96000 * 64 * 2, "is silent"),
    ],
)
def test_a_clip_is_read_in_bounded_memory_whatever_its_length_and_channels(
    tmp_path: Path, rate: int, channels: int, data_bytes: int, said: str
) -> None:
    import subprocess
    import sys

    clip = _sparse_wav(tmp_path / "clip.wav", rate, channels, data_bytes)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _READ_PROBE, str(clip), str(READ_BUDGET_MB)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"VoiceError The voice clip clip.wav {said}"), done.stdout
