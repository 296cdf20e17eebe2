"""Sentences of a text as a listener counts them: where each begins and ends in the text.

The engine cuts a text into parts of several sentences; skipping, reading from the cursor and
marking what is heard go by single sentences, found here in the text itself. Qt-free.
"""

from __future__ import annotations

import re

# A sentence ends after its mark(s) and any closing quotes or brackets, before white space;
# CJK marks end one without a space. A line break ends a heading or a list item too.
_END = re.compile(r"[.!?;…]+[\"'”’)\]]*(?=\s)|[。！？；]+[\"'”’」』）]*|\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(first, end) characters of each sentence of `text`, in order, white space around them
    left out; [] when the text holds none."""
    spans: list[tuple[int, int]] = []
    start = 0
    for mark in _END.finditer(text):
        _add(spans, text, start, mark.end())
        start = mark.end()
    _add(spans, text, start, len(text))
    return spans


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def sentence_at(text: str, position: int) -> tuple[int, int] | None:
    """The sentence that holds character `position` (or the next one when `position` is in the
    space between two); None past the last sentence."""
    for first, end in sentence_spans(text):
        if position < end:
            return first, end
    return None


def next_sentence(text: str, position: int, step: int) -> int | None:
    """Where the sentence `step` sentences after (negative: before) the one at `position`
    begins; the first sentence when that is before it, None when that is after the last."""
    spans = sentence_spans(text)
    here = next((i for i, (_first, end) in enumerate(spans) if position < end), len(spans))
    target = here + step
    if target >= len(spans):
        return None
    return spans[max(target, 0)][0]


def word_start(text: str, position: int) -> int:
    """`position` moved back to the start of the word it falls in (reading from the cursor
    must not begin mid-word)."""
    position = min(max(position, 0), len(text))
    while 0 < position < len(text):
        if text[position - 1].isspace() or text[position].isspace():
            break
        position -= 1
    return position
