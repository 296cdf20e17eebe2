"""The random model-folder builder: official layout, deterministic, and loadable by our modules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cosydesk.devtools.tinyassets import REGULAR_TOKENS, byte_symbols
from cosydesk.devtools.tinymodel import (
    OFFICIAL,
    TEXT_VOCAB,
    Dims,
    build_tiny_model,
    weight_shapes,
)
from cosydesk.engine.folder.checkpoint import check_state_dict, load_into, load_state_dict
from cosydesk.engine.folder.modelfolder import ModelFolder, open_model_folder

# The sizes of the parity fixture, which upstream's own code wrote.
FIXTURE_DIMS = Dims(56, 112, 2, 4, 2, 64, 64, 2, 2, 32, 2, 32, 32)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=7)


@pytest.fixture(scope="module")
def folder(built: Path) -> ModelFolder:
    return open_model_folder(built, deep=True)


def test_shape_table_matches_the_files_upstream_wrote(parity_dir: Path) -> None:
    for file, specs in weight_shapes(FIXTURE_DIMS).items():
        state = load_state_dict(parity_dir / "model" / file)
        assert [(s.name, s.shape) for s in specs] == [
            (name, tuple(t.shape)) for name, t in state.items()
        ], file


def test_official_dims_have_the_official_parameter_counts() -> None:
    # Upstream at full size: LLM 506M (head tied), flow 332M, vocoder 21M parameters
    # (the rotary table is a stored buffer, not a parameter).
    counts = {
        file: sum(
            math.prod(s.shape)
            for s in specs
            if s.tied_to is None and not s.name.endswith("inv_freq")
        )
        for file, specs in weight_shapes(OFFICIAL).items()
    }
    assert counts == {"llm.pt": 506_148_480, "flow.pt": 332_257_088, "hift.pt": 20_779_887}


def test_folder_is_complete_small_and_valid(built: Path, folder: ModelFolder) -> None:
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    assert size < 40 * 2**20
    assert folder.qwen_config["vocab_size"] == TEXT_VOCAB
    assert folder.qwen_config["tie_word_embeddings"] is True
    for name in ("generation_config.json", "tokenizer_config.json"):
        assert (built / "CosyVoice-BlankEN" / name).is_file()


def test_same_seed_same_bytes_other_seed_other_weights(built: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", seed=7)
    other = build_tiny_model(tmp_path / "other", seed=8)
    for path in sorted(p for p in built.rglob("*") if p.is_file()):
        relative = path.relative_to(built)
        assert (again / relative).read_bytes() == path.read_bytes(), relative
    assert (other / "llm.pt").read_bytes() != (built / "llm.pt").read_bytes()
    assert (other / "campplus.onnx").read_bytes() != (built / "campplus.onnx").read_bytes()


def test_weights_are_float32_with_a_shared_head_and_a_true_rotary_table(built: Path) -> None:
    llm = load_state_dict(built / "llm.pt")
    assert all(t.dtype == torch.float32 for t in llm.values())
    head, embed = llm["llm.model.lm_head.weight"], llm["llm.model.model.embed_tokens.weight"]
    assert head.data_ptr() == embed.data_ptr()
    # Stored once: the file is about one embedding table, not two.
    assert (built / "llm.pt").stat().st_size < 1.5 * embed.numel() * 4

    flow = load_state_dict(built / "flow.pt")
    inv_freq = flow["decoder.estimator.rotary_embed.inv_freq"]
    dim = 2 * inv_freq.numel()
    expected = 1.0 / 10000 ** (torch.arange(0, dim, 2).float() / dim)
    assert torch.allclose(inv_freq, expected)
    hift = load_state_dict(built / "hift.pt")
    gains = [t for n, t in hift.items() if n.endswith("original0")]
    assert all(bool((g > 0).all()) for g in gains)


def test_tokenizer_files_have_qwen2_id_layout(built: Path) -> None:
    blank_en = built / "CosyVoice-BlankEN"
    vocab = json.loads((blank_en / "vocab.json").read_text(encoding="utf-8"))
    assert sorted(vocab.values()) == list(range(REGULAR_TOKENS))
    assert [vocab[s] for s in byte_symbols()] == list(range(256))
    assert (vocab["!"], vocab["Ġ"], vocab["Ā"]) == (0, 220, 188)  # as in Qwen2's own vocab
    merges = (blank_en / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0] == "#version: 0.2"
    pairs = [line.split(" ") for line in merges[1:]]
    assert len(pairs) >= 200
    assert all(a + b in vocab for a, b in pairs)
    config = json.loads((blank_en / "tokenizer_config.json").read_text(encoding="utf-8"))
    specials = {int(k): v["content"] for k, v in config["added_tokens_decoder"].items()}
    assert specials == {151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>"}


def test_tokenizer_encodes_english_in_words_and_round_trips(built: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    blank_en = built / "CosyVoice-BlankEN"
    tokenizer = Tokenizer(
        models.BPE.from_file(str(blank_en / "vocab.json"), str(blank_en / "merges.txt"))
    )
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    text = "Hello world, this is a test. 我今天"
    encoding = tokenizer.encode(text)
    assert encoding.tokens[:4] == ["Hello", "Ġworld", ",", "Ġthis"]
    assert tokenizer.decode(encoding.ids) == text


def test_cosyvoice_specials_start_at_151646(built: Path) -> None:
    tokenizer_module = pytest.importorskip("cosydesk.engine.text.tokenizer")
    tokenizer = tokenizer_module.CosyTokenizer.from_folder(built / "CosyVoice-BlankEN")
    assert tokenizer.endofprompt_id == 151646
    ids = tokenizer.encode("Hi.<|endofprompt|>Hello world.")
    assert 151646 in ids
    assert tokenizer.decode(ids) == "Hi.<|endofprompt|>Hello world."


def test_onnx_stand_ins_keep_the_calling_convention(folder: ModelFolder) -> None:
    import onnxruntime

    rng = np.random.default_rng(0)
    speaker = onnxruntime.InferenceSession(str(folder.campplus), providers=["CPUExecutionProvider"])
    feature = rng.normal(size=(1, 53, 80)).astype(np.float32)
    (embedding,) = speaker.run(None, {speaker.get_inputs()[0].name: feature})
    assert embedding.shape == (1, 192) and embedding.dtype == np.float32
    assert speaker.get_inputs()[0].name == "feature"

    tokens = onnxruntime.InferenceSession(
        str(folder.speech_tokenizer), providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in tokens.get_inputs()] == ["feats", "feats_length"]
    for frames in (37, 40, 41):
        feats = rng.normal(size=(1, 128, frames)).astype(np.float32)
        (indices,) = tokens.run(
            None, {"feats": feats, "feats_length": np.array([frames], np.int32)}
        )
        assert indices.shape == (1, math.ceil(frames / 4)) and indices.dtype == np.int64
        assert indices.min() >= 0 and indices.max() < 6561
    assert len(set(indices.ravel().tolist())) > 1


def _modules(folder: ModelFolder) -> dict[str, torch.nn.Module]:
    try:
        from cosydesk.engine.model.flow import FlowModel
        from cosydesk.engine.model.hift import HiFTGenerator
        from cosydesk.engine.model.llm import CosyVoice3LM
    except ImportError as exc:
        pytest.skip(f"the engine's model modules are not written yet ({exc})")
    return {
        "llm.pt": CosyVoice3LM.from_config(folder.llm_node, folder.qwen_config),
        "flow.pt": FlowModel.from_config(folder.flow_node),
        "hift.pt": HiFTGenerator.from_config(folder.hift_node),
    }


def test_weights_load_into_our_modules(folder: ModelFolder) -> None:
    for file, module in _modules(folder).items():
        path = folder.root / file
        check_state_dict(module, load_state_dict(path), path)
        load_into(module, path)
        first = next(iter(load_state_dict(path).items()))
        assert torch.equal(module.state_dict()[first[0]], first[1]), file
