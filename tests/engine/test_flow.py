"""The flow stage (speech tokens -> mel) against upstream's recorded outputs, stage by stage."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cosydesk.engine.errors import EngineError, ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged, load_yaml
from cosydesk.engine.model.dit import DiT
from cosydesk.engine.model.flow import CausalCFM, FlowModel, PreLookaheadLayer

MEL_TOL = 1e-3  # README: flow mel after 10 Euler steps, absolute


def stage_tol(ref: np.ndarray) -> float:
    """README: per-stage floats may differ by 1e-4 relative to the larger of 1 and max |ref|."""
    return 1e-4 * max(1.0, float(np.abs(ref).max(initial=0.0)))


def assert_close(name: str, ours: torch.Tensor, ref: np.ndarray, tol: float) -> None:
    got = ours.detach().float().cpu().numpy()
    assert got.shape == ref.shape, f"{name}: shape {got.shape} != {ref.shape}"
    err = float(np.abs(got - ref).max(initial=0.0))
    assert err <= tol, f"{name}: max abs error {err:.3g} > {tol:.3g}"


def as_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


@pytest.fixture(scope="module")
def flow_model(parity_dir: Path) -> FlowModel:
    model = FlowModel.from_config(load_yaml(parity_dir / "model" / "cosyvoice3.yaml")["flow"])
    state = torch.load(parity_dir / "model" / "flow.pt", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def golden(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "golden" / "flow.npz") as data:
        return dict(data)


def run_case(
    model: FlowModel, golden: dict[str, np.ndarray], case: str
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    tokens = as_tensor(golden["token"])
    streaming, finalize = {"offline": (False, True), "chunk": (True, False)}.get(case, (True, True))
    if case == "chunk":
        tokens = tokens[:, : int(golden["stream_chunk_tokens"])]
    trace: dict[str, torch.Tensor] = {}
    mel = model.inference(
        tokens,
        as_tensor(golden["prompt_token"]),
        as_tensor(golden["prompt_feat"]),
        as_tensor(golden["embedding"]),
        streaming=streaming,
        finalize=finalize,
        n_timesteps=int(golden["n_timesteps"]),
        trace=trace,
    )
    return mel, trace


def test_speaker_vector_matches_upstream(flow_model: FlowModel, golden: dict) -> None:
    _, trace = run_case(flow_model, golden, "offline")
    assert_close("spk_normed", trace["spk_normed"], golden["spk_normed"], 1e-4)
    assert_close("spk_proj", trace["spks"], golden["spk_proj"], stage_tol(golden["spk_proj"]))


@pytest.mark.parametrize("case", ["offline", "chunk", "streamfinal"])
def test_every_recorded_stage_matches_upstream(
    flow_model: FlowModel, golden: dict, case: str
) -> None:
    mel, trace = run_case(flow_model, golden, case)
    names = [key.removeprefix(f"{case}_") for key in golden if key.startswith(f"{case}_")]
    assert "mel" in names and "est0_out" in names
    for name in names:
        ref = golden[f"{case}_{name}"]
        if name == "mel":
            assert_close(f"{case}_mel", mel, ref, MEL_TOL)
        else:
            assert_close(f"{case}_{name}", trace[name], ref, stage_tol(ref))


def test_streaming_chunk_is_a_prefix_of_the_final_render(
    flow_model: FlowModel, golden: dict
) -> None:
    # What makes streamed audio seamless: frames already played do not change later.
    chunk, _ = run_case(flow_model, golden, "chunk")
    final, _ = run_case(flow_model, golden, "streamfinal")
    assert chunk.shape[-1] == 2 * (int(golden["stream_chunk_tokens"]) - flow_model.lookahead)
    torch.testing.assert_close(chunk, final[:, :, : chunk.shape[-1]], atol=1e-4, rtol=0)


def test_end_to_end_flow_call_matches_upstream(flow_model: FlowModel, parity_dir: Path) -> None:
    with np.load(parity_dir / "golden" / "e2e.npz") as e2e:
        trace: dict[str, torch.Tensor] = {}
        mel = flow_model.inference(
            as_tensor(e2e["flow_tokens"]),
            as_tensor(e2e["prompt_speech_token"]),
            as_tensor(e2e["prompt_speech_feat"]),
            as_tensor(e2e["embedding"]),
            streaming=False,
            finalize=True,
            trace=trace,
        )
        assert_close("flow_mu", trace["mu"], e2e["flow_mu"], stage_tol(e2e["flow_mu"]))
        assert_close("mel", mel, e2e["mel"], MEL_TOL)


def test_streamed_flow_calls_match_upstream(flow_model: FlowModel, parity_dir: Path) -> None:
    with np.load(parity_dir / "golden" / "e2e.npz") as e2e:
        inputs = {k: as_tensor(e2e[k]) for k in e2e.files}
    with np.load(parity_dir / "golden" / "e2e_stream.npz") as stream:
        calls = zip(
            stream["flow_call_tokens"],
            stream["flow_call_finalize"],
            stream["flow_call_streaming"],
            strict=True,
        )
        for index, (count, finalize, streaming) in enumerate(calls):
            mel = flow_model.inference(
                inputs["flow_tokens"][:, : int(count)],
                inputs["prompt_speech_token"],
                inputs["prompt_speech_feat"],
                inputs["embedding"],
                streaming=bool(streaming),
                finalize=bool(finalize),
            )
            assert mel.shape[-1] == int(stream["flow_call_mel_frames"][index])
            assert_close(f"flow_call{index}_mel", mel, stream[f"flow_call{index}_mel"], MEL_TOL)


def test_default_noise_is_upstreams_buffer_and_leaves_global_rng_alone(
    parity_dir: Path, golden: dict
) -> None:
    model = FlowModel.from_config(load_yaml(parity_dir / "model" / "cosyvoice3.yaml")["flow"])
    before = torch.get_rng_state()
    model.inference(
        as_tensor(golden["token"])[:, :4],
        as_tensor(golden["prompt_token"]),
        as_tensor(golden["prompt_feat"]),
        as_tensor(golden["embedding"]),
        streaming=False,
        finalize=True,
        n_timesteps=1,
    )
    assert torch.equal(torch.get_rng_state(), before)
    with np.load(parity_dir / "golden" / "noise.npz") as noise:
        ref = noise["cfm_noise"]
    ours = model.decoder.noise(ref.shape[-1], torch.device("cpu"))
    assert ours.dtype == torch.float32
    assert np.array_equal(ours.numpy(), ref)


def test_bfloat16_on_cpu_gives_a_usable_mel(flow_model: FlowModel, golden: dict) -> None:
    model = copy.deepcopy(flow_model).to(torch.bfloat16)
    # Rotary frequencies must survive the cast: in bfloat16 long sentences lose their positions.
    rotary = model.decoder.estimator.rotary_embed.inv_freq
    assert rotary.dtype == torch.float32
    assert torch.equal(rotary, flow_model.decoder.estimator.rotary_embed.inv_freq)
    mel, _ = run_case(model, golden, "streamfinal")
    assert mel.dtype == torch.float32
    assert torch.isfinite(mel).all()
    err = (mel - as_tensor(golden["streamfinal_mel"])).abs()
    # bfloat16 keeps ~3 significant digits; measured here: mean 0.005, max 0.03.
    assert err.mean().item() < 0.02 and err.max().item() < 0.25


def test_official_config_builds_the_full_size_layout(official_yaml: Path, parity_dir: Path) -> None:
    with torch.device("meta"):
        full = FlowModel.from_config(load_yaml(official_yaml)["flow"])
    assert len(full.decoder.estimator.transformer_blocks) == 22
    # DESIGN.md: the official flow has 332M parameters.
    assert sum(p.numel() for p in full.parameters()) == 332_257_088

    def layout(keys: object) -> set[str]:
        return {re.sub(r"\.\d+\.", ".N.", key) for key in keys}  # type: ignore[attr-defined]

    tiny = torch.load(parity_dir / "model" / "flow.pt", weights_only=True, mmap=True)
    assert layout(full.state_dict()) == layout(tiny)


def test_a_config_for_another_flow_model_is_refused() -> None:
    node = Tagged("new", "cosyvoice.flow.flow.CausalMaskedDiffWithXvec", kwargs={})
    with pytest.raises(ModelFolderError, match="CosyVoice3"):
        FlowModel.from_config(node)


def test_over_long_input_is_refused_before_any_work(flow_model: FlowModel, golden: dict) -> None:
    tokens = torch.zeros(1, 7500, dtype=torch.long)
    with pytest.raises(EngineError, match="shorter sentences"):
        flow_model.inference(
            tokens,
            as_tensor(golden["prompt_token"]),
            as_tensor(golden["prompt_feat"]),
            as_tensor(golden["embedding"]),
            streaming=True,
            finalize=True,
        )


def test_a_non_final_call_needs_its_lookahead_tokens(flow_model: FlowModel, golden: dict) -> None:
    prompt = [as_tensor(golden[k]) for k in ("prompt_token", "prompt_feat", "embedding")]
    tokens = as_tensor(golden["token"])
    # With only the look-ahead tokens nothing can be rendered yet, as upstream.
    mel = flow_model.inference(tokens[:, :3], *prompt, streaming=True, finalize=False)
    assert mel.shape == (1, 80, 0)
    with pytest.raises(EngineError, match="at least 3 new speech tokens"):
        flow_model.inference(tokens[:, :2], *prompt, streaming=True, finalize=False)


def _random_tiny_flow() -> FlowModel:
    """The parity fixture's shapes with fresh random weights; needs no files."""
    with torch.random.fork_rng():
        torch.manual_seed(7)
        estimator = DiT(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, mu_dim=80, spk_dim=80)
        return FlowModel(
            vocab_size=6561,
            input_size=80,
            output_size=80,
            spk_embed_dim=192,
            token_mel_ratio=2,
            pre_lookahead_layer=PreLookaheadLayer(80, 64, 3),
            decoder=CausalCFM(estimator, cfg_rate=0.7, cosine_schedule=True),
        ).eval()


@pytest.mark.gpu
@pytest.mark.parametrize("streaming", [False, True])
def test_cuda_render_matches_cpu(streaming: bool) -> None:
    model = _random_tiny_flow()
    generator = torch.Generator().manual_seed(3)
    token = torch.randint(0, 6561, (1, 60), generator=generator)
    prompt_token = torch.randint(0, 6561, (1, 40), generator=generator)
    prompt_feat = torch.randn(1, 80, 80, generator=generator).transpose(1, 2)
    embedding = torch.randn(1, 192, generator=generator)
    args = (token, prompt_token, prompt_feat, embedding)
    cpu = model.inference(*args, streaming=streaming, finalize=not streaming)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # TF32 convolutions alone would exceed the tolerance
    try:
        gpu_model = model.to("cuda")
        gpu = gpu_model.inference(*args, streaming=streaming, finalize=not streaming)
        half = gpu_model.to(torch.bfloat16).inference(
            *args, streaming=streaming, finalize=not streaming
        )
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=MEL_TOL, rtol=0)
    assert torch.isfinite(half).all()
    assert (half.cpu() - cpu).abs().mean().item() < 0.05
