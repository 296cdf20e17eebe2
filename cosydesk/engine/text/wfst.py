"""Spoken-form rewriting of numbers, dates, amounts and units with wetext's grammars.

Upstream's frontend runs wetext (weighted finite-state grammars from WeTextProcessing) over a
text before its own clean-up when the package is installed, which its requirements make the
usual case: "$5 on 3 May" reaches the model as "five dollars on the third of may". Without it,
only bare digits are spelled out (see `textnorm`). The parity fixtures were made without it,
so parity runs with normalisation "basic". Unlike upstream, Japanese text (kana present) is not
given to the Chinese grammar, which would read its numbers in Chinese.

The grammars ship inside the wetext wheel; nothing is downloaded and nothing in the model
folder is involved.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from cosydesk.engine.errors import EngineError

log = logging.getLogger(__name__)

# Kept verbatim, with the grammars run on the passages between them:
# - phone tags ("[AH0]") and control strings: the grammars would read their digits as numbers,
#   and the English grammar rejects a bracketed tag outright;
# - line breaks and runs of spaces: the English grammar rejects them too, and line breaks matter
#   to the chunker.
_KEPT = re.compile(r"<\|[^|]{0,40}\|>|\[[^\[\]\s]{1,24}\]|\s*\n\s*|\s{2,}")

# Two misreadings of wetext's English grammar (0.1.8) that change what a text says, put right
# before it runs: "1,234" loses its "one" ("thousand two hundred ..."), and a decade such as
# "1990s" becomes "one thousand nine hundred and ninety seconds". A plain 1,ddd is spelled out
# here; a decade gets the apostrophe the grammar reads well ("nineteen ninety's" sounds the same).
_ONE_THOUSAND_AND = re.compile(r"(?<![\w,.¥])([$£€]?)1,(\d{3})(?![\d,]|\.\d|st|nd|rd|th)")
# The grammars' output escapes quotes and backslashes (He said \"hi\"): the model must hear the
# text, not the escapes.
_ESCAPED = re.compile(r'\\(["\\])')
_CURRENCY = {"$": " dollars", "£": " pounds", "€": " euros", "": ""}
_DECADE = re.compile(r"\b(1[1-9]\d0|20[1-9]0)s\b")

_KANA = re.compile("[\u3040-\u30ff]")

Rewriter = Callable[[str, str], str]


class WeTextRewriter:
    """wetext's text-normalisation grammars for Chinese and English, loaded on first use.

    Calling it with (text, "zh" | "en") returns the text in spoken form. A passage the grammars
    fail on is returned unchanged (the basic rules that follow still spell out its digits), so a
    strange input never stops a narration. Safe to call from several threads.
    """

    def __init__(self) -> None:
        try:
            import wetext
        except ImportError as exc:
            raise EngineError(
                "Text normalisation 'wetext' needs the Python package wetext "
                "(pip install wetext); without it numbers, dates and amounts are read by the "
                "basic rules."
            ) from exc
        except Exception as exc:  # e.g. its compiled kaldifst library does not load here
            raise EngineError(
                f"The wetext package is installed but does not load ({exc}); numbers, dates "
                "and amounts are read by the basic rules. Reinstall it: pip install -U wetext."
            ) from exc
        self._module: Any = wetext
        self.version = metadata.version("wetext")
        self._normalizers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._warned = False

    @property
    def label(self) -> str:
        return f"wetext {self.version}"

    def _normalizer(self, lang: str) -> Any:
        with self._lock:
            if lang not in self._normalizers:
                # remove_erhua=False: upstream keeps the 儿 suffix, which changes the reading.
                self._normalizers[lang] = self._module.Normalizer(
                    lang=lang, operator="tn", remove_erhua=False
                )
            return self._normalizers[lang]

    def __call__(self, text: str, lang: str) -> str:
        if lang not in ("zh", "en"):
            raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
        if lang == "zh" and _KANA.search(text):
            # Japanese: the Chinese grammar would give its numbers Chinese readings
            # ("2024年" -> "二零二四年"); the model reads the digits better itself.
            return text
        normalizer = self._normalizer(lang)
        if lang == "en":
            text = _repair_english(text)
        pieces: list[str] = []
        start = 0
        for tag in _KEPT.finditer(text):
            pieces.append(self._rewrite(normalizer, text[start : tag.start()]))
            pieces.append(tag.group())
            start = tag.end()
        pieces.append(self._rewrite(normalizer, text[start:]))
        return "".join(pieces)

    def _rewrite(self, normalizer: Any, passage: str) -> str:
        if not passage.strip():
            return passage
        try:
            spoken = normalizer.normalize(passage)
        except Exception as exc:
            # A handled fallback: one warning line for the person, the traceback for the log
            # file only (at debug level), never a traceback on the terminal.
            log.debug("wetext failed on %r", passage[:80], exc_info=True)
            if not self._warned:
                self._warned = True
                log.warning(
                    "wetext failed on a passage (%s); it is read by the basic rules",
                    type(exc).__name__,
                )
            return passage
        if not isinstance(spoken, str):
            return passage
        spoken = _ESCAPED.sub(r"\1", spoken)
        # The grammars trim the ends; the chunker needs the spaces between passages and tags.
        lead = passage[: len(passage) - len(passage.lstrip())]
        trail = passage[len(passage.rstrip()) :]
        return lead + spoken.strip() + trail


def _repair_english(text: str) -> str:
    if "," in text:
        text = _ONE_THOUSAND_AND.sub(_one_thousand, text)
    return _DECADE.sub(r"\1's", text)


def _one_thousand(match: re.Match[str]) -> str:
    from cosydesk.engine.text.textnorm import load_inflect

    words = load_inflect().engine().number_to_words("1" + match.group(2), andword="and", comma="")
    return str(words).replace("-", " ") + _CURRENCY[match.group(1)]


def make_rewriter(name: str) -> WeTextRewriter | None:
    """The rewriter for normalisation `name`: None for "basic".

    Raises EngineError when `name` is unknown or wetext is asked for but not installed.
    """
    if name == "basic":
        return None
    if name == "wetext":
        return WeTextRewriter()
    from cosydesk.config import option

    known = option("text_normalization").choices or ()
    raise EngineError(f"Unknown text normalisation '{name}': use one of {', '.join(known)}.")
