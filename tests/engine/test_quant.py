"""Quantisation of the LLM's Qwen2 backbone on the CPU: each mode, the layers it swaps, and the
fallbacks that must show in the status. The engine takes its mode as given; the environment
variables that choose it are read by the settings (tests/test_config.py)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cosydesk.engine.engine import Engine
from cosydesk.engine.errors import ConfigError
from cosydesk.engine.model import quant
from cosydesk.engine.model.sampling import ForcedLengthSampler as Forced
from cosydesk.engine.types import EngineOptions
from cosydesk.engine.voices import Voice
from tests.helpers import write_clip

bnb = pytest.importorskip("bitsandbytes")

MODES = ("none", "8bit", "4bit")
SAMPLES_PER_TOKEN = 2 * 480  # two mel frames of 480 samples at 24 kHz


def _load(model: Path, mode: str) -> Engine:
    return Engine.load(model, EngineOptions(device="cpu", quantization=mode))


@pytest.fixture(scope="module")
def engines(tiny_model: Path) -> Iterator[Callable[[str], Engine]]:
    """Engines of the tiny model on the CPU, one per mode, loaded on first use."""
    loaded: dict[str, Engine] = {}

    def get(mode: str) -> Engine:
        if mode not in loaded:
            loaded[mode] = _load(tiny_model, mode)
        return loaded[mode]

    yield get
    for engine in loaded.values():
        engine.unload()


@pytest.fixture(scope="module")
def voice(engines: Callable[[str], Engine], tmp_path_factory: pytest.TempPathFactory) -> Voice:
    path = write_clip(tmp_path_factory.mktemp("clip") / "voice.wav", 3, freq=140)
    return Voice("test", "Reference words here.", engines("none").prompt_features(path))


def _decoder_linears(engine: Engine) -> list[tuple[str, nn.Module]]:
    layers = engine.llm.llm.model.model.layers
    return [(n, m) for n, m in layers.named_modules() if isinstance(m, nn.Linear)]


# -- each mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_loads_on_the_cpu_and_says_so(engines, mode: str) -> None:
    status = engines(mode).status()
    assert status.status == "ok"
    assert status.device == "cpu"
    assert (status.quantization, status.quantization_requested) == (mode, mode)
    assert (
        status.to_dict()["quantization"] == {"none": "none", "8bit": "8-bit", "4bit": "4-bit"}[mode]
    )


def test_4bit_turns_every_decoder_linear_into_nf4_with_double_quantisation(engines) -> None:
    engine = engines("4bit")
    linears = _decoder_linears(engine)
    assert [n for n, _ in linears] == [n for n, _ in _decoder_linears(engines("none"))]
    for name, layer in linears:
        assert type(layer) is bnb.nn.Linear4bit, name
        assert layer.weight.dtype == torch.uint8, name  # packed 4-bit codes
        state = layer.weight.quant_state
        assert state.quant_type == "nf4", name
        assert state.nested, f"{name}: no double quantisation"
    assert engine.quant.layers == len(linears)
    assert engine.status().precisions["llm"] == "nf4"
    assert engine.status().precisions["llm_compute"] == "bf16"


def test_8bit_turns_every_decoder_linear_into_llm_int8_with_the_default_threshold(
    engines,
) -> None:
    engine = engines("8bit")
    linears = _decoder_linears(engine)
    assert [n for n, _ in linears] == [n for n, _ in _decoder_linears(engines("none"))]
    for name, layer in linears:
        assert type(layer) is bnb.nn.Linear8bitLt, name
        assert layer.weight.dtype == torch.int8, name
        assert layer.state.threshold == 0.0, name  # the fast default (6.0 before)
    assert engine.status().precisions["llm"] == "int8"


def test_none_keeps_plain_fp32_linears(engines) -> None:
    linears = _decoder_linears(engines("none"))
    assert linears
    for name, layer in linears:
        assert type(layer) is nn.Linear, name
        assert layer.weight.dtype == torch.float32, name


@pytest.mark.parametrize(
    ("mode", "dtype"),
    # 4-bit keeps them in its bf16 compute dtype (bf16 has fp32's range); never quantised.
    [("none", torch.float32), ("8bit", torch.float32), ("4bit", torch.bfloat16)],
)
def test_speech_tables_stay_unquantised_and_the_text_table_on_the_cpu(engines, mode, dtype) -> None:
    llm = engines(mode).llm
    assert type(llm.speech_embedding) is nn.Embedding
    assert type(llm.llm_decoder) is nn.Linear
    assert llm.speech_embedding.weight.dtype == dtype
    assert llm.llm_decoder.weight.dtype == dtype
    qwen = llm.llm.model
    table = qwen.model.embed_tokens
    assert type(table) is nn.Embedding
    assert table.weight.device.type == "cpu"
    # The unused LM head still shares the table's storage (no second copy anywhere).
    assert qwen.lm_head.weight is table.weight


@pytest.mark.parametrize("mode", MODES)
def test_synthesis_gives_finite_audio_of_the_forced_length(engines, voice, mode) -> None:
    engine = engines(mode)
    engine.renderer.sampler_factory = lambda: Forced(30)
    audio = np.concatenate(list(engine.synthesize("Hello world.", voice, stream=False)))
    assert audio.dtype == np.float32
    assert audio.shape == (30 * SAMPLES_PER_TOKEN,)
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() > 0


def test_unknown_mode_is_refused_with_the_allowed_ones(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="auto, 4bit, 8bit, none"):
        quant.choose_mode("int4", torch.device("cpu"))
    with pytest.raises(ConfigError, match="'int4'"):
        _load(tiny_model, "int4")


def test_flow_precision_is_checked_and_fp16_stays_off_the_cpu() -> None:
    cpu = torch.device("cpu")
    assert quant.flow_dtype("fp16", cpu) == torch.float32
    assert quant.flow_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="fp32, bf16, fp16"):
        quant.flow_dtype("fp8", cpu)


# -- fallbacks, each visible in the status -------------------------------------------------------


class _BrokenLoader(importlib.abc.Loader):
    """Imports of bitsandbytes fail the way a broken install does: at import time."""

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        raise OSError("libbitsandbytes_cpu.so: cannot open shared object file")


class _BrokenFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "bitsandbytes":
            return importlib.util.spec_from_loader(name, _BrokenLoader())
        return None


@pytest.fixture()
def broken_bitsandbytes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "bitsandbytes" or m.startswith("bitsandbytes.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BrokenFinder(), *sys.meta_path])


def test_broken_bitsandbytes_loads_unquantised_and_says_how_to_install(
    tiny_model: Path, broken_bitsandbytes: None
) -> None:
    engine = _load(tiny_model, "4bit")
    try:
        status = engine.status()
        health = status.to_dict()
        assert health["quantization"] == "none"
        assert health["quantization_requested"] == "4bit"
        assert "bitsandbytes" in status.quantization_note
        assert "pip install" in status.quantization_note
        assert status.warnings  # surfaced, not only logged
        assert all(type(m) is nn.Linear for _, m in _decoder_linears(engine))
    finally:
        engine.unload()


def test_without_cuda_the_note_says_the_llm_is_quantised_on_the_cpu(engines) -> None:
    status = engines("4bit").status()
    assert status.quantization == "4bit"
    assert "CPU" in status.quantization_note
    assert engines("none").status().quantization_note == ""


@pytest.mark.parametrize(
    ("capability", "asked", "expected", "noted"),
    [
        ((7, 0), "8bit", "4bit", True),  # Volta: no int8 tensor cores
        ((6, 1), "4bit", "4bit", False),
        ((7, 5), "8bit", "8bit", False),
        ((8, 6), "8bit", "8bit", False),
    ],
)
def test_a_card_without_the_needed_compute_capability_gets_the_nearest_mode(
    monkeypatch: pytest.MonkeyPatch, capability, asked: str, expected: str, noted: bool
) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    mode, notes = quant.choose_mode(asked, torch.device("cuda"))
    assert mode == expected
    if noted:
        (note,) = notes
        assert f"{capability[0]}.{capability[1]}" in note
        assert "7.5" in note
        assert "4-bit" in note
    else:
        assert notes == []


def test_a_quantisation_failing_half_way_is_undone_and_noted(
    tiny_model: Path,
    engines,
    voice: Voice,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = dict(_decoder_linears(engines("none")))
    real = bnb.nn.Linear4bit
    made = []

    def fail_on_the_third(*args, **kwargs):
        if len(made) == 2:
            raise RuntimeError("no 4-bit kernel for this device")
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(bnb.nn, "Linear4bit", fail_on_the_third)
    engine = _load(tiny_model, "4bit")
    try:
        status = engine.status()
        assert (status.quantization, status.quantization_requested) == ("none", "4bit")
        assert "could not quantise" in status.quantization_note
        assert "no 4-bit kernel" in status.quantization_note
        # Handled: a warning line on the terminal, no traceback (that is for the debug log).
        shown = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("could not quantise" in r.getMessage() for r in shown)
        assert not [r for r in shown if r.exc_info], "a handled fallback printed a traceback"
        restored = dict(_decoder_linears(engine))
        assert restored.keys() == plain.keys()
        for name, layer in restored.items():
            assert type(layer) is nn.Linear, name
            assert torch.equal(layer.weight, plain[name].weight), name
        engine.renderer.sampler_factory = lambda: Forced(10)
        audio = np.concatenate(list(engine.synthesize("Hello.", voice, stream=False)))
        assert audio.shape == (10 * SAMPLES_PER_TOKEN,)
    finally:
        engine.unload()


def test_quantised_layers_that_cannot_run_here_fall_back_at_load_time(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_kernel(*args, **kwargs):
        raise NotImplementedError("matmul_4bit has no kernel for this device")

    monkeypatch.setattr(bnb, "matmul_4bit", no_kernel)
    engine = _load(tiny_model, "4bit")
    try:
        status = engine.status()
        assert status.quantization == "none"
        assert "matmul_4bit has no kernel" in status.quantization_note
    finally:
        engine.unload()


def test_auto_is_4bit_on_a_cuda_gpu_and_none_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch, tiny_model: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))
    assert quant.choose_mode("auto", torch.device("cuda")) == ("4bit", [])
    engine = Engine.load(tiny_model, EngineOptions(device="cpu"))  # auto is the default
    try:
        status = engine.status()
        assert (status.quantization_requested, status.quantization) == ("auto", "none")
        assert status.quantization_note == ""  # a choice, not a fallback to warn about
        assert not any(isinstance(m, bnb.nn.Linear4bit) for m in engine.llm.modules())
    finally:
        engine.unload()


BNB_IMPORT_SCRIPT = """
import sys, torch
from cosydesk.engine.model import quant

bnb, why = quant._import_bnb()
assert bnb is not None, why
assert torch.compile is quant._REAL_COMPILE, "torch.compile was not put back"
print("compiler loaded:", "torch._inductor.compile_fx" in sys.modules)
"""


def test_bitsandbytes_is_imported_without_loading_torchs_compiler() -> None:
    """Importing bitsandbytes prepared torch.compile for a few CPU kernels, which loaded torch's
    whole compiler (1.9 s of 2.1 s here) while the app's window waited; they are compiled when
    first called now. In a fresh interpreter, since an earlier import here would hide it."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", BNB_IMPORT_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "compiler loaded: False" in done.stdout
