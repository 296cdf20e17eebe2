"""Audio reading and feature extraction: parity with upstream's features, and file handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from cosydesk.engine.errors import VoiceError
from cosydesk.engine.prompt import audio_features as af

MEL_24K = {
    "n_fft": 1920,
    "num_mels": 80,
    "sampling_rate": 24000,
    "hop_size": 480,
    "win_size": 1920,
    "fmin": 0,
    "fmax": None,
    "center": False,
}


@pytest.fixture(scope="module")
def golden(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "golden" / "frontend.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def assert_feature_close(ours: torch.Tensor | np.ndarray, ref: np.ndarray) -> None:
    """README tolerance for frontend features: abs 1e-4 relative to the reference's max."""
    ours = np.asarray(ours)
    assert ours.shape == ref.shape
    error = float(np.abs(ours.astype(np.float64) - ref).max())
    assert error <= 1e-4 * float(np.abs(ref).max()), error


def tone(freq: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(wav: torch.Tensor, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wav.reshape(-1).numpy()))
    return float(np.argmax(spectrum) * sample_rate / wav.shape[-1])


# ------------------------------------------------------------------ parity


def test_prompt_is_read_as_upstream_reads_it(parity_dir: Path, golden) -> None:
    wav, rate = af.read_audio(parity_dir / "prompt.wav")
    assert rate == 24000
    assert wav.dtype == torch.float32
    assert_feature_close(wav, golden["wav_24k"])
    assert_feature_close(af.load_audio(parity_dir / "prompt.wav", 24000), golden["wav_24k"])


def test_resampling_matches_torchaudio_default(parity_dir: Path, golden) -> None:
    assert_feature_close(af.load_audio(parity_dir / "prompt.wav", 16000), golden["wav_16k"])
    assert_feature_close(
        af.resample(torch.from_numpy(golden["wav_24k"]), 24000, 16000), golden["wav_16k"]
    )


def test_kaldi_fbank_matches(golden) -> None:
    fbank = af.kaldi_fbank(torch.from_numpy(golden["wav_16k"]), sample_rate=16000, num_mel_bins=80)
    assert_feature_close(fbank, golden["fbank"])
    centred = (fbank - fbank.mean(dim=0, keepdim=True)).unsqueeze(0)
    assert_feature_close(centred, golden["campplus_input"])


def test_whisper_log_mel_matches(golden) -> None:
    logmel = af.whisper_log_mel(torch.from_numpy(golden["wav_16k"]), n_mels=128)
    assert_feature_close(logmel, golden["whisper_logmel"])
    assert logmel.shape[2] == int(golden["whisper_logmel_len"][0])


def test_mel_filter_banks_match_librosa_slaney(golden) -> None:
    assert_feature_close(af.slaney_mel_filters(16000, 400, 128), golden["whisper_mel_filters"])
    assert_feature_close(
        af.slaney_mel_filters(24000, 1920, 80, 0, None), golden["matcha_mel_basis"]
    )


def test_24k_mel_matches_with_yaml_kwargs(parity_dir: Path, golden) -> None:
    from cosydesk.engine.folder.yamlconf import load_yaml

    params = load_yaml(parity_dir / "model" / "cosyvoice3.yaml")["feat_extractor"].kwargs
    mel = af.mel_spectrogram(torch.from_numpy(golden["wav_24k"]), **params)
    assert mel.shape == (1, 80, golden["wav_24k"].shape[1] // 480)
    assert_feature_close(mel.transpose(1, 2), golden["speech_feat_raw"])


# ------------------------------------------------------------------ behaviour


def test_stereo_file_is_downmixed_to_the_channel_mean(tmp_path: Path) -> None:
    left = tone(440.0, 24000, 1.0, 0.6)
    right = tone(660.0, 24000, 1.0, 0.2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 24000, subtype="FLOAT")
    wav = af.load_audio(path, 24000)
    assert wav.shape == (1, 24000)
    np.testing.assert_allclose(wav[0].numpy(), (left + right) / 2, atol=1e-7)


def test_44k1_file_is_resampled_keeping_pitch_and_level(tmp_path: Path) -> None:
    path = tmp_path / "cd.flac"
    soundfile.write(path, tone(1000.0, 44100, 2.0, 0.5), 44100)
    wav = af.load_audio(path, 16000)
    assert wav.shape == (1, 32000)
    assert dominant_frequency(wav, 16000) == pytest.approx(1000.0, abs=1.0)
    # Away from the edges a pass-band tone keeps its amplitude.
    assert float(wav[0, 1000:-1000].abs().max()) == pytest.approx(0.5, abs=5e-3)


def test_tone_above_the_new_nyquist_is_removed() -> None:
    wav = torch.from_numpy(tone(12000.0, 44100, 1.0, 0.5)).unsqueeze(0)
    out = af.resample(wav, 44100, 16000)
    # 12 kHz would alias to 4 kHz; the anti-aliasing filter takes it down by over 50 dB.
    assert float(out[0, 500:-500].abs().max()) < 0.5 * 10 ** (-50 / 20)


def test_resample_length_and_identity() -> None:
    wav = torch.from_numpy(tone(300.0, 22050, 0.5)).unsqueeze(0)
    assert af.resample(wav, 22050, 22050) is wav
    assert af.resample(wav, 22050, 24000).shape == (1, -(-wav.shape[1] * 24000 // 22050))


def test_upsampling_keeps_pitch() -> None:
    wav = torch.from_numpy(tone(500.0, 16000, 1.0)).unsqueeze(0)
    out = af.resample(wav, 16000, 24000)
    assert out.shape == (1, 24000)
    assert dominant_frequency(out, 24000) == pytest.approx(500.0, abs=1.0)


# Run in a child process whose address space may grow by only ADDRESS_BUDGET_MB once torch is
# warm: the old resampler asked for one 2.8 GB (22,051 Hz) or 5.6 GB (44,101 Hz) temporary and
# fails at once there, instead of taking the whole machine as it did for a user.
ADDRESS_BUDGET_MB = 64
_BOUNDED_PROBE = r"""
import json, math, resource, sys
import torch
torch.set_num_threads(1)
from cosydesk.engine.prompt import audio_features as af
af.resample(torch.zeros(1, 4410), 44100, 16000)  # thread pools exist before the cap
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:"))
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
resource.setrlimit(resource.RLIMIT_AS, (vm * 1024 + (int(sys.argv[1]) << 20), hard))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
found = {}
for rate in (22051, 44101):
    for target in (16000, 24000):
        t = torch.arange(3 * rate, dtype=torch.float64) / rate
        out = af.resample((0.5 * torch.sin(2 * math.pi * 1000.0 * t)).float()[None], rate, target)
        n = torch.arange(out.shape[-1], dtype=torch.float64)
        ideal = 0.5 * torch.sin(2 * math.pi * 1000.0 * n / target)
        spectrum = torch.fft.rfft(out[0].double()).abs()
        found[f"{rate}->{target}"] = {
            "samples": out.shape[-1],
            "peak_hz": float(spectrum.argmax()) * target / out.shape[-1],
            "error": float((out[0, 500:-500] - ideal[500:-500]).abs().max()),
        }
growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"cases": found, "growth_mb": growth_mb}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's /proc")
def test_clips_at_coprime_rates_resample_in_bounded_memory_keeping_pitch() -> None:
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _BOUNDED_PROBE, str(ADDRESS_BUDGET_MB)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    for case, found in report["cases"].items():
        target = int(case.split("->")[1])
        assert found["samples"] == 3 * target, case
        assert found["peak_hz"] == pytest.approx(1000.0, abs=0.5), case
        assert found["error"] < 1e-3, case  # the same tone, sample for sample
    # The resampling itself (inputs and outputs of ~0.5 MB included) stays within a few MB.
    assert report["growth_mb"] < 32


@pytest.mark.parametrize(("orig_sr", "new_sr"), [(24000, 16000), (44100, 16000), (16000, 24000)])
def test_blockwise_filter_equals_the_polyphase_convolution(orig_sr: int, new_sr: int) -> None:
    # Co-prime rates take the block-wise path; on rates both paths serve it gives the same result.
    wav = torch.randn(2, orig_sr, generator=torch.Generator().manual_seed(5))
    common = np.gcd(orig_sr, new_sr)
    blocks = af._resample_blocks(wav.unsqueeze(1), orig_sr // common, new_sr // common)
    torch.testing.assert_close(blocks, af.resample(wav, orig_sr, new_sr), rtol=0, atol=2e-6)


def test_fbank_frame_count_and_short_input() -> None:
    wav = torch.from_numpy(tone(200.0, 16000, 1.0)).unsqueeze(0)
    assert af.kaldi_fbank(wav).shape == (1 + (16000 - 400) // 160, 80)
    assert af.kaldi_fbank(wav[:, :399]).shape == (0, 80)


def test_filter_banks_are_cached() -> None:
    first = af.slaney_mel_filters(24000, 1920, 80)
    wav = torch.from_numpy(tone(200.0, 24000, 0.5)).unsqueeze(0)
    af.mel_spectrogram(wav, **MEL_24K)
    before = af._slaney_filters_np.cache_info().hits, af._host_hann.cache_info().hits
    af.mel_spectrogram(wav, **MEL_24K)
    after = af._slaney_filters_np.cache_info().hits, af._host_hann.cache_info().hits
    assert after == (before[0] + 1, before[1] + 1)
    assert torch.equal(first, af.slaney_mel_filters(24000, 1920, 80))


def test_the_caches_keep_nothing_on_the_device_they_served() -> None:
    """A GPU copy of a filter bank or window stays only as long as its caller holds it: the
    caches once kept them per device, on the card after the model was unloaded. The meta
    device stands in for a GPU here."""
    import gc
    import weakref

    served = [
        af._cached_filters(24000, 1920, 80, 0.0, None, "meta"),
        af._hann(1920, "meta"),
    ]
    assert all(t.device.type == "meta" for t in served)
    refs = [weakref.ref(t) for t in served]
    del served
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_missing_file_is_a_voice_error(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="does not exist"):
        af.load_audio(tmp_path / "nowhere.wav", 16000)


def test_text_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 50)
    with pytest.raises(VoiceError, match=r"could not be read as audio.*WAV"):
        af.load_audio(path, 16000)


def test_zero_byte_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(VoiceError, match="could not be read as audio"):
        af.load_audio(path, 16000)


def test_wav_without_samples_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(VoiceError, match="holds no sound"):
        af.load_audio(path, 16000)


def test_resampling_no_samples_gives_no_samples() -> None:
    for rate in (16000, 22051, 44100):
        assert af.resample(torch.zeros(2, 0), rate, 24000).shape == (2, 0)
