"""The long-text part of `cosydesk bench`: a book-like text spoken in its natural parts.

Random weights never stop on their own, so each part is forced to a length that follows its
text, as real speech does: English prose is read at about 15 characters a second, and a second
of audio is 25 speech tokens. (Characters, not text tokens: the random folder's tokenizer is a
small byte-level one that cuts English into about twice as many tokens as Qwen2's.)
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

SPEECH_TOKENS_PER_CHAR = 25 / 15

_PROSE = (
    "the a of and to in that it was for on with as he she they at by from this had not but "
    "his her their all were when we there been one would what so out up if about who them "
    "then some could time into only other new now over also after first well way even because "
    "morning river village train window letter garden evening station market winter summer "
    "light road house people water story friend mother father doctor teacher city country "
    "quietly slowly carefully suddenly finally always never often again together almost "
    "walked looked found thought turned waited opened remembered listened carried followed"
)
_WORDS = _PROSE.split()


def long_text(chars: int = 10_000, seed: int = 0) -> str:
    """Prose of about `chars` characters: paragraphs of 3-8 sentences of 5-28 words."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    size = 0
    while size < chars:
        sentences = []
        for _ in range(rng.randint(3, 8)):
            words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 28))]
            if rng.random() < 0.3:
                words.insert(rng.randint(1, len(words) - 1), f"{rng.randint(2, 1999)},")
            sentences.append(" ".join(words).capitalize() + rng.choice(".....?!"))
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs)


@dataclass
class LongFigures:
    chars: int = 0
    parts: int = 0
    audio_s: float = math.nan
    rtf: float = math.nan
    first_sound_s: float = math.nan
    flow_captures: int = 0


def measure_long(engine: Any, voice: Any, text: str, sync) -> LongFigures:
    """Speak `text` streaming, as the app plays it: real-time factor and time to first sound."""
    from cosydesk.engine.model.sampling import ForcedLengthSampler

    size = engine.llm.speech_token_size
    renderer = engine.renderer
    build = engine.segment_input
    part_chars = [1]
    parts = [0]

    def measuring(text: str, *args, **kwargs):
        part_chars[0] = len(text)
        parts[0] += 1
        return build(text, *args, **kwargs)

    def sampler():
        return ForcedLengthSampler(max(1, round(SPEECH_TOKENS_PER_CHAR * part_chars[0])), size)

    factory = renderer.sampler_factory
    engine.segment_input = measuring
    renderer.sampler_factory = sampler
    solver = getattr(engine.flow, "graphed", None)
    before = solver.captures if solver is not None else 0
    figures = LongFigures(chars=len(text))
    try:
        samples = 0
        started = time.perf_counter()
        for chunk in engine.synthesize(text, voice, stream=True):
            if samples == 0:
                sync()
                figures.first_sound_s = time.perf_counter() - started
            samples += len(chunk)
        sync()
        elapsed = time.perf_counter() - started
    finally:
        del engine.segment_input  # the instance attribute goes; the method is back
        renderer.sampler_factory = factory
    figures.parts = parts[0]
    figures.audio_s = samples / engine.sample_rate
    figures.rtf = elapsed / figures.audio_s if figures.audio_s else math.nan
    figures.flow_captures = (solver.captures if solver is not None else 0) - before
    return figures
