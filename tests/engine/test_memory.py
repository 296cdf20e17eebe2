"""Engine status and memory accounting on the CPU: the seed's /health fields, what was asked
for and what is in effect, precision of each part, and the bytes each component holds."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from cosydesk.engine import memory
from cosydesk.engine.engine import Engine
from cosydesk.engine.errors import EngineError
from cosydesk.engine.types import ComponentMemory, EngineOptions, EngineStatus
from cosydesk.engine.voices import Voice
from tests.helpers import write_clip

TEXT_VOCAB = 151936
ONNX_FILES = ("campplus.onnx", "speech_tokenizer_v3.onnx")


@pytest.fixture(scope="module")
def engines(tiny_model: Path) -> Iterator[Callable[[str], Engine]]:
    loaded: dict[str, Engine] = {}

    def get(mode: str) -> Engine:
        if mode not in loaded:
            loaded[mode] = Engine.load(tiny_model, EngineOptions(device="cpu", quantization=mode))
        return loaded[mode]

    yield get
    for engine in loaded.values():
        engine.unload()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "voice.wav", 2, freq=150, tremolo=False)


def _components(status: EngineStatus) -> dict[str, ComponentMemory]:
    return {c.name: c for c in status.components}


def _checkpoint_bytes(path: Path) -> int:
    """Bytes of the distinct storages in a state dict file (tied tensors count once)."""
    state = torch.load(path, weights_only=True)
    storages = {
        t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in state.values()
    }
    return sum(storages.values())


@pytest.mark.parametrize(
    ("mode", "label"), [("none", "none"), ("8bit", "8-bit"), ("4bit", "4-bit")]
)
def test_status_answers_what_the_seeds_health_endpoint_did(engines, mode: str, label: str) -> None:
    health = engines(mode).status().to_dict()
    assert {k: health[k] for k in ("status", "model", "backend", "quantization")} == {
        "status": "ok",
        "model": "cosyvoice3",
        "backend": "pytorch",
        "quantization": label,
    }
    assert health["quantization_mode"] == mode
    assert health["quantization_requested"] == mode
    json.dumps(health, allow_nan=False)  # what a server returns as is


def test_status_names_the_model_folder_device_and_decode_path(engines, tiny_model: Path) -> None:
    status = engines("none").status()
    assert Path(status.model_dir) == tiny_model
    assert status.device == "cpu"
    assert status.decode_path.startswith("eager")  # no CUDA graphs on the CPU
    assert status.card_total is None and status.cuda_allocated is None  # no card to report


@pytest.mark.parametrize(
    ("mode", "llm", "compute"),
    [("none", "fp32", "fp32"), ("8bit", "int8", "fp32"), ("4bit", "nf4", "bf16")],
)
def test_status_gives_the_precision_of_each_part(engines, mode, llm, compute) -> None:
    assert engines(mode).status().precisions == {
        "llm": llm,
        "llm_compute": compute,
        "flow": "fp32",
        "vocoder": "fp32",
    }


def test_component_bytes_match_the_weights_loaded(engines, tiny_model: Path) -> None:
    engine = engines("none")
    parts = _components(engine.status())
    assert set(parts) >= {"llm", "llm_text_embedding", "flow", "vocoder", "frontend"}
    hidden = engine.llm.llm.model.config.hidden_size
    table = parts["llm_text_embedding"]
    assert (table.device, table.bytes) == ("cpu", TEXT_VOCAB * hidden * 4)
    # Everything llm.pt holds, plus at most the few computed rotary buffers.
    llm_total = parts["llm"].bytes + table.bytes
    assert 0 <= llm_total - _checkpoint_bytes(tiny_model / "llm.pt") <= 1024
    assert parts["flow"].bytes == pytest.approx(_checkpoint_bytes(tiny_model / "flow.pt"), abs=1024)
    vocoder = _checkpoint_bytes(tiny_model / "hift.pt")
    assert 0.8 * vocoder <= parts["vocoder"].bytes <= 1.3 * vocoder
    for part in ("llm", "flow", "vocoder"):
        assert parts[part].device == "cpu"


def test_4bit_llm_holds_far_fewer_bytes_than_full_precision(engines) -> None:
    full = _components(engines("none").status())
    four = _components(engines("4bit").status())
    eight = _components(engines("8bit").status())
    layers = engines("none").llm.llm.model.model.layers
    trunk = sum(m.weight.numel() for m in layers.modules() if isinstance(m, nn.Linear))
    # fp32 trunk weights take 4 bytes each; nf4 a half, int8 one (plus small statistics).
    assert full["llm"].bytes - four["llm"].bytes >= 3.0 * trunk
    assert full["llm"].bytes - eight["llm"].bytes >= 2.5 * trunk
    assert four["llm_text_embedding"].bytes == full["llm_text_embedding"].bytes


def test_frontend_bytes_count_the_onnx_models_once_loaded(engines, clip: Path) -> None:
    engine = engines("none")  # no other test of this module adds a voice to it
    assert _components(engine.status())["frontend"].bytes == 0  # loaded with the first voice
    Voice("v", "Words.", engine.prompt_features(clip))
    onnx = sum((engine.folder.root / name).stat().st_size for name in ONNX_FILES)
    assert _components(engine.status())["frontend"].bytes == onnx > 0


def test_after_unload_the_status_says_unloaded_and_speaking_is_refused(
    tiny_model: Path, clip: Path
) -> None:
    engine = Engine.load(tiny_model, EngineOptions(device="cpu", quantization="none"))
    voice = Voice("v", "Words.", engine.prompt_features(clip))
    engine.unload()
    status = engine.status()
    assert status.status == "unloaded"
    assert status.components == []
    assert status.to_dict()["status"] == "unloaded"
    with pytest.raises(EngineError, match="not loaded"):
        next(iter(engine.synthesize("Hello.", voice)))


def test_module_bytes_counts_tied_weights_once_and_can_leave_a_part_out() -> None:
    embed = nn.Embedding(100, 8)
    head = nn.Linear(8, 100, bias=False)
    head.weight = embed.weight
    model = nn.ModuleDict({"embed": embed, "head": head, "extra": nn.Linear(8, 2)})
    extra = (8 * 2 + 2) * 4
    assert memory.module_bytes(model) == {"cpu": 100 * 8 * 4 + extra}
    assert memory.module_bytes(model, exclude=embed) == {"cpu": extra}
    assert memory.module_bytes(None) == {}


def test_to_dict_is_a_copy() -> None:
    status = EngineStatus(status="ok", precisions={"llm": "fp32"}, warnings=["a"])
    data = status.to_dict()
    data["precisions"]["llm"] = "changed"
    data["warnings"].append("b")
    assert status.precisions == {"llm": "fp32"}
    assert status.warnings == ["a"]
