"""The CosyVoice3 LM against upstream's goldens: prefix layout, cached decoding, greedy runs."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cosydesk.engine.errors import Cancelled, EngineError, ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged, load_yaml
from cosydesk.engine.model.llm import CosyVoice3LM, decode_length_limits
from cosydesk.engine.model.sampling import GreedySampler

S = 6561  # speech_token_size of every CosyVoice3 model


def _node(parity_dir: Path) -> Tagged:
    return load_yaml(parity_dir / "model" / "cosyvoice3.yaml")["llm"]


def _qwen_config(parity_dir: Path) -> dict[str, Any]:
    return json.loads((parity_dir / "model" / "CosyVoice-BlankEN" / "config.json").read_text())


def _state_dict(parity_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(parity_dir / "model" / "llm.pt", weights_only=True)


@pytest.fixture(scope="module")
def golden(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "golden" / "llm.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def lm(parity_dir: Path) -> CosyVoice3LM:
    model = CosyVoice3LM.from_config(
        _node(parity_dir), _qwen_config(parity_dir), init_weights=False
    )
    model.load_state_dict(_state_dict(parity_dir), strict=True)
    return model


def _ids(golden: dict[str, np.ndarray], key: str) -> torch.Tensor:
    return torch.from_numpy(golden[key]).reshape(1, -1)


def _prefix(lm: CosyVoice3LM, golden: dict[str, np.ndarray]) -> torch.Tensor:
    return lm.build_prefix(
        _ids(golden, "text"), _ids(golden, "prompt_text"), _ids(golden, "prompt_speech_token")
    )


class RecordingGreedy(GreedySampler):
    """Greedy, keeping every score vector it was given and every id it chose."""

    def __init__(self) -> None:
        self.scores: list[torch.Tensor] = []
        self.picks: list[int] = []

    def __call__(self, logp: torch.Tensor, decoded: Any) -> int:
        self.scores.append(logp.clone())
        self.picks.append(super().__call__(logp, decoded))
        return self.picks[-1]


def test_parameters_carry_the_official_names_and_shapes(parity_dir: Path) -> None:
    model = CosyVoice3LM.from_config(_node(parity_dir), _qwen_config(parity_dir))
    official = _state_dict(parity_dir)
    ours = model.state_dict()
    assert sorted(ours) == sorted(official)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in official.items()
    }
    model.load_state_dict(official, strict=True)
    assert model.qwen.lm_head.weight is model.qwen.model.embed_tokens.weight
    assert model.llm_decoder.bias is None


def test_fast_construction_ties_the_text_head(lm: CosyVoice3LM) -> None:
    assert lm.qwen.lm_head.weight is lm.qwen.model.embed_tokens.weight
    assert lm.qwen.model.rotary_emb.inv_freq.device.type == "cpu"


def test_speech_vocabulary_markers(lm: CosyVoice3LM, golden: dict[str, np.ndarray]) -> None:
    assert [lm.sos, lm.eos, lm.task_id, lm.fill] == golden["special_ids"].tolist()
    assert lm.vocab_size == S + 200


def test_prefix_matches_upstream_layout(lm: CosyVoice3LM, golden: dict[str, np.ndarray]) -> None:
    prefix = _prefix(lm, golden)
    assert torch.equal(prefix, torch.from_numpy(golden["lm_input"]))
    # The same rows, looked up by hand from the tables the golden names.
    tables = (lm.speech_embedding.weight, lm.qwen.model.embed_tokens.weight)
    rows = [
        tables[t][i] for i, t in zip(golden["lm_input_ids"], golden["lm_input_table"], strict=True)
    ]
    assert torch.equal(prefix[0], torch.stack(rows))
    n_prompt, n_text = golden["prompt_text"].shape[1], golden["text"].shape[1]
    n_speech = golden["prompt_speech_token"].shape[1]
    assert golden["lm_input_segments"].tolist() == [1, n_prompt, n_text, 1, n_speech]


def test_teacher_forcing_through_the_static_cache_matches_upstream(
    lm: CosyVoice3LM, golden: dict[str, np.ndarray]
) -> None:
    logp, hidden = lm.teacher_force(_prefix(lm, golden), torch.from_numpy(golden["tf_target"]))
    ref_logp = torch.from_numpy(golden["tf_logprobs"])
    ref_hidden = torch.from_numpy(golden["tf_hidden"])
    assert logp.shape == ref_logp.shape and hidden.shape == ref_hidden.shape
    assert (logp - ref_logp).abs().max() <= 1e-4
    assert (hidden - ref_hidden).abs().max() <= 1e-4 * max(1.0, ref_hidden.abs().max().item())


def test_merged_projections_keep_upstream_parity(
    parity_dir: Path, golden: dict[str, np.ndarray]
) -> None:
    """The engine merges q/k/v and gate/up for speed; log-probs and greedy ids must not move."""
    merged = CosyVoice3LM.from_config(_node(parity_dir), _qwen_config(parity_dir))
    merged.load_state_dict(_state_dict(parity_dir), strict=True)
    merged.fuse_projections()
    layer = merged.qwen.model.layers[0]
    assert hasattr(layer.self_attn, "qkv_proj") and not hasattr(layer.self_attn, "q_proj")
    logp, _ = merged.teacher_force(_prefix(merged, golden), torch.from_numpy(golden["tf_target"]))
    assert (logp - torch.from_numpy(golden["tf_logprobs"])).abs().max() <= 1e-4
    ids = list(
        merged.generate(
            _ids(golden, "greedyA_text"),
            _ids(golden, "prompt_text"),
            _ids(golden, "prompt_speech_token"),
            sampler=GreedySampler(),
        )
    )
    assert ids == golden["greedyA_ids"].tolist()


def test_static_cache_agrees_with_a_full_sequence_pass(
    lm: CosyVoice3LM, golden: dict[str, np.ndarray]
) -> None:
    prefix = _prefix(lm, golden)
    targets = torch.from_numpy(golden["tf_target"])
    _, hidden = lm.teacher_force(prefix, targets)
    with torch.inference_mode():
        whole = torch.cat([prefix, lm.speech_embedding(targets)[None]], dim=1)
        full = lm.qwen.model(inputs_embeds=whole).last_hidden_state[0, prefix.shape[1] - 1 :]
    assert (hidden - full).abs().max() <= 1e-5


@pytest.mark.parametrize("case", ["A", "B", "C"])
def test_greedy_decoding_matches_upstream(
    lm: CosyVoice3LM, golden: dict[str, np.ndarray], case: str
) -> None:
    text = _ids(golden, f"greedy{case}_text")
    min_len, max_len = decode_length_limits(text.shape[1], 2, 20)
    assert (min_len, max_len) == (golden[f"greedy{case}_min_len"], golden[f"greedy{case}_max_len"])

    sampler = RecordingGreedy()
    tokens = list(
        lm.generate(
            text, _ids(golden, "prompt_text"), _ids(golden, "prompt_speech_token"), sampler=sampler
        )
    )
    assert tokens == golden[f"greedy{case}_ids"].tolist()
    stop_id = int(golden[f"greedy{case}_stop_id"])
    if stop_id < 0:
        assert len(tokens) == max_len and sampler.picks == tokens
    else:
        assert sampler.picks == [*tokens, stop_id]

    scores = torch.stack(sampler.scores)
    top_scores, top_ids = scores.topk(5, dim=-1)
    assert top_ids.tolist() == golden[f"greedy{case}_top5_ids"].tolist()
    ref_scores = torch.from_numpy(golden[f"greedy{case}_top5_scores"])
    assert (top_scores - ref_scores).abs().max() <= 1e-4
    # Only sos is barred, and only before min_len; the real stop ids never are.
    barred = torch.isinf(scores[:, S]).tolist()
    assert barred == [step < min_len for step in range(len(scores))]
    assert torch.isfinite(scores[:, S + 1 :]).all()


def test_a_short_request_after_a_long_one_is_unaffected(
    parity_dir: Path, golden: dict[str, np.ndarray]
) -> None:
    model = CosyVoice3LM.from_config(
        _node(parity_dir), _qwen_config(parity_dir), init_weights=False
    )
    model.load_state_dict(_state_dict(parity_dir), strict=True)
    prompt = (_ids(golden, "prompt_text"), _ids(golden, "prompt_speech_token"))
    model.reserve(1500)  # a larger cache than the requests need, with stale slots beyond them
    long = list(model.generate(_ids(golden, "greedyC_text"), *prompt, sampler=GreedySampler()))
    short = list(model.generate(_ids(golden, "greedyB_text"), *prompt, sampler=GreedySampler()))
    assert long == golden["greedyC_ids"].tolist()
    assert short == golden["greedyB_ids"].tolist()


def test_the_prompt_state_is_computed_once_and_serves_later_texts(
    parity_dir: Path, golden: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long text is spoken in parts that share the voice's prompt: its keys and values are
    computed for the first part only, and every part still decodes upstream's tokens."""
    model = CosyVoice3LM.from_config(
        _node(parity_dir), _qwen_config(parity_dir), init_weights=False
    )
    model.load_state_dict(_state_dict(parity_dir), strict=True)
    model.reuse_prompt_state = True  # on by default on a GPU only
    prompt = (_ids(golden, "prompt_text"), _ids(golden, "prompt_speech_token"))
    shared = 1 + prompt[0].shape[1]  # sos and the prompt text
    lengths: list[int] = []
    trunk = model._trunk

    def counting(x, positions, kv_len):
        lengths.append(x.shape[1])
        return trunk(x, positions, kv_len)

    monkeypatch.setattr(model, "_trunk", counting)
    for case in ("C", "A", "B"):
        text = _ids(golden, f"greedy{case}_text")
        lengths.clear()
        tokens = list(model.generate(text, *prompt, sampler=GreedySampler()))
        assert tokens == golden[f"greedy{case}_ids"].tolist()
        full = _prefix(model, golden).shape[1] - _ids(golden, "text").shape[1] + text.shape[1]
        assert lengths[0] == (full if case == "C" else full - shared)


def test_length_limits_truncate_like_upstream() -> None:
    assert decode_length_limits(9, 2, 20) == (18, 180)
    # 10 * 2.3 is 22.999... in float64 but rounds to 23 in upstream's float32 arithmetic.
    assert decode_length_limits(10, 2.3, 20) == (23, 200)
    assert decode_length_limits(0, 2, 20) == (0, 0)


def test_text_without_endofprompt_is_refused(
    lm: CosyVoice3LM, golden: dict[str, np.ndarray]
) -> None:
    prompt_text = _ids(golden, "prompt_text")
    prompt_text = prompt_text[prompt_text != 151646].reshape(1, -1)
    with pytest.raises(EngineError, match="<\\|endofprompt\\|>"):
        lm.generate(
            _ids(golden, "text"),
            prompt_text,
            _ids(golden, "prompt_speech_token"),
            sampler=GreedySampler(),
        )


def test_foreign_voice_tokens_are_refused(lm: CosyVoice3LM, golden: dict[str, np.ndarray]) -> None:
    with pytest.raises(EngineError, match="speech tokens outside"):
        lm.generate(
            _ids(golden, "text"),
            _ids(golden, "prompt_text"),
            torch.tensor([[5, S + 2]]),
            sampler=GreedySampler(),
        )


def test_cancel_stops_between_tokens(lm: CosyVoice3LM, golden: dict[str, np.ndarray]) -> None:
    cancel = threading.Event()
    tokens = lm.generate(
        _ids(golden, "text"),
        _ids(golden, "prompt_text"),
        _ids(golden, "prompt_speech_token"),
        sampler=GreedySampler(),
        cancel=cancel,
    )
    received = [next(tokens) for _ in range(3)]
    cancel.set()
    with pytest.raises(Cancelled):
        next(tokens)
    assert received == golden["greedyA_ids"][:3].tolist()


def test_bfloat16_decoding_on_cpu_gives_sound_logprobs(
    lm: CosyVoice3LM, golden: dict[str, np.ndarray]
) -> None:
    model = copy.deepcopy(lm).to(torch.bfloat16)
    logp, _ = model.teacher_force(_prefix(model, golden), torch.from_numpy(golden["tf_target"]))
    assert model.compute_dtype == torch.bfloat16
    assert logp.dtype == torch.float32 and torch.isfinite(logp).all()
    assert torch.allclose(logp.exp().sum(-1), torch.ones(len(logp)), atol=1e-4)
    assert (logp - torch.from_numpy(golden["tf_logprobs"])).abs().mean() < 0.1


def test_official_yaml_needs_a_matching_qwen_config(official_yaml: Path, parity_dir: Path) -> None:
    node = load_yaml(official_yaml)["llm"]
    with pytest.raises(ModelFolderError, match="896"):
        CosyVoice3LM.from_config(node, _qwen_config(parity_dir))
    config = {**_qwen_config(parity_dir), "hidden_size": 896, "intermediate_size": 64}
    config.update(num_hidden_layers=1, num_attention_heads=14, vocab_size=1000)
    model = CosyVoice3LM.from_config(node, config, init_weights=False)
    assert model.speech_embedding.weight.shape == (S + 200, 896)
    assert model.head_dim == 64


def _random_lm() -> CosyVoice3LM:
    """A small random model of the official layout, for checks that need no goldens."""
    torch.manual_seed(0)
    node = Tagged(
        "new",
        "cosyvoice.llm.llm.CosyVoice3LM",
        kwargs={"llm_input_size": 64, "llm_output_size": 64, "speech_token_size": S},
    )
    config = {
        "model_type": "qwen2",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 152000,
        "rope_theta": 1e6,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
    }
    return CosyVoice3LM.from_config(node, config)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_step_replays_in_a_cuda_graph(dtype: torch.dtype) -> None:
    model = _random_lm().to("cuda", dtype)
    prefix = torch.randn(1, 30, 64, device="cuda")
    targets = torch.randint(0, S, (16,), device="cuda")
    eager, _ = model.teacher_force(prefix, targets)

    token = torch.zeros(1, 1, dtype=torch.long, device="cuda")
    position = torch.tensor([prefix.shape[1]], device="cuda")
    model.prefill(prefix)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        model.step(token, position)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):  # capture fails if the step reads anything back to the host
        out = model.step(token, position)

    rows = [model.prefill(prefix)]
    for k in range(len(targets)):
        token.copy_(targets[k].view(1, 1))
        position.fill_(prefix.shape[1] + k)
        graph.replay()
        rows.append(out.clone())
    replayed = torch.cat(rows)
    assert torch.isfinite(replayed).all()
    assert (replayed - eager).abs().max() <= (1e-4 if dtype == torch.float32 else 2e-2)
