"""The Engine facade on the CPU: loading (progress, cancelling, bad folders), prompt features,
the checks `synthesize` makes before speaking, warm-up and unloading."""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from cosydesk.engine.engine import Engine
from cosydesk.engine.errors import Cancelled, EngineError, ModelFolderError, VoiceError
from cosydesk.engine.model.sampling import RasSampler
from cosydesk.engine.types import EngineOptions
from cosydesk.engine.voices import Voice
from tests.helpers import write_clip

SR = 24000


@pytest.fixture(scope="module")
def loaded(tiny_model: Path) -> Iterator[tuple[Engine, list[tuple[float, str]]]]:
    """An engine of the tiny model, with the progress reports its loading made."""
    reports: list[tuple[float, str]] = []
    engine = Engine.load(
        tiny_model,
        EngineOptions(device="cpu", quantization="none"),
        progress=lambda f, m: reports.append((f, m)),
    )
    yield engine, reports
    engine.unload()


@pytest.fixture(scope="module")
def engine(cpu_engine: Engine) -> Engine:
    return cpu_engine


def _clip(folder: Path, seconds: float, amplitude: float = 0.3, rate: int = SR) -> Path:
    path = folder / f"clip-{seconds}-{amplitude}-{rate}.wav"
    return write_clip(path, seconds, freq=140, amplitude=amplitude, rate=rate)


@pytest.fixture(scope="module")
def voice(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Voice:
    clip = _clip(tmp_path_factory.mktemp("clip"), 2.0)
    return Voice("test", "Reference words here.", engine.prompt_features(clip))


# -- loading ------------------------------------------------------------------------------------


def test_loading_reports_progress_from_zero_to_ready(loaded) -> None:
    engine, reports = loaded
    fractions = [f for f, _ in reports]
    assert fractions[0] == 0.0
    assert reports[-1] == (1.0, "Ready")
    assert fractions == sorted(fractions)
    assert all(message and message[0].isupper() for _, message in reports)
    assert engine.status().status == "ok"
    assert engine.sample_rate == SR


def test_loading_fills_the_models_from_their_files_without_random_weights_first(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Random weights that the checkpoint overwrites at once took 12 s of the official LLM's
    # load and 2.6 s of the flow's on a CPU. Only the LM's small speech layers are still drawn.
    from torch.nn import init

    drawn: list[int] = []

    def counting(draw):
        def spy(tensor: torch.Tensor, *args, **kwargs):
            if not tensor.is_meta:
                drawn.append(tensor.numel())
            return draw(tensor, *args, **kwargs)

        return spy

    for name in ("kaiming_uniform_", "uniform_", "normal_", "trunc_normal_", "xavier_uniform_"):
        monkeypatch.setattr(init, name, counting(getattr(init, name)))
    engine = Engine.load(tiny_model, EngineOptions(device="cpu", quantization="none"))
    try:
        speech_layers = [engine.llm.speech_embedding, engine.llm.llm_decoder]
        allowed = sum(p.numel() for layer in speech_layers for p in layer.parameters())
        assert 0 < sum(drawn) <= allowed
    finally:
        engine.unload()


def test_loading_can_be_cancelled_between_steps(tiny_model: Path) -> None:
    cancel = threading.Event()
    reports: list[str] = []

    def progress(fraction: float, message: str) -> None:
        reports.append(message)
        if "llm.pt" in message:
            cancel.set()

    with pytest.raises(Cancelled):
        Engine.load(tiny_model, EngineOptions(device="cpu"), progress=progress, cancel=cancel)
    assert not any("flow" in message for message in reports)


def test_a_folder_without_the_model_gives_a_sentence_naming_what_is_missing(
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelFolderError) as caught:
        Engine.load(tmp_path, EngineOptions(device="cpu"))
    assert "cosyvoice3.yaml" in str(caught.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_asking_for_cuda_without_a_gpu_says_what_to_choose(tiny_model: Path) -> None:
    with pytest.raises(EngineError, match=r"No CUDA GPU.*'auto' or 'cpu'"):
        Engine.load(tiny_model, EngineOptions(device="cuda", quantization="none"))


def test_a_fresh_engine_is_unloaded() -> None:
    assert Engine().status().status == "unloaded"


def test_an_engine_without_a_model_says_so_when_asked_to_warm_up(voice: Voice) -> None:
    fresh = Engine()
    assert fresh.sample_rate == SR and fresh.llm is None and fresh.renderer is None
    with pytest.raises(EngineError, match="not loaded"):
        fresh.warm_up(voice)


def test_the_yaml_sampler_is_used_for_speech_tokens(engine: Engine) -> None:
    sampler = engine.renderer.sampler_factory()
    assert isinstance(sampler, RasSampler)
    assert (sampler.top_p, sampler.top_k, sampler.win_size) == (0.8, 25, 10)


# -- prompt features ----------------------------------------------------------------------------


def test_prompt_features_align_two_mel_frames_per_speech_token(engine: Engine, tmp_path) -> None:
    feats = engine.prompt_features(_clip(tmp_path, 3.0))
    tokens = feats.speech_token.shape[1]
    assert tokens == 75  # 25 tokens per second
    assert feats.speech_feat.shape == (1, 2 * tokens, 80)
    assert feats.embedding.shape == (1, 192)
    assert torch.isfinite(feats.speech_feat).all() and torch.isfinite(feats.embedding).all()


def test_prompt_features_of_a_16khz_clip(engine: Engine, tmp_path: Path) -> None:
    feats = engine.prompt_features(_clip(tmp_path, 2.0, rate=16000))
    assert feats.speech_token.shape[1] == 50


def test_prompt_features_refuse_a_silent_clip_with_a_sentence(engine: Engine, tmp_path) -> None:
    with pytest.raises(VoiceError, match="is silent"):
        engine.prompt_features(_clip(tmp_path, 2.0, amplitude=0.0))


# -- what synthesize checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "There is no text to read"),
        ("   \n\t ", "There is no text to read"),
        ("...", "nothing to read aloud"),
    ],
)
def test_text_without_words_is_refused_with_a_sentence(engine, voice, text, message) -> None:
    with pytest.raises(EngineError, match=message):
        list(engine.synthesize(text, voice))


@pytest.mark.parametrize("speed", [0.25, 2.5, math.nan])
def test_speed_outside_half_to_double_is_refused(engine: Engine, voice, speed: float) -> None:
    with pytest.raises(EngineError, match=r"between 0\.5 and 2\.0"):
        list(engine.synthesize("Hello.", voice, speed=speed))


def test_an_unknown_mode_is_refused(engine: Engine, voice: Voice) -> None:
    with pytest.raises(EngineError):
        list(engine.synthesize("Hello.", voice, mode="zero_shot"))


def test_default_sampling_speaks_finite_audio(engine: Engine, voice: Voice) -> None:
    torch.manual_seed(0)  # the RAS sampler draws from torch's global generator
    chunks = list(engine.synthesize("Hello world, this is a test.", voice, stream=False))
    assert chunks, "no audio"
    audio = np.concatenate(chunks)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) % 960 == 0  # whole speech tokens of two 480-sample frames
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() <= 0.99  # the vocoder clamps


def test_warm_up_speaks_and_gives_the_sampler_back(engine: Engine, voice: Voice) -> None:
    factory = engine.renderer.sampler_factory
    seconds = engine.warm_up(voice, tokens=30)
    assert seconds > 0
    assert engine.renderer.sampler_factory is factory


# -- text normalisation -------------------------------------------------------------------------


def _spoken(engine: Engine, text: str, normalization: str | None = None) -> list[str]:
    """The parts `synthesize` speaks for `text`, as the model reads them."""
    return [chunk.text for chunk in engine.text_chunks(text, normalization)]


def test_amounts_are_read_as_upstream_reads_them_with_wetext(engine: Engine) -> None:
    pytest.importorskip("wetext", reason="wetext is not installed (pip install wetext)")
    assert engine.status().text_normalization.startswith("wetext ")
    assert _spoken(engine, "It costs $5 a day.") == ["It costs five dollars a day."]
    assert _spoken(engine, "It costs $5 a day.", normalization="basic") == ["It costs $five a day."]
    with pytest.raises(EngineError, match="Unknown text normalisation"):
        _spoken(engine, "Hello.", normalization="loud")


def test_without_wetext_the_basic_rules_read_the_text_and_the_status_says_why(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wetext", None)  # what `import wetext` sees when absent
    engine = Engine.load(tiny_model, EngineOptions(device="cpu", quantization="none"))
    try:
        status = engine.status()
        assert status.text_normalization == "basic"
        assert any("pip install wetext" in warning for warning in status.warnings)
        assert _spoken(engine, "It costs $5 a day.") == ["It costs $five a day."]
    finally:
        engine.unload()


@pytest.fixture
def wetext_passages(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every passage the engine's wetext rewriter is given, in order (it still rewrites)."""
    pytest.importorskip("wetext", reason="wetext is not installed (pip install wetext)")
    real = engine._rewriter("wetext")
    passages: list[str] = []

    def counting(text: str, lang: str) -> str:
        passages.append(text)
        return real(text, lang)

    monkeypatch.setitem(engine._rewriters, "wetext", counting)
    return passages


def test_the_voice_transcript_is_read_once_per_utterance_with_the_texts_rules(
    engine: Engine, voice: Voice, monkeypatch: pytest.MonkeyPatch, wetext_passages: list[str]
) -> None:
    from cosydesk.engine.model.sampling import ForcedLengthSampler

    paid = Voice("paid", "I paid $5 for it.", voice.features)
    size = engine.llm.speech_token_size
    monkeypatch.setattr(engine.renderer, "sampler_factory", lambda: ForcedLengthSampler(4, size))
    prompts: list[str] = []
    build = engine.segment_input

    def spy(*args, **kwargs):
        seg = build(*args, **kwargs)
        prompts.append(engine.tokenizer.decode(seg.prompt_text_ids[0].tolist()))
        return seg

    monkeypatch.setattr(engine, "segment_input", spy)
    text = " ".join(f"Sentence {n} of a text long enough to be cut in parts." for n in range(12))
    list(engine.synthesize(text, paid, stream=False, normalization="wetext"))
    assert len(prompts) >= 2
    assert wetext_passages.count("I paid $5 for it.") == 1
    assert all("I paid five dollars for it." in p for p in prompts)
    list(engine.synthesize("Hello.", paid, stream=False, normalization="basic"))
    assert "I paid $five for it." in prompts[-1]


def test_a_long_text_starts_without_normalising_all_of_it(
    engine: Engine, wetext_passages: list[str]
) -> None:
    paragraph = "On 3 May 2024 we paid $5 for 12 apples. " * 40
    book = "\n\n".join([paragraph] * 500)  # 800 kB
    chunks = engine.text_chunks(book, "wetext")
    first = next(chunks)
    assert first.index == 0 and first.fraction < 0.01
    assert "five dollars" in first.text
    # Only the first paragraph went through the grammars before the first chunk was ready.
    assert sum(len(p) for p in wetext_passages) < 2 * len(paragraph)


# -- unloading ----------------------------------------------------------------------------------


def test_unload_frees_the_models_and_can_be_repeated(tiny_model: Path, voice: Voice) -> None:
    engine = Engine.load(tiny_model, EngineOptions(device="cpu", quantization="none"))
    engine.unload()
    engine.unload()
    assert engine.status().status == "unloaded"
    assert engine.llm is None and engine.flow is None and engine.hift is None
    with pytest.raises(EngineError, match="not loaded"):
        list(engine.synthesize("Hello.", voice))
    with pytest.raises(EngineError, match="not loaded"):
        engine.warm_up(voice)


def test_unload_frees_the_models_without_a_garbage_collection(
    tiny_model: Path, voice: Voice
) -> None:
    """On a GPU the decode step and the flow solver replay captured graphs; their runners must
    not tie the models into reference cycles, or the card stays full after unload until Python's
    collector happens to run. Here the runners are set up as the GPU path sets them up (they
    stay eager on the CPU), and the collector is off while the engine is let go of."""
    import gc
    import weakref

    from cosydesk.engine.model.decode_graph import GraphedStep
    from cosydesk.engine.model.sampling import ForcedLengthSampler

    engine = Engine.load(tiny_model, EngineOptions(device="cpu", quantization="none"))
    engine.llm._graphed = GraphedStep(engine.llm)  # what the first GPU decode step does
    engine.flow.enable_cuda_graphs()  # what loading on a GPU does
    size = engine.llm.speech_token_size
    engine.renderer.sampler_factory = lambda: ForcedLengthSampler(30, size)
    assert np.concatenate(list(engine.synthesize("Hello there.", voice, stream=True))).size
    models = [weakref.ref(m) for m in (engine.llm, engine.flow, engine.hift)]
    gc.collect()
    gc.disable()
    try:
        engine.unload()
        alive = [ref() is not None for ref in models]
    finally:
        gc.enable()
    assert alive == [False, False, False]


FIRST_LOAD_SCRIPT = """
import gc, sys, weakref
import numpy as np
gc.disable()
from cosydesk.engine.engine import Engine
from cosydesk.engine.types import EngineOptions
from cosydesk.engine.voices import Voice

engine = Engine.load(sys.argv[1], EngineOptions(device="cpu", quantization="none"))
voice = Voice("t", "A short test clip.", engine.prompt_features(sys.argv[2]))
assert np.concatenate(list(engine.synthesize("Hello there.", voice, stream=True))).size
models = [weakref.ref(m) for m in (engine.llm, engine.flow, engine.hift)]
layers = [weakref.ref(x) for m in (engine.llm, engine.flow, engine.hift) for x in m.modules()]
engine.unload()
print("alive:", [ref() is not None for ref in models])
print("layers alive:", sorted({type(ref()).__name__ for ref in layers if ref() is not None}))
"""


def test_unload_frees_the_models_with_the_collector_off_from_the_load_on(
    tiny_model: Path, tmp_path: Path
) -> None:
    """No collection runs between loading and unloading here, as none need run in the app.
    Tracebacks of exceptions caught inside torch and transformers while a model was built
    (the first load in a process raises the most) kept the loading frame, and its locals held
    the three models until a collection did run. In a fresh interpreter for that first load.
    On an H100 both of these held the card after unload."""
    import subprocess
    import sys

    clip = write_clip(tmp_path / "clip.wav", 3, freq=140)
    done = subprocess.run(
        [sys.executable, "-c", FIRST_LOAD_SCRIPT, str(tiny_model), str(clip)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "alive: [False, False, False]" in done.stdout, done.stdout + done.stderr[-2000:]
    # Nor any layer of them: the vocoder's weight-normed layers stayed in cycles with the
    # classes torch generates for the parametrisation, after the weights were folded.
    assert "layers alive: []" in done.stdout, done.stdout
