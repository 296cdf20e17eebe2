"""Fuzz: every text is read aloud or refused with one sentence, and nothing prints a traceback.

Each generated text (tests/fuzz/texts.py) goes through the engine's text path with both
normalisations (wetext's grammars and the basic rules): normalised a paragraph at a time,
split into chunks, tokenised. Every chunk must be words the tokenizer can take within the
model's vocabulary and the per-call limit, in the order of the text (the first MOST_CHUNKS of
a long text, which the engine normalises as it reads on); text with nothing to read must end in
one sentence. The raw text is also tokenised as an instruction would be, and normalised whole
as a voice's transcript is. A sample is spoken by the tiny model with forced short lengths (as
text, and as an instruction), which must give finite audio or a sentence. Nothing may reach
stderr as a traceback, and no warning may carry one. Fixed seeds: a failure names its case, which
`text_case(random.Random(case))` replays on its own.
"""

from __future__ import annotations

import itertools
import logging
import random
from typing import Any

import numpy as np
import pytest

from cosydesk.engine.errors import EngineError
from cosydesk.engine.model.sampling import ForcedLengthSampler
from cosydesk.engine.text.textnorm import MAX_CHUNK_TOKENS
from cosydesk.engine.voices import Voice
from tests.fuzz.sentence import Findings, sentence_problem
from tests.fuzz.texts import text_case
from tests.helpers import write_clip

GROUP = "texts"
SEEDS = range(4)
CASES_PER_SEED = 500
# One case in SPOKEN_EVERY is also spoken (as the text, then as an instruction).
SPOKEN_EVERY = 40
PLANNED = len(SEEDS) * CASES_PER_SEED
# How many chunks of a text are taken (a text of 100,000 characters has hundreds).
MOST_CHUNKS = 12
# A transcript is normalised whole: beyond a few sentences wetext takes seconds per case.
# So texts up to LONGEST_TRANSCRIPT characters are transcripts with both normalisations, up to
# LONGEST_BASIC_TRANSCRIPT with the basic rules only (fast, and they hold the digit rules).
LONGEST_TRANSCRIPT = 1000
LONGEST_BASIC_TRANSCRIPT = 6000
# Speech tokens the tiny model is made to speak per segment: a few frames of audio.
FORCED_TOKENS = 3


@pytest.fixture(scope="module")
def voice(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Voice:
    clip = write_clip(tmp_path_factory.mktemp("voice") / "clip.wav", 2, freq=140, tremolo=False)
    return Voice("Fuzz", "Hello there, this is my voice.", engine.prompt_features(clip))


@pytest.fixture
def short_speech(engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    size = engine.llm.speech_token_size
    monkeypatch.setattr(
        engine.renderer, "sampler_factory", lambda: ForcedLengthSampler(FORCED_TOKENS, size)
    )


def _chunks_problem(engine: Any, text: str, normalization: str) -> tuple[str | None, int]:
    """What is wrong with the chunks of `text`, and how many there are."""
    vocab = int(engine.folder.qwen_config["vocab_size"])
    try:
        # The chunks are normalised as they are taken: a book is read from its first
        # paragraphs on, and so is it here.
        chunks = list(itertools.islice(engine.text_chunks(text, normalization), MOST_CHUNKS))
    except EngineError as exc:
        return sentence_problem(str(exc)), 0
    except Exception as exc:  # the point of the test: nothing else may come out
        return f"{normalization}: escaped as {type(exc).__name__}: {exc}", 0
    reached = 0
    for chunk in chunks:
        ids = engine.tokenizer.encode(chunk.text)
        if not chunk.text.strip() or not ids:
            return f"{normalization}: an empty chunk {chunk.text!r}", 0
        if len(ids) > MAX_CHUNK_TOKENS:
            return f"{normalization}: a chunk of {len(ids)} tokens", 0
        if max(ids) >= vocab:
            return f"{normalization}: token id {max(ids)} is beyond the model's {vocab}", 0
        if not reached <= chunk.done <= chunk.total:
            return f"{normalization}: chunk {chunk.index} ends at {chunk.done}", 0
        reached = chunk.done
    return None, len(chunks)


def _transcript_problem(
    engine: Any, voice: Voice, text: str, normalizations: tuple[str, ...]
) -> str | None:
    """The text as a voice's transcript, which is normalised whole (not a block at a time)."""
    with_text = Voice(voice.name, text, voice.features)
    try:
        for normalization in normalizations:
            engine.voice_transcript(with_text, normalization)
    except EngineError as exc:
        return sentence_problem(str(exc))
    except Exception as exc:
        return f"as a transcript: escaped as {type(exc).__name__}: {exc}"
    return None


def _speech_problem(engine: Any, voice: Voice, text: str, **kwargs: Any) -> str | None:
    try:
        audio = list(engine.synthesize(text, voice, **kwargs))
    except EngineError as exc:
        return sentence_problem(str(exc))
    except Exception as exc:
        return f"speaking escaped as {type(exc).__name__}: {exc}"
    for chunk in audio:
        if chunk.dtype != np.float32 or chunk.ndim != 1 or not np.isfinite(chunk).all():
            return f"speaking gave {chunk.dtype} {chunk.shape}, or samples that are not finite"
    return None


@pytest.mark.parametrize("seed", SEEDS)
def test_every_text_is_read_or_refused_in_a_sentence(
    seed: int,
    engine: Any,
    voice: Voice,
    short_speech: None,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    cases: Any,
) -> None:
    findings = Findings()
    vocab = int(engine.folder.qwen_config["vocab_size"])
    spoken = 0
    for number in range(seed * CASES_PER_SEED, (seed + 1) * CASES_PER_SEED):
        rng = random.Random(number)
        description, text = text_case(rng)
        label = f"case {number} ({description})"
        count = 0
        for normalization in ("wetext", "basic"):
            problem, count = _chunks_problem(engine, text, normalization)
            findings.add(label, problem)
        ids = engine.tokenizer.encode(text)
        if ids and max(ids) >= vocab:
            findings.add(label, f"the raw text has token id {max(ids)} beyond {vocab}")
        if len(text) <= LONGEST_TRANSCRIPT:
            findings.add(label, _transcript_problem(engine, voice, text, ("wetext", "basic")))
        elif len(text) <= LONGEST_BASIC_TRANSCRIPT:
            findings.add(label, _transcript_problem(engine, voice, text, ("basic",)))
        if number % SPOKEN_EVERY == 0 and count <= 4:
            spoken += 1
            speed = rng.choice([0.5, 1.0, 2.0])
            stream = rng.random() < 0.5
            findings.add(label, _speech_problem(engine, voice, text, speed=speed, stream=stream))
            findings.add(label, _speech_problem(engine, voice, "Hello there.", instruct=text))
        cases()
    err = capfd.readouterr().err
    findings.add("stderr", f"a traceback: {err[-2000:]}" if "Traceback" in err else None)
    for record in caplog.records:
        if record.levelno >= logging.WARNING and record.exc_info:
            findings.add("log", f"a warning with a traceback: {record.getMessage()}")
    findings.assert_none()
    assert spoken >= CASES_PER_SEED // SPOKEN_EVERY // 2, spoken
