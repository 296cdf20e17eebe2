"""GPU behaviour of the whole engine: live switching, memory accounting, CUDA-graph paths.

Marked `gpu`: skipped without CUDA. Run them on a CUDA machine with `pytest -m gpu`.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cosydesk.engine.engine import Engine  # noqa: E402
from cosydesk.engine.model.sampling import ForcedLengthSampler, GreedySampler  # noqa: E402
from cosydesk.engine.types import EngineOptions  # noqa: E402
from cosydesk.engine.voices import Voice  # noqa: E402
from tests.helpers import write_clip  # noqa: E402

pytestmark = pytest.mark.gpu

TEXT = "Hello world, this is a test of the graphs."


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    return str(write_clip(tmp_path_factory.mktemp("clip") / "voice.wav", 3, freq=140))


def _voice(engine: Engine, clip: str) -> Voice:
    return Voice("t", "A short test clip.", engine.prompt_features(clip))


def _allocated() -> int:
    torch.cuda.synchronize()
    return torch.cuda.memory_allocated()


def test_switching_modes_returns_memory_to_baseline(tiny_model, clip) -> None:
    """unload() gives the card back by itself: Python's garbage collector is off all along, so
    a reference cycle that holds CUDA memory (decode graph <-> LLM once did) fails here."""
    import gc

    torch.cuda.empty_cache()
    baseline = _allocated()
    held = {}
    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            for mode in ("none", "8bit", "4bit", "none"):
                engine = Engine.load(tiny_model, EngineOptions(device="cuda", quantization=mode))
                status = engine.status()
                assert status.quantization == mode
                held[mode] = sum(c.bytes for c in status.components if c.device == "cuda")
                chunks = list(engine.synthesize(TEXT, _voice(engine, clip), stream=True))
                assert np.isfinite(np.concatenate(chunks)).all()
                engine.unload()
                # Within 1 MiB of where we started: nothing of the model stays on the card.
                assert _allocated() - baseline < 2**20, _cycles_holding_cuda()
                del engine
    finally:
        gc.enable()
    assert held["4bit"] < held["none"]
    assert held["8bit"] < held["none"]


def _cycles_holding_cuda() -> str:
    """What a collection finds now: the kinds of objects in cycles, to name a leak."""
    import collections
    import gc

    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        kinds = collections.Counter(type(o).__name__ for o in gc.garbage)
        on_card = sum(
            1 for o in gc.garbage if isinstance(o, torch.Tensor) and o.device.type == "cuda"
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return f"{on_card} CUDA tensors in cycles; kinds: {kinds.most_common(12)}"


def test_status_reports_gpu_memory(tiny_model) -> None:
    engine = Engine.load(tiny_model, EngineOptions(device="cuda", quantization="4bit"))
    try:
        status = engine.status()
        names = {c.name: c for c in status.components}
        assert names["llm"].device == "cuda" and names["llm"].bytes > 0
        assert names["flow"].bytes > 0 and names["vocoder"].bytes > 0
        assert status.card_total and status.card_used and status.card_used <= status.card_total
        assert status.cuda_allocated and status.cuda_allocated >= sum(
            c.bytes for c in status.components if c.device == "cuda"
        )
        assert status.to_dict()["quantization"] == "4-bit"
    finally:
        engine.unload()


@pytest.mark.parametrize("mode", ["none", "4bit"])
def test_graph_decode_matches_eager_decode(tiny_model, clip, mode) -> None:
    """Greedy tokens through the captured step equal the eager step's (fp32: exactly)."""
    engine = Engine.load(tiny_model, EngineOptions(device="cuda", quantization=mode))
    try:
        voice = _voice(engine, clip)
        engine.renderer.sampler_factory = GreedySampler
        engine.llm.use_cuda_graph = False
        engine.llm.reuse_prompt_state = False  # both runs prefill the same rows
        seg = engine.segment_input(TEXT, voice)
        eager = list(engine.renderer.tokens(seg, None))
        engine.llm.use_cuda_graph = True
        graphed = list(engine.renderer.tokens(seg, None))
        assert engine.llm.decode_path == "cuda-graph"
        if mode == "none":
            assert graphed == eager
        else:
            # bf16 activations: the same kernels run, so ids still agree almost everywhere.
            same = sum(a == b for a, b in zip(graphed, eager, strict=False))
            assert same >= 0.9 * min(len(graphed), len(eager))
    finally:
        engine.unload()


def test_graphed_flow_matches_eager_flow(tiny_model, clip) -> None:
    engine = Engine.load(tiny_model, EngineOptions(device="cuda", quantization="none"))
    try:
        voice = _voice(engine, clip)
        size = engine.llm.speech_token_size
        engine.renderer.sampler_factory = lambda: ForcedLengthSampler(80, size)
        engine.llm.reuse_prompt_state = False  # the same tokens both times, bit for bit
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        graphed = np.concatenate(list(engine.synthesize(TEXT, voice, stream=True)))
        assert engine.flow.graphed.graphs, "streaming shapes were captured"
        engine.flow.graphed = None
        eager = np.concatenate(list(engine.synthesize(TEXT, voice, stream=True)))
        assert graphed.shape == eager.shape
        assert np.abs(graphed - eager).max() < 1e-3
    finally:
        engine.unload()


@pytest.mark.parametrize("mode", ["4bit", "8bit"])
def test_the_quantisation_cache_serves_the_card(tiny_model, clip, tmp_path, mode) -> None:
    """A second load on the card takes the quantised layers from the cache and decodes the same
    greedy tokens as the load that quantised them."""
    cache = tmp_path / "cache"
    tokens = []
    for expected in ("stored", "reused"):
        options = EngineOptions(device="cuda", quantization=mode, quant_cache_dir=str(cache))
        engine = Engine.load(tiny_model, options)
        try:
            assert (engine.quant.mode, engine.quant.cache) == (mode, expected)
            engine.renderer.sampler_factory = GreedySampler
            seg = engine.segment_input(TEXT, _voice(engine, clip))
            tokens.append(list(engine.renderer.tokens(seg, None)))
            assert engine.llm.decode_path == "cuda-graph"
        finally:
            engine.unload()
    assert tokens[0] == tokens[1] and tokens[0]


def test_a_final_shape_is_recorded_only_when_it_comes_again(tiny_model, clip) -> None:
    """The last chunk of a part has a length that follows the text: recording its graph costs
    more than solving it, so it is solved eagerly at first and recorded on its second time."""
    engine = Engine.load(tiny_model, EngineOptions(device="cuda", quantization="none"))
    try:
        voice = _voice(engine, clip)
        size = engine.llm.speech_token_size
        engine.renderer.sampler_factory = lambda: ForcedLengthSampler(37, size)
        engine.llm.reuse_prompt_state = False  # the same tokens both times, bit for bit
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        solver = engine.flow.graphed

        def finals() -> int:
            return sum(1 for key in solver.graphs if not key[-1])

        first = np.concatenate(list(engine.synthesize(TEXT, voice, stream=False)))
        assert finals() == 0
        second = np.concatenate(list(engine.synthesize(TEXT, voice, stream=False)))
        assert finals() == 1
        assert np.abs(first - second).max() < 1e-3
    finally:
        engine.unload()


def test_the_prompt_state_is_reused_on_the_card(tiny_model, clip) -> None:
    """On a GPU the voice prompt's keys and values are computed for the first part only; later
    parts prefill what follows them and decode (nearly) the same greedy tokens."""
    engine = Engine.load(tiny_model, EngineOptions(device="cuda", quantization="none"))
    try:
        voice = _voice(engine, clip)
        engine.renderer.sampler_factory = GreedySampler
        seg = engine.segment_input(TEXT, voice)
        engine.llm.reuse_prompt_state = False
        full = list(engine.renderer.tokens(seg, None))
        engine.llm.reuse_prompt_state = None  # the default: on, on a GPU
        first = list(engine.renderer.tokens(seg, None))
        assert engine.llm._prompt_state is not None
        reused = list(engine.renderer.tokens(seg, None))
        assert first == full
        same = sum(a == b for a, b in zip(reused, full, strict=False))
        assert same >= 0.9 * min(len(reused), len(full))
    finally:
        engine.unload()
