"""The CosyVoice3 vocoder against upstream's recorded outputs (parity fixtures) and on its own."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged, load_yaml
from cosydesk.engine.model.hift import HiFTConfig, HiFTGenerator
from cosydesk.engine.model.nsf import NsfNoise, SeededNoise


def _load(parity_dir: Path) -> HiFTGenerator:
    model = HiFTGenerator.from_config(load_yaml(parity_dir / "model" / "cosyvoice3.yaml")["hift"])
    state = torch.load(parity_dir / "model" / "hift.pt", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def hift(parity_dir: Path) -> HiFTGenerator:
    return _load(parity_dir)


@pytest.fixture(scope="module")
def golden(parity_dir: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for name in ("hift", "e2e", "e2e_stream"):
        with np.load(parity_dir / "golden" / f"{name}.npz") as data:
            arrays |= {f"{name}.{key}": data[key] for key in data.files}
    return arrays


@pytest.fixture(scope="module")
def recorded_noise(parity_dir: Path) -> NsfNoise:
    with np.load(parity_dir / "golden" / "noise.npz") as data:
        return NsfNoise(
            rand_ini=torch.from_numpy(data["nsf_rand_ini"]),
            sine_noise=torch.from_numpy(data["nsf_sine_noise"]),
        )


def _max_err(ours: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(ours.shape) == ref.shape
    return float(np.abs(ours.detach().float().cpu().numpy() - ref).max())


def assert_close(ours: torch.Tensor, ref: np.ndarray, abs_tol: float) -> None:
    """Max |ours - ref| <= abs_tol * max(1, max |ref|), the fixture README's per-stage rule."""
    scale = max(1.0, float(np.abs(ref).max()))
    assert _max_err(ours, ref) <= abs_tol * scale


def assert_rel(ours: torch.Tensor, ref: np.ndarray, rel_tol: float) -> None:
    err = np.abs(ours.cpu().numpy() - ref) / np.maximum(np.abs(ref), 1e-12)
    assert tuple(ours.shape) == ref.shape and float(err.max()) <= rel_tol


def test_parameter_names_and_shapes_are_the_official_ones(parity_dir: Path) -> None:
    listed = {}
    for line in (parity_dir / "keys.txt").read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "hift.pt":
            listed[parts[1]] = [int(n) for n in parts[2].strip("[]").split(",") if n.strip()]
    model = HiFTGenerator.from_config(load_yaml(parity_dir / "model" / "cosyvoice3.yaml")["hift"])
    ours = {name: list(t.shape) for name, t in model.state_dict().items()}
    assert len(listed) == 328
    assert ours == listed


@pytest.mark.parametrize("mode", ["final", "stream"])
def test_matches_reference_vocoder(
    hift: HiFTGenerator, golden: dict, recorded_noise: NsfNoise, mode: str
) -> None:
    mel = torch.from_numpy(golden["hift.mel"])
    if mode == "stream":
        mel = mel[:, :, : int(golden["hift.stream_mel_frames"])]
    out = hift.run(mel, finalize=mode == "final", noise=recorded_noise)
    assert_rel(out.f0, golden[f"hift.{mode}_f0"], 1e-4)
    assert np.array_equal(out.uv.numpy(), golden[f"hift.{mode}_uv"])
    assert_close(out.source, golden[f"hift.{mode}_source"], 1e-4)
    assert_close(out.speech, golden[f"hift.{mode}_speech"], 1e-4)


def test_end_to_end_mel_gives_reference_audio(
    hift: HiFTGenerator, golden: dict, recorded_noise: NsfNoise
) -> None:
    out = hift.run(torch.from_numpy(golden["e2e.mel"]), finalize=True, noise=recorded_noise)
    assert_rel(out.f0, golden["e2e.f0"], 1e-4)
    assert_close(out.source, golden["e2e.source"], 1e-4)
    assert_close(out.speech, golden["e2e.tts_speech"], 1e-3)


def test_stream_emits_upstream_chunks(
    hift: HiFTGenerator, golden: dict, recorded_noise: NsfNoise
) -> None:
    # As the streaming renderer calls it: each flow call re-renders every token and the mel past
    # the previous call's end is appended; the vocoder re-runs on the accumulated mel and only
    # the samples past those already sent leave.
    mel = torch.zeros(1, 80, 0)
    chunks, sent = [], 0
    for call, finalize in enumerate(golden["e2e_stream.hift_call_finalize"]):
        flow_mel = torch.from_numpy(golden[f"e2e_stream.flow_call{call}_mel"])
        mel = torch.cat([mel, flow_mel[:, :, mel.shape[2] :]], dim=2)
        assert mel.shape[2] == golden["e2e_stream.hift_call_mel_frames"][call]
        speech = hift.inference(mel, finalize=bool(finalize), noise=recorded_noise)
        assert speech.shape[1] == golden["e2e_stream.hift_call_speech_samples"][call]
        chunks.append(speech[:, sent:])
        sent = speech.shape[1]
    assert [c.shape[1] for c in chunks] == golden["e2e_stream.chunk_samples"].tolist()
    assert_close(torch.cat(chunks, dim=1), golden["e2e_stream.tts_speech"], 1e-3)


def test_a_stream_run_needs_more_than_its_lookahead_frames(
    hift: HiFTGenerator, golden: dict
) -> None:
    mel = torch.from_numpy(golden["hift.mel"])
    with pytest.raises(ValueError, match="T >= 9"):
        hift.inference(mel[:, :, :8], finalize=False)
    assert hift.inference(mel[:, :, :10], finalize=False).shape == (1, 2 * 480)


def test_streamed_audio_is_a_prefix_of_the_final_audio(hift: HiFTGenerator, golden: dict) -> None:
    # With the module's own noise: no seam where streamed chunks meet the final render.
    mel = torch.from_numpy(golden["hift.mel"])
    full = hift.inference(mel)
    part = hift.inference(mel[:, :, :100], finalize=False)
    assert part.shape == (1, (100 - 8) * 480)
    assert float((full[:, : part.shape[1]] - part).abs().max()) <= 1e-4


def test_own_noise_is_deterministic_and_leaves_global_rng_alone(
    parity_dir: Path, golden: dict
) -> None:
    mel = torch.from_numpy(golden["hift.mel"][:, :, :40])
    rng = torch.get_rng_state()
    first = _load(parity_dir).inference(mel)
    torch.manual_seed(123)
    second = _load(parity_dir).inference(mel)
    torch.set_rng_state(rng)
    assert torch.equal(first, second)

    noise = SeededNoise(9, block=1000, cached_blocks=2)
    rng = torch.get_rng_state()
    long = noise.harmonic_noise(3500, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), rng)
    assert long.shape == (3500, 9) and float(long.min()) >= 0.0 and float(long.max()) < 1.0
    assert torch.equal(noise.harmonic_noise(1700, torch.device("cpu")), long[:1700])
    assert torch.equal(
        SeededNoise(9, block=1000, cached_blocks=0).harmonic_noise(3500, "cpu"), long
    )
    assert len(noise._cache) == 2  # later blocks are regenerated, not kept


def test_remove_weight_norm_keeps_parity(
    hift: HiFTGenerator, golden: dict, recorded_noise: NsfNoise
) -> None:
    folded = copy.deepcopy(hift)
    folded.remove_weight_norm()
    assert not any("parametrizations" in name for name in folded.state_dict())
    mel = torch.from_numpy(golden["hift.mel"])
    out = folded.run(mel, finalize=True, noise=recorded_noise)
    assert_rel(out.f0, golden["hift.final_f0"], 1e-4)
    assert_close(out.speech, golden["hift.final_speech"], 1e-4)
    stream = folded.run(mel[:, :, :100], finalize=False, noise=recorded_noise)
    assert_close(stream.speech, golden["hift.stream_speech"], 1e-4)
    # The model it was copied from still has (and uses) its weight norm.
    assert "conv_pre.parametrizations.weight.original0" in hift.state_dict()
    assert_close(hift.run(mel, noise=recorded_noise).speech, golden["hift.final_speech"], 1e-4)


def test_bfloat16_vocoder_keeps_f0_precise_and_audio_finite(
    hift: HiFTGenerator, golden: dict, recorded_noise: NsfNoise
) -> None:
    half = copy.deepcopy(hift).to(torch.bfloat16)
    assert half.conv_pre.bias.dtype == torch.bfloat16
    assert {p.dtype for p in half.f0_predictor.parameters()} == {torch.float64}
    mel = torch.from_numpy(golden["hift.mel"])
    out = half.run(mel, finalize=True, noise=recorded_noise)
    assert_rel(out.f0, golden["hift.final_f0"], 1e-4)
    assert out.speech.dtype == torch.float32 and out.speech.shape == (1, mel.shape[2] * 480)
    assert bool(torch.isfinite(out.speech).all()) and float(out.speech.abs().max()) > 0
    streamed = half.inference(mel.bfloat16()[:, :, :100], finalize=False)
    assert bool(torch.isfinite(streamed).all())


def test_loading_into_a_meta_model_keeps_f0_in_float64(parity_dir: Path, golden: dict) -> None:
    with torch.device("meta"):
        model = HiFTGenerator.from_config(
            load_yaml(parity_dir / "model" / "cosyvoice3.yaml")["hift"]
        )
    state = torch.load(parity_dir / "model" / "hift.pt", weights_only=True)
    model.load_state_dict(state, strict=True, assign=True)
    assert {p.dtype for p in model.f0_predictor.parameters()} == {torch.float64}
    out = model.eval().run(torch.from_numpy(golden["hift.mel"]))
    assert_rel(out.f0, golden["hift.final_f0"], 1e-4)


def test_official_config_builds_the_full_size_vocoder(official_yaml: Path) -> None:
    with torch.device("meta"):
        model = HiFTGenerator.from_config(load_yaml(official_yaml)["hift"])
    assert model.config.base_channels == 512 and model.config.f0_cond_channels == 512
    assert 20e6 < sum(p.numel() for p in model.parameters()) < 22e6


def test_other_vocoders_are_refused_in_words() -> None:
    node = Tagged("new", "cosyvoice.hifigan.generator.HiFTGenerator", kwargs={})
    with pytest.raises(ModelFolderError, match="CosyVoice3"):
        HiFTGenerator.from_config(node)
    bad = Tagged(
        "new", "cosyvoice.hifigan.generator.CausalHiFTGenerator", kwargs={"upsample_rates": 8}
    )
    with pytest.raises(ModelFolderError, match="malformed"):
        HiFTGenerator.from_config(bad)


@pytest.mark.gpu
def test_cuda_matches_cpu_and_runs_in_half_precision() -> None:
    config = HiFTConfig(base_channels=64, f0_cond_channels=64)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = HiFTGenerator(config).eval()
        mel = torch.randn(1, 80, 120) - 5.0
        noise = NsfNoise(torch.rand(1, 9), torch.rand(1, 120 * 480, 9))
    reference = model.run(mel, noise=noise)
    gpu = copy.deepcopy(model).cuda()
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # compare float32 with float32
    try:
        out = gpu.run(mel.cuda(), noise=noise)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert_rel(out.f0.cpu(), reference.f0.numpy(), 1e-4)
    assert_close(out.source, reference.source.numpy(), 1e-4)
    assert_close(out.speech, reference.speech.numpy(), 1e-4)
    gpu.remove_weight_norm()
    for dtype in (torch.bfloat16, torch.float16):
        gpu.to(dtype)
        assert {p.dtype for p in gpu.f0_predictor.parameters()} == {torch.float64}
        first = gpu.inference(mel.cuda().to(dtype)[:, :, :60], finalize=False)
        whole = gpu.inference(mel.cuda().to(dtype), finalize=True)
        assert first.shape[1] == (60 - 8) * 480 and whole.shape[1] == 120 * 480
        assert bool(torch.isfinite(first).all()) and bool(torch.isfinite(whole).all())
