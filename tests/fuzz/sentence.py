"""What every fuzz case must end in when it does not succeed: one line a person can read."""

from __future__ import annotations

import os
import re

# What leaks when an exception is shown as it is: a traceback, "[Errno 13] ...", a class name.
# How many problems a failure lists (FUZZ_SHOWN=n shows more while hunting).
SHOWN = int(os.environ.get("FUZZ_SHOWN", "15"))
_RAW = re.compile(r"Traceback|\[Errno \d+\]|\b[A-Z][A-Za-z]*(Error|Exception)\b")


def sentence_problem(text: str) -> str | None:
    """Why `text` is not one line ending in a full stop free of raw exceptions; None if it is."""
    if not text.strip():
        return "an empty message"
    if "\n" in text.strip():
        return f"more than one line: {text!r}"
    if not text.rstrip().endswith("."):
        return f"not a sentence: {text!r}"
    if _RAW.search(text):
        return f"a raw exception: {text!r}"
    return None


def assert_sentence(text: str, context: str = "") -> None:
    """Fail unless `text` is one line ending in a full stop, with no raw exception in it."""
    problem = sentence_problem(text)
    assert problem is None, f"{problem} ({context})" if context else problem


class Findings:
    """The problems of a run of cases, collected so that one failure shows them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, label: str, problem: str | None) -> None:
        """Note `problem` of the case `label` (None: no problem)."""
        if problem is not None:
            self.problems.append(f"{label}: {problem}")

    def sentence(self, label: str, text: str) -> None:
        """Note a problem unless `text` is a sentence (see `sentence_problem`)."""
        self.add(label, sentence_problem(text))

    def assert_none(self) -> None:
        shown = "\n".join(self.problems[:SHOWN])
        more = len(self.problems) - SHOWN
        assert not self.problems, shown + (f"\n... and {more} more" if more > 0 else "")
