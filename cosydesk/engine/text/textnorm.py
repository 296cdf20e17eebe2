"""Text preparation for CosyVoice3: clean-up, normalisation and splitting into LM-sized chunks.

`normalize` follows what the upstream frontend does, so that the model hears what it would hear
upstream. Given a `rewrite` (wetext's grammars, see `wfst`), numbers, dates, amounts and units are
first put in spoken form, as upstream does with wetext installed; then, or without one:

* text holding both "<|" and "|>" (a prompt with control strings) is taken verbatim;
* text with a CJK ideograph is "Chinese": newlines and spaces next to non-ASCII characters go,
  ² ³ become 平方 立方, "." becomes "。", " - " a comma, （）【】` are dropped, a trailing comma
  becomes "。";
* any other text has every run of digits spelled out in English words (inflect), including digits
  inside phone tags ("[AH0]" -> "[AHzero]");
* then the text is cut after each sentence mark (a closing quote stays with its sentence) and the
  sentences are packed into chunks of about CHUNK_MIN..CHUNK_MAX (characters for Chinese, tokens
  otherwise); a missing final mark is added first and chunks of only punctuation are dropped.

On top of that, a chunk longer than MAX_CHUNK_TOKENS (only possible for very long sentences) is
cut further at clause marks, then spaces, so that no single LM call gets an unbounded text.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cosydesk.engine.errors import EngineError

if TYPE_CHECKING:
    from cosydesk.engine.text.tokenizer import CosyTokenizer

Lang = Literal["zh", "en"]

# Upstream's chunk sizes: a chunk is closed once it is longer than CHUNK_MIN and the next
# sentence would take it past CHUNK_MAX; a last piece shorter than MERGE_BELOW joins the chunk
# before it. The unit is characters for Chinese and tokens otherwise.
CHUNK_MAX = 80
CHUNK_MIN = 60
MERGE_BELOW = 20
# Our own ceiling per LM call. Sentences of normal prose never reach it, so upstream's chunks are
# kept as they are; a run-on text without sentence marks would otherwise become one huge call.
MAX_CHUNK_TOKENS = 200
# iter_chunks normalises this many characters (a paragraph, or a run of sentences) at a time.
BLOCK_CHARS = 2000
# The first block of a longer text: a few sentences, so speech starts about as soon as it does
# for a one-sentence text.
FIRST_BLOCK_CHARS = 300

_CJK = re.compile("[\u4e00-\u9fff]")
_STOPS: dict[str, str] = {"zh": "。？！；：、.?!;", "en": ".?!;:"}
_FINAL_MARK: dict[str, str] = {"zh": "。", "en": "."}
_CLOSING_QUOTES = '"”'
_TRAILING_COMMAS = re.compile(r"[，,、]+$")
# Places where an over-long chunk may be cut: after clause marks, else after whitespace.
_BREAKS = (
    re.compile(r"(?<=[，,、；;：:])(?![，,、；;：:])"),
    re.compile(r"(?<=\s)(?=\S)"),
)
# Units never cut apart when a chunk must be cut blindly: control strings and tags.
_ATOM = re.compile(r"<\|[^|]{0,40}\|>|\[[^\[\]\s]{1,24}\]|</?[a-z]{1,16}>|.", re.S)
_ROUGH_TOKEN = re.compile(r"\w+|[^\w\s]")
# Blank lines separate paragraphs; a sentence end followed by space is a safe place to cut.
_PARAGRAPH_GAP = re.compile(r"\n[^\S\n]*\n\s*")
# Where a chunk may end in the source: after a sentence or clause mark (and a closing quote).
_CUT_MARK = re.compile(r"[.?!;:。？！；：、][\"”]?")
_SENTENCE_END = re.compile(r"[.!?;][\"”]?(?=\s)|[。！？；][\"”]?")
_LAST_SPACE = re.compile(r"\s+(?=\S*$)")
# C0/C1 controls other than tab and newline, the byte-order mark and lone surrogates.
_UNSPEAKABLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\ud800-\udfff]")
_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n", "\u2028": "\n"}


class NoTextError(EngineError):
    """The text holds nothing that can be read aloud."""


@dataclass(frozen=True)
class TextChunk:
    """One LM call's worth of normalised text, with how far into the source it reaches."""

    index: int  # 0-based position among the chunks of this text
    text: str  # normalised text, ready for the tokenizer
    done: int  # characters of the prepared text covered once this chunk has been spoken
    total: int  # characters of the prepared text

    @property
    def fraction(self) -> float:
        """Share of the text covered once this chunk has been spoken, in [0, 1]."""
        return self.done / self.total if self.total else 1.0


def prepare_text(text: str) -> str:
    """`text` with line breaks unified and invisible control characters removed.

    Raises NoTextError (an EngineError) when nothing but whitespace is left.
    """
    for old, new in _LINE_BREAKS.items():
        text = text.replace(old, new)
    text = _UNSPEAKABLE.sub("", text.replace("\u2029", "\n\n"))
    if not text.strip():
        raise NoTextError("There is no text to read: type or paste some text first.")
    return text


def contains_cjk(text: str) -> bool:
    """Whether `text` has a CJK unified ideograph, which sends it down the Chinese path."""
    return _CJK.search(text) is not None


def normalize(
    text: str,
    tokenizer: CosyTokenizer | None = None,
    split: bool = True,
    *,
    lang_hint: Lang | None = None,
    rewrite: Callable[[str, str], str] | None = None,
) -> list[str]:
    """The text as CosyVoice3 should read it (see the module docstring for the rules).

    With `split`, the chunks to synthesise one after another (their concatenation is the
    normalised text, less repeated sentence marks); otherwise a one-element list holding the
    whole normalised text, unsplit (what upstream uses for prompt transcripts). Returns [] when
    nothing is left to read. `lang_hint` forces the Chinese ("zh") or English ("en") rules
    instead of guessing from the script. Token counts need `tokenizer`; without one they are
    estimated, so chunk boundaries of English text may then differ from upstream's. `rewrite`
    (text, lang) -> text runs first, as upstream runs wetext.
    """
    if lang_hint not in (None, "zh", "en"):
        raise ValueError(f"lang_hint must be 'zh', 'en' or None, not {lang_hint!r}")
    count = _token_counter(tokenizer)
    if "<|" in text and "|>" in text:
        # Control strings mark a hand-built prompt: upstream passes it through untouched.
        if not split:
            return [text] if text else []
        return _cap(text, count) if text.strip() else []
    text = text.strip()
    lang: Lang = lang_hint or ("zh" if contains_cjk(text) else "en")
    if rewrite is not None and text:
        text = rewrite(text, lang).strip()
    text = _clean_chinese(text) if lang == "zh" else spell_out_numbers(text)
    if not text:
        return []
    if not split:
        return [text]
    if text[-1] not in _STOPS[lang]:
        text += _FINAL_MARK[lang]
    size = len if lang == "zh" else count
    chunks = _pack(split_sentences(text, _STOPS[lang]), size)
    return _drop_symbol_only([piece for chunk in chunks for piece in _cap(chunk, count)])


def iter_chunks(
    text: str,
    tokenizer: CosyTokenizer | None = None,
    *,
    lang_hint: Lang | None = None,
    rewrite: Callable[[str, str], str] | None = None,
) -> Iterator[TextChunk]:
    """Chunks of a text of any length, normalised a paragraph (at most BLOCK_CHARS) at a time.

    Raises NoTextError at once when the text is empty; the iterator raises it on its first step
    when the text turns out to hold no letter or digit. Chunks without any letter or digit are
    skipped; otherwise text shorter than BLOCK_CHARS without blank lines gives exactly
    `normalize(text)`, and paragraphs (blank-line separated) never share a chunk. Normalising
    block by block means the first chunk of a book is ready as soon as its first paragraph is.
    """
    source = prepare_text(text)
    return _chunk_stream(source, tokenizer, lang_hint, rewrite)


def _chunk_stream(
    source: str,
    tokenizer: CosyTokenizer | None,
    lang: Lang | None,
    rewrite: Callable[[str, str], str] | None,
) -> Iterator[TextChunk]:
    index = 0
    for start, end in _blocks(source):
        block = normalize(source[start:end], tokenizer, lang_hint=lang, rewrite=rewrite)
        parts = [p for p in block if _has_words(p)]
        covered = list(itertools.accumulate(len(part) for part in parts))
        # Chunks end at sentence marks, so each end is put on the mark of the source nearest
        # to where the normalised lengths place it (numbers written out stretch the text).
        marks = [m.end() for m in _CUT_MARK.finditer(source, start, end)]
        last = start
        for part, upto in zip(parts, covered, strict=True):
            guess = start + round((end - start) * upto / covered[-1])
            done = end if upto == covered[-1] else _nearest(marks, guess, last, end)
            last = done
            yield TextChunk(index=index, text=part, done=done, total=len(source))
            index += 1
    if index == 0:
        raise NoTextError(
            "The text holds only punctuation or symbols, so there is nothing to read aloud:"
            " type or paste some words first."
        )


def _nearest(marks: list[int], guess: int, low: int, high: int) -> int:
    """The mark in (low, high] closest to `guess`; `guess` itself, bounded, if there is none."""
    inside = [m for m in marks if low < m <= high]
    if not inside:
        return min(max(guess, low), high)
    return min(inside, key=lambda m: abs(m - guess))


def _blocks(source: str) -> Iterator[tuple[int, int]]:
    """Spans covering `source`: paragraphs, long ones cut after a sentence end.

    In a text longer than BLOCK_CHARS the first span is at most FIRST_BLOCK_CHARS long, so
    its first part is spoken after a few sentences are normalised, not a whole block.
    """
    start = 0
    first = [FIRST_BLOCK_CHARS if len(source) > BLOCK_CHARS else BLOCK_CHARS]
    for gap in _PARAGRAPH_GAP.finditer(source):
        yield from _windows(source, start, gap.end(), first)
        start = gap.end()
    yield from _windows(source, start, len(source), first)


def _windows(source: str, start: int, end: int, first: list[int]) -> Iterator[tuple[int, int]]:
    """Spans of [start, end) of at most BLOCK_CHARS, the first at most `first[0]` (which is
    then set to BLOCK_CHARS: only the text's first span is short)."""
    while end - start > first[0]:
        window = source[start : start + first[0]]
        first[0] = BLOCK_CHARS
        ends = [m.end() for m in _SENTENCE_END.finditer(window)]
        space = _LAST_SPACE.search(window)
        cut = ends[-1] if ends else (space.end() if space else len(window))
        yield start, start + cut
        start += cut
    if end > start:
        first[0] = BLOCK_CHARS
        yield start, end


_INFLECT_IMPORT = threading.Lock()


def _unchecked(target: Any = None, **_options: Any) -> Any:
    """typeguard's decorator, doing nothing: `@typechecked` and `@typechecked(...)` alike."""
    return target if target is not None else _unchecked


def load_inflect() -> Any:
    """The inflect module, imported with its run-time argument checks left out.

    inflect decorates its methods with typeguard's @typechecked, which re-parses inflect's
    source (23 ast.parse calls, 1.4 s on a desktop CPU) at import, i.e. on the runner's thread
    at the first number spoken. Python 3.11 keeps the AST converter's depth counter per
    interpreter, not per thread, so a parse on another thread at that moment fails with
    "SystemError: AST constructor recursion depth mismatch" (a traceback being printed parses
    too). The checks only reject wrong argument types, and cosydesk passes strings.
    """
    with _INFLECT_IMPORT:  # also keeps a second thread from seeing a half-imported module
        if "inflect" in sys.modules:
            return sys.modules["inflect"]
        import typeguard

        checked = typeguard.typechecked
        typeguard.typechecked = _unchecked  # type: ignore[assignment]
        try:
            import inflect
        finally:
            typeguard.typechecked = checked  # type: ignore[assignment]
    return inflect


def spell_out_numbers(text: str) -> str:
    """Every run of digit characters replaced by its English words, as inflect writes them."""
    if not any(ch.isdigit() for ch in text):
        return text
    inflect = load_inflect()

    # inflect keeps counters on its engine while it works: one engine per call stays thread-safe.
    engine = inflect.engine()
    pieces = []
    for is_digit, run in itertools.groupby(text, key=str.isdigit):
        chars = "".join(run)
        pieces.append(_number_words(engine, chars) if is_digit else chars)
    return "".join(pieces)


def _number_words(engine: Any, digits: str) -> str:
    inflect = load_inflect()

    try:
        return str(engine.number_to_words(digits))
    except (inflect.NumOutOfRangeError, inflect.BadNumValueError, ValueError):
        # Beyond decillions inflect gives up (upstream then fails), and past 4,300 digits
        # Python refuses to convert the string at all: read the digits one by one.
        return " ".join(str(engine.number_to_words(d)) for d in digits)


def _clean_chinese(text: str) -> str:
    text = _drop_spaces_near_cjk(text.replace("\n", ""))
    text = text.replace("²", "平方").replace("³", "立方")
    text = text.replace(".", "。").replace(" - ", "，")
    for mark in "（）【】`":
        text = text.replace(mark, "")
    text = text.replace("——", " ")
    return _TRAILING_COMMAS.sub("。", text)


def _drop_spaces_near_cjk(text: str) -> str:
    """Keep a space only between two visible ASCII characters (e.g. between English words)."""

    def ascii_word_char(pos: int) -> bool:
        return 0 <= pos < len(text) and text[pos].isascii() and text[pos] != " "

    return "".join(
        ch
        for i, ch in enumerate(text)
        if ch != " " or (ascii_word_char(i - 1) and ascii_word_char(i + 1))
    )


def split_sentences(text: str, stops: str) -> list[str]:
    """`text` cut after every mark in `stops`; a closing quote right after a mark stays with it.

    A mark directly after another mark (as in "...") is dropped, as upstream does.
    """
    sentences: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch not in stops:
            continue
        if i > start:
            sentences.append(text[start : i + 1])
        if i + 1 < len(text) and text[i + 1] in _CLOSING_QUOTES and sentences:
            sentences[-1] += text[i + 1]
            start = i + 2
        else:
            start = i + 1
    return sentences


def _pack(sentences: list[str], size: Callable[[str], int]) -> list[str]:
    """Sentences joined into chunks by upstream's CHUNK_MIN / CHUNK_MAX / MERGE_BELOW rule."""
    chunks: list[str] = []
    current, current_size = "", 0
    for sentence in sentences:
        joined_size = size(current + sentence)
        if joined_size > CHUNK_MAX and current_size > CHUNK_MIN:
            chunks.append(current)
            current, current_size = sentence, size(sentence)
        else:
            current, current_size = current + sentence, joined_size
    if current:
        if chunks and current_size < MERGE_BELOW:
            chunks[-1] += current
        else:
            chunks.append(current)
    return chunks


def _cap(chunk: str, count: Callable[[str], int], level: int = 0) -> list[str]:
    """`chunk` cut into pieces of at most MAX_CHUNK_TOKENS; unchanged when it already fits."""
    if count(chunk) <= MAX_CHUNK_TOKENS:
        return [chunk]
    if level == len(_BREAKS):
        return _cut_blind(chunk, count)
    pieces: list[str] = []
    current = ""
    for part in _BREAKS[level].split(chunk):
        if not part:
            continue
        if count(current + part) <= MAX_CHUNK_TOKENS:
            current += part
            continue
        if current:
            pieces.append(current)
        current = ""
        if count(part) <= MAX_CHUNK_TOKENS:
            current = part
        else:
            pieces += _cap(part, count, level + 1)
    if current:
        pieces.append(current)
    return pieces


def _cut_blind(chunk: str, count: Callable[[str], int]) -> list[str]:
    """Cut where nothing better exists: runs of whole characters and tags that fit."""
    atoms = _ATOM.findall(chunk)
    pieces: list[str] = []
    start = 0
    while start < len(atoms):
        take = min(MAX_CHUNK_TOKENS, len(atoms) - start)
        while take > 1 and count("".join(atoms[start : start + take])) > MAX_CHUNK_TOKENS:
            take = min(take - 1, take * 3 // 4)
        pieces.append("".join(atoms[start : start + take]))
        start += take
    return pieces


def _has_words(chunk: str) -> bool:
    # Upstream keeps chunks such as " ! 😀." (spaces are not punctuation); a narration skips them.
    return any(unicodedata.category(ch)[0] in "LN" for ch in chunk)


def _drop_symbol_only(chunks: list[str]) -> list[str]:
    """Chunks without anything but punctuation and symbols (emoji included) are not spoken."""
    return [c for c in chunks if not all(unicodedata.category(ch)[0] in "PS" for ch in c)]


def _token_counter(tokenizer: CosyTokenizer | None) -> Callable[[str], int]:
    if tokenizer is not None:
        return lambda s: len(tokenizer.encode(s))
    # Without the vocabulary: one token per word or punctuation mark, close for English text.
    return lambda s: len(_ROUGH_TOKEN.findall(s))
