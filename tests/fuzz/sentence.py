"""What every fuzz case must end in when it does not succeed: one line a person can read."""

from __future__ import annotations

import re

# What leaks when an exception is shown as it is: a traceback, "[Errno 13] ...", a class name.
_RAW = re.compile(r"Traceback|\[Errno \d+\]|\b[A-Z][A-Za-z]*(Error|Exception)\b")


def assert_sentence(text: str, context: str = "") -> None:
    """Fail unless `text` is one line ending in a full stop, with no raw exception in it."""
    where = f" ({context})" if context else ""
    assert text.strip(), f"an empty message{where}"
    assert "\n" not in text.strip(), f"more than one line{where}: {text!r}"
    assert text.rstrip().endswith("."), f"not a sentence{where}: {text!r}"
    assert not _RAW.search(text), f"a raw exception{where}: {text!r}"
