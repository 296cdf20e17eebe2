"""The status bar's words for the engine's state, quantisation and GPU memory."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from cosydesk.engine.types import ComponentMemory, EngineStatus
from cosydesk.gui.status_bar import NO_CUDA, StatusBar, memory_text, quantization_text

MIB = 1024**2
GIB = 1024**3


def _gpu_status(**kwargs) -> EngineStatus:
    fields = dict(
        status="ok",
        device="cuda",
        quantization="4bit",
        quantization_requested="4bit",
        components=[
            ComponentMemory("llm", "cuda", 180 * MIB, "nf4"),
            ComponentMemory("flow", "cuda", 1270 * MIB, "fp32"),
            ComponentMemory("vocoder", "cuda", 80 * MIB, "fp32"),
            ComponentMemory("llm_text_embedding", "cpu", 520 * MIB, "fp32"),
        ],
        cuda_allocated=1600 * MIB,
        cuda_reserved=1800 * MIB,
        card_used=int(2.5 * GIB),
        card_total=8 * GIB,
        card_name="NVIDIA GeForce RTX 3070",
    )
    fields.update(kwargs)
    return EngineStatus(**fields)


def test_gpu_memory_shows_what_the_card_has_in_use_then_the_model() -> None:
    """The first figure is the driver's (CUDA context and allocator reserve included), which is
    what a small card runs out of; the model's weights follow in brackets."""
    text, tip = memory_text(_gpu_status())
    assert text == "GPU: 2.5 GiB / 8.0 GiB in use (model 1.5 GiB)"
    assert "NVIDIA GeForce RTX 3070" in tip and "llm: 180 MiB on cuda (nf4)" in tip
    assert "CUDA context" in tip and "kept by this process's allocator: 1.8 GiB" in tip


def test_without_the_card_figures_the_model_share_is_shown() -> None:
    assert memory_text(_gpu_status(card_used=None, card_total=None))[0] == "GPU: model 1.5 GiB"


def test_a_machine_without_cuda_says_so() -> None:
    status = EngineStatus(status="ok", device="cpu", quantization="none")
    assert memory_text(status)[0] == NO_CUDA == "No CUDA GPU - running on CPU"


def test_cpu_by_choice_on_a_gpu_machine_is_not_called_no_cuda() -> None:
    status = _gpu_status(device="cpu", components=[])
    assert memory_text(status)[0] == "Running on CPU (GPU card 2.5 GiB / 8.0 GiB)"


def test_after_unloading_the_card_use_is_still_shown() -> None:
    status = EngineStatus(status="unloaded", card_used=GIB // 2, card_total=8 * GIB)
    assert memory_text(status)[0] == "GPU: model not loaded, card 512 MiB / 8.0 GiB"


def test_quantisation_shows_what_is_in_effect_and_what_was_asked() -> None:
    assert quantization_text(_gpu_status())[0] == "Quantisation: 4-bit NF4"
    fallback = _gpu_status(
        quantization="none",
        quantization_requested="8bit",
        quantization_note="bitsandbytes is not installed: pip install bitsandbytes.",
    )
    text, tip = quantization_text(fallback)
    assert text == "Quantisation: none (asked 8-bit)"
    assert "pip install bitsandbytes" in tip
    assert quantization_text(EngineStatus(status="loading"))[0] == "Quantisation: -"


def test_the_tooltip_says_how_numbers_are_read() -> None:
    _, tip = quantization_text(_gpu_status(text_normalization="wetext 0.1.8"))
    assert "Numbers are read with: wetext 0.1.8" in tip


def test_the_widget_shows_loading_progress_only_while_loading(qtbot: QtBot) -> None:
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.show()
    bar.set_state("loading", "Loading the model: flow.pt (60%)")
    bar.set_load_progress(0.6, "flow.pt")
    assert bar.progress.isVisible() and bar.progress.value() == 60
    assert bar.state_label.text() == "Loading the model: flow.pt (60%)"
    bar.set_state("ready", "Ready")
    bar.set_engine_status(_gpu_status())
    assert not bar.progress.isVisible()
    assert bar.memory_label.text() == "GPU: 2.5 GiB / 8.0 GiB in use (model 1.5 GiB)"
    assert bar.quant_label.text() == "Quantisation: 4-bit NF4"
