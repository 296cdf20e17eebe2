"""Turning text into audio through the engine on the CPU: the streaming schedule (chunk sizes
and when the first chunk comes), cancellation, speed, long texts and the three modes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from cosydesk.engine.engine import Engine
from cosydesk.engine.errors import Cancelled
from cosydesk.engine.model.sampling import ForcedLengthSampler as Forced
from cosydesk.engine.model.synthesis import prompt_text_for
from cosydesk.engine.voices import Voice
from tests.helpers import write_clip

SR = 24000
SAMPLES_PER_TOKEN = 2 * 480  # two mel frames of 480 samples
HOP, LOOKAHEAD = 25, 3
# A vocoder run that is not the last withholds 3 F0-lookahead frames, 4 conv_pre-lookahead
# frames and 480 more samples: (frames - 8) * 480 samples come out.
WITHHELD_FRAMES = 8


@pytest.fixture(scope="module")
def engine(cpu_engine: Engine) -> Engine:
    return cpu_engine


def _voice(engine: Engine, folder: Path, samples: int) -> Voice:
    path = write_clip(folder / f"clip-{samples}.wav", freq=140, samples=samples)
    return Voice("test", "Reference words here.", engine.prompt_features(path))


@pytest.fixture(scope="module")
def voices(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Voice]:
    """Voices by their prompt token count: 77 (the parity fixture's; pads the first hop by 23)
    and 75 (a multiple of the hop: no padding)."""
    folder = tmp_path_factory.mktemp("clips")
    made = {77: _voice(engine, folder, 74160), 75: _voice(engine, folder, 72000)}
    for count, voice in made.items():
        assert voice.features.speech_token.shape[1] == count
    return made


def _force(engine: Engine, n: int) -> Forced:
    sampler = Forced(n, engine.llm.speech_token_size)
    engine.renderer.sampler_factory = lambda: sampler
    return sampler


def _sizes(chunks) -> list[int]:
    return [len(c) for c in chunks]


# -- the streaming schedule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "tokens", "expected"),
    [
        # Upstream's own run on its fixture (README, e2e_stream): first hop 25 + 23 padding,
        # rendered once 48 + 3 lookahead tokens exist -> (96 - 8) * 480; then a hop of 50.
        (77, 101, [42240, 48000, 6720]),
        # No padding: hops of 25, 50, then the rest (100 would need 178 tokens).
        (75, 130, [(50 - 8) * 480, 100 * 480, 130 * SAMPLES_PER_TOKEN - (150 - 8) * 480]),
        # Fewer tokens than the first hop + lookahead: one chunk at the end.
        (75, 27, [27 * SAMPLES_PER_TOKEN]),
    ],
)
def test_stream_chunks_follow_the_cosyvoice3_schedule(
    engine: Engine, voices, prompt: int, tokens: int, expected: list[int]
) -> None:
    _force(engine, tokens)
    chunks = list(engine.synthesize("Hello world, this is a test.", voices[prompt], stream=True))
    assert _sizes(chunks) == expected
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert np.isfinite(np.concatenate(chunks)).all()


def test_first_chunk_comes_as_soon_as_the_first_hop_and_lookahead_exist(
    engine: Engine, voices
) -> None:
    sampler = _force(engine, 101)
    chunks = engine.synthesize("Hello world, this is a test.", voices[77], stream=True)
    first = next(chunks)
    assert len(first) == ((HOP + 23) * 2 - WITHHELD_FRAMES) * 480
    assert sampler.calls == HOP + 23 + LOOKAHEAD  # not a token more was decoded before it
    rest = list(chunks)
    assert sampler.calls == 101 + 1  # the last call chose the end of speech
    assert len(rest) == 2


def test_streamed_audio_is_as_long_as_the_whole_rendering(engine: Engine, voices) -> None:
    _force(engine, 90)
    text = "Hello world, this is a test."  # long enough: at most 20 tokens per text token
    streamed = list(engine.synthesize(text, voices[77], stream=True))
    whole = list(engine.synthesize(text, voices[77], stream=False))
    assert len(streamed) > 1
    assert len(whole) == 1
    assert sum(_sizes(streamed)) == len(whole[0]) == 90 * SAMPLES_PER_TOKEN


# -- cancelling ---------------------------------------------------------------------------------


def test_cancel_between_chunks_stops_at_once(engine: Engine, voices) -> None:
    sampler = _force(engine, 101)
    cancel = threading.Event()
    chunks = engine.synthesize(
        "Hello world, this is a test.", voices[77], stream=True, cancel=cancel
    )
    next(chunks)
    decoded = sampler.calls
    cancel.set()
    with pytest.raises(Cancelled):
        next(chunks)
    assert sampler.calls == decoded  # no further token was decoded


def test_cancel_from_the_progress_callback_stops_before_any_audio(engine: Engine, voices) -> None:
    sampler = _force(engine, 30)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        cancel.set()

    audio = []
    with pytest.raises(Cancelled):
        for chunk in engine.synthesize(
            "Hello world.", voices[75], stream=False, cancel=cancel, progress=progress
        ):
            audio.append(chunk)
    assert audio == []
    assert seen == [(0, len("Hello world."))]
    assert sampler.calls == 0


# -- speed, long texts, modes -------------------------------------------------------------------


@pytest.mark.parametrize("speed", [1.5, 0.75])
def test_speed_changes_the_length_by_its_factor(engine: Engine, voices, speed: float) -> None:
    _force(engine, 30)
    audio = np.concatenate(list(engine.synthesize("Hello.", voices[75], speed=speed)))
    frames = int(30 * 2 / speed)
    assert len(audio) == frames * 480
    assert np.isfinite(audio).all()


def test_a_long_text_is_spoken_sentence_by_sentence_with_progress(engine: Engine, voices) -> None:
    text = " ".join(
        f"This is sentence number {word} of a longer text, which goes on for a while, with "
        "commas and clauses, so that the splitter has to cut it into several parts."
        for word in ("one", "two", "three", "four")
    )
    parts = [chunk.text for chunk in engine.text_chunks(text)]  # what synthesize speaks
    assert len(parts) >= 2
    _force(engine, 12)
    seen: list[tuple[int, int]] = []
    chunks = list(
        engine.synthesize(text, voices[75], stream=False, progress=lambda d, t: seen.append((d, t)))
    )
    # Progress counts characters: one report before each part, one at the end.
    assert len(seen) == len(parts) + 1
    assert seen[0] == (0, len(text)) and seen[-1] == (len(text), len(text))
    done = [d for d, _ in seen]
    assert done == sorted(set(done))  # strictly growing
    assert {t for _, t in seen} == {len(text)}
    assert _sizes(chunks) == [12 * SAMPLES_PER_TOKEN] * len(parts)


def _spy_on_the_llm(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []
    real = engine.llm.generate

    def spy(text_ids, prompt_text_ids, prompt_speech_token, **kwargs):
        calls.append(
            {
                "prompt_text": engine.tokenizer.decode(prompt_text_ids[0].tolist()),
                "speech_prompt": int(prompt_speech_token.shape[1]),
            }
        )
        return real(text_ids, prompt_text_ids, prompt_speech_token, **kwargs)

    monkeypatch.setattr(engine.llm, "generate", spy)
    return calls


@pytest.mark.parametrize(
    ("kwargs", "speech_prompt", "in_prompt", "not_in_prompt"),
    [
        ({}, 75, "Reference words here.", None),
        ({"mode": "cross-lingual"}, 0, "<|endofprompt|>", "Reference words"),
        ({"instruct": "Speak slowly and calmly."}, 0, "Speak slowly and calmly.", "Reference"),
    ],
)
def test_each_mode_conditions_the_llm_as_upstream_and_speaks(
    engine: Engine, voices, monkeypatch, kwargs, speech_prompt, in_prompt, not_in_prompt
) -> None:
    calls = _spy_on_the_llm(engine, monkeypatch)
    _force(engine, 20)
    audio = np.concatenate(list(engine.synthesize("Hello world.", voices[75], **kwargs)))
    assert len(audio) == 20 * SAMPLES_PER_TOKEN
    assert np.isfinite(audio).all()
    (call,) = calls
    assert call["speech_prompt"] == speech_prompt
    assert in_prompt in call["prompt_text"]
    assert "<|endofprompt|>" in call["prompt_text"]
    if not_in_prompt:
        assert not_in_prompt not in call["prompt_text"]


def test_prompt_text_for_each_mode() -> None:
    end = "<|endofprompt|>"
    assert (
        prompt_text_for("zero-shot", "Hi there.", None)
        == f"You are a helpful assistant.{end}Hi there."
    )
    assert prompt_text_for("zero-shot", f"Custom.{end}Hi.", None) == f"Custom.{end}Hi."
    assert (
        prompt_text_for("cross-lingual", "Hi there.", None) == f"You are a helpful assistant.{end}"
    )
    assert prompt_text_for("instruct", "Hi there.", "Whisper.") == (
        f"You are a helpful assistant. Whisper.{end}"
    )


def test_the_callers_grad_mode_is_untouched_between_chunks(engine: Engine, voices) -> None:
    _force(engine, 60)
    chunks = engine.synthesize("Hello world.", voices[75], stream=True)
    next(chunks)
    try:
        assert not torch.is_inference_mode_enabled()
    finally:
        chunks.close()


def test_half_precision_that_gives_nan_falls_back_to_fp32_for_good() -> None:
    """fp16 only exists on CUDA, so the guard is driven here with two small stand-in modules:
    a first NaN result converts flow and vocoder to fp32 and the stage runs again."""
    from cosydesk.engine.model.synthesis import SegmentRenderer

    flow, hift = torch.nn.Linear(2, 2).half(), torch.nn.Linear(2, 2).half()
    renderer = SegmentRenderer(
        None,
        flow,
        hift,
        device=torch.device("cpu"),
        flow_dtype=torch.float16,
        sampler_factory=None,
    )
    results = iter([torch.tensor([float("nan")]), torch.tensor([0.5])])
    out = renderer._guarded(lambda: next(results))
    assert out.tolist() == [0.5]
    assert renderer.flow_dtype == torch.float32 and renderer.nan_fallbacks == 1
    assert flow.weight.dtype == torch.float32 and hift.weight.dtype == torch.float32
    # In fp32 a NaN is not retried (it would be a bug, not a precision problem).
    assert torch.isnan(renderer._guarded(lambda: torch.tensor([float("nan")]))).all()
    assert renderer.nan_fallbacks == 1
