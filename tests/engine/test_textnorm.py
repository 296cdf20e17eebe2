"""Text normalisation and chunking: upstream parity on the goldens, long and odd text behaviour."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from cosydesk.engine.errors import EngineError
from cosydesk.engine.text import textnorm
from cosydesk.engine.text.textnorm import (
    CHUNK_MIN,
    MAX_CHUNK_TOKENS,
    NoTextError,
    iter_chunks,
    normalize,
    prepare_text,
    spell_out_numbers,
    split_sentences,
)
from cosydesk.engine.text.tokenizer import CosyTokenizer

EMPTY_MESSAGE = "There is no text to read: type or paste some text first."
PROSE_WORDS = (
    "the river ran past an old mill where a miller kept three grey cats and counted his"
    " sacks of flour every morning before the sun rose over quiet hills"
)


def _english_prose(sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = PROSE_WORDS.split()
    out = []
    for _ in range(sentences):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 24)))
        out.append(sentence.capitalize() + rng.choice([".", ".", "?", "!", ";"]))
    return " ".join(out)


def _chinese_prose(sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    chars = "我们今天一起去公园散步看见很多花草树木还有小鸟在天空中自由地飞翔心里非常高兴"
    return (
        "".join(
            "".join(rng.choice(chars) for _ in range(rng.randint(5, 30))) + rng.choice("，。！？。")
            for _ in range(sentences)
        ).rstrip("，")
        + "。"
    )


# -- parity with upstream's fallback frontend --------------------------------------------------


@pytest.mark.parametrize("index", range(9))
def test_golden_cases_normalise_like_upstream(
    tokenizer: CosyTokenizer, golden_tokens: dict, index: int
) -> None:
    case = golden_tokens["cases"][index]
    chunks = normalize(case["text"], tokenizer)
    assert chunks == case["normalized_split"]
    assert [tokenizer.encode(c) for c in chunks] == case["normalized_ids"]


def test_e2e_texts_normalise_like_upstream(tokenizer: CosyTokenizer, parity_dir: Path) -> None:
    texts = json.loads((parity_dir / "golden" / "e2e.json").read_text(encoding="utf-8"))
    with np.load(parity_dir / "golden" / "e2e.npz", allow_pickle=False) as e2e:
        text_ids, prompt_ids = e2e["text"][0].tolist(), e2e["prompt_text"][0].tolist()
    chunks = normalize(texts["tts_text"], tokenizer, split=True)
    prompt = normalize(texts["prompt_text"], tokenizer, split=False)
    assert chunks == [texts["tts_text_normalized"]]
    assert prompt == [texts["prompt_text_normalized"]]
    assert [tokenizer.encode(chunks[0]), tokenizer.encode(prompt[0])] == [text_ids, prompt_ids]


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Hello world, this is a parity test.", "Hello world, this is a parity test."),
        (
            "The quick brown fox jumps over the lazy dog.",
            "The quick brown fox jumps over the lazy dog.",
        ),
        # The LM golden of case C took the raw text (test_tokenizer checks those ids).
        ("我今天学了 machine learning。", "我今天学了machine learning。"),
    ],
    ids=["A", "B", "C"],
)
def test_greedy_case_texts(tokenizer: CosyTokenizer, text: str, normalised: str) -> None:
    assert normalize(text, tokenizer) == [normalised]


# -- the individual rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("2024", "two thousand and twenty-four"),
        ("$3.50", "$three.fifty"),
        ("[AH0][OW1]", "[AHzero][OWone]"),
        (
            "1234567",
            "one million, two hundred and thirty-four thousand, five hundred and sixty-seven",
        ),
        ("007 and 0", "seven and zero"),
        ("no digits", "no digits"),
    ],
)
def test_numbers_are_spelled_out_like_inflect(text: str, spoken: str) -> None:
    assert spell_out_numbers(text) == spoken


def test_numbers_too_long_for_inflect_are_read_digit_by_digit() -> None:
    assert spell_out_numbers("x" + "12" * 30) == "x" + " ".join(["one", "two"] * 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好 世界", ["你好世界。"]),
        ("价格是3.5元", ["价格是3。5元。"]),
        ("面积5m²（约）", ["面积5m平方约。"]),
        ("【注意】这是——测试", ["注意这是 测试。"]),
        ("第一行\n第二行,", ["第一行第二行。"]),
        ("中文 a - b 文", ["中文a，b文。"]),
        # The space before " - " is dropped first (it touches a CJK character), so no comma.
        ("中文 - English words here", ["中文- English words here。"]),
    ],
)
def test_chinese_rules(tokenizer: CosyTokenizer, text: str, expected: list[str]) -> None:
    assert normalize(text, tokenizer) == expected


def test_sentence_marks_and_quotes() -> None:
    assert split_sentences('He said "go." Then left!', ".!") == ['He said "go."', " Then left!"]
    # Repeated marks collapse to one, as upstream does.
    assert split_sentences("Wait... what?!", ".?!") == ["Wait.", " what?"]
    # A quote right after a leading mark (upstream fails here) starts the next sentence.
    assert split_sentences('."Hi."', ".") == ['"Hi."']


def test_final_period_is_added_and_symbol_only_chunks_are_dropped(tokenizer: CosyTokenizer) -> None:
    assert normalize("Hello there", tokenizer) == ["Hello there."]
    assert normalize("Done!", tokenizer) == ["Done!"]
    assert normalize("😀😀", tokenizer) == []
    # Upstream keeps this one (its spaces are not punctuation); iter_chunks skips it.
    assert normalize("... !!! 😀", tokenizer) == [" ! 😀."]


def test_control_string_prompts_are_taken_verbatim(tokenizer: CosyTokenizer) -> None:
    text = "  Speak slowly 2 times.<|endofprompt|>Read 3 lines  "
    assert normalize(text, tokenizer) == [text]
    assert normalize(text, tokenizer, split=False) == [text]


def test_unsplit_normalisation_has_no_added_period(tokenizer: CosyTokenizer) -> None:
    assert normalize("  I have 2 cats  ", tokenizer, split=False) == ["I have two cats"]
    assert normalize("   ", tokenizer, split=False) == []
    assert normalize("", tokenizer) == []


def test_language_hint_overrides_detection(tokenizer: CosyTokenizer) -> None:
    assert normalize("Room 101 is here", tokenizer, lang_hint="zh") == ["Room 101 is here。"]
    assert normalize("中文 12", tokenizer, lang_hint="en") == ["中文 twelve."]
    with pytest.raises(ValueError, match="lang_hint"):
        normalize("text", tokenizer, lang_hint="fr")  # type: ignore[arg-type]


# -- long text ----------------------------------------------------------------------------------


def test_long_english_paragraph_is_split_into_model_sized_chunks(tokenizer: CosyTokenizer) -> None:
    text = _english_prose(120)
    chunks = normalize(text, tokenizer)
    sizes = [len(tokenizer.encode(c)) for c in chunks]
    assert len(chunks) > 10
    assert "".join(chunks) == text
    assert max(sizes) <= MAX_CHUNK_TOKENS
    # A chunk is closed only once it is past CHUNK_MIN tokens, and always after a sentence mark.
    assert all(size > CHUNK_MIN for size in sizes[:-1])
    assert all(c[-1] in ".?!;:" for c in chunks)


def test_long_chinese_paragraph_is_split_by_characters(tokenizer: CosyTokenizer) -> None:
    text = _chinese_prose(80)
    chunks = normalize(text, tokenizer)
    assert len(chunks) > 5
    assert "".join(chunks) == text
    assert all(len(c) > CHUNK_MIN for c in chunks[:-1])
    assert all(c[-1] in "。！？" for c in chunks)
    assert max(len(tokenizer.encode(c)) for c in chunks) <= MAX_CHUNK_TOKENS


@pytest.mark.parametrize(
    "text",
    [
        " ".join(["word"] * 1500),
        "我们今天一起去公园散步" * 200,
        "，".join(["我们今天一起去公园散步"] * 100),
        "[breath]" + "长" * 999 + "<|endofprompt|>" + "短" * 999,
        "https://example.com/" + "a" * 3000,
    ],
    ids=["english-run-on", "chinese-no-marks", "chinese-commas", "with-markers", "url"],
)
def test_run_on_text_is_capped_without_losing_text(tokenizer: CosyTokenizer, text: str) -> None:
    chunks = normalize(text, tokenizer)
    assert max(len(tokenizer.encode(c)) for c in chunks) <= MAX_CHUNK_TOKENS
    joined = "".join(chunks)
    assert joined in (text, text + ".", text + "。")
    # Control strings are never cut in two.
    assert sum(c.count("[breath]") + c.count("<|endofprompt|>") for c in chunks) == (
        text.count("[breath]") + text.count("<|endofprompt|>")
    )


def test_without_tokenizer_english_is_still_chunked() -> None:
    chunks = normalize(_english_prose(60), None)
    assert len(chunks) > 3
    assert "".join(chunks) == _english_prose(60)


# -- user input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t \r\n", "\x00\x07\x1b", "\ufeff \u2028"])
def test_empty_text_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(NoTextError) as info:
        prepare_text(text)
    assert isinstance(info.value, EngineError)
    assert str(info.value) == EMPTY_MESSAGE
    with pytest.raises(NoTextError):
        iter_chunks(text)


def test_control_characters_are_stripped() -> None:
    assert prepare_text("Hi\x00 there\x1b[0m\r\nok\x7f\tfine\r") == "Hi there[0m\nok\tfine\n"


@pytest.mark.parametrize(
    "text",
    [
        "שלום עולם, 123 פעמים.",
        "مرحبا بالعالم ١٢٣",
        "\u202eevil\u202c text \u200f\u200b",
        "👩‍👩‍👧 family 🇫🇷 flag ❤️",
        "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
        "x² ① ٣ ",
        "a\ud800b\udfff",
        "\x00" * 5 + "ok",
    ],
)
def test_odd_characters_do_not_crash(tokenizer: CosyTokenizer, text: str) -> None:
    for chunk in iter_chunks(text, tokenizer):
        ids = tokenizer.encode(chunk.text)
        assert 0 < len(ids) <= MAX_CHUNK_TOKENS
        assert "\x00" not in chunk.text


def test_only_symbols_is_refused_when_iterated(tokenizer: CosyTokenizer) -> None:
    chunks = iter_chunks("😀 ... ❤️", tokenizer)
    with pytest.raises(NoTextError, match="only punctuation or symbols"):
        next(chunks)


# -- iter_chunks -------------------------------------------------------------------------------


def test_short_text_chunks_equal_normalize(tokenizer: CosyTokenizer) -> None:
    text = _english_prose(14, seed=3)
    assert len(text) < textnorm.BLOCK_CHARS
    chunks = list(iter_chunks(text, tokenizer))
    assert len(chunks) > 1
    assert [c.text for c in chunks] == normalize(text, tokenizer)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_paragraphs_never_share_a_chunk(tokenizer: CosyTokenizer) -> None:
    text = "First paragraph without a mark\n\n  \nSecond one. 第三段\n\n"
    assert [c.text for c in iter_chunks(text, tokenizer)] == [
        "First paragraph without a mark.",
        "Second one。第三段。",  # CJK in the paragraph: Chinese rules
    ]


def test_long_narration_is_chunked_lazily_with_progress(
    tokenizer: CosyTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    paragraphs = [_english_prose(8, seed=i) for i in range(400)]
    paragraphs[7] = _chinese_prose(40, seed=7)
    text = "\n\n".join(paragraphs)
    assert len(text) > 200_000
    calls = []
    real_normalize = textnorm.normalize
    monkeypatch.setattr(
        textnorm, "normalize", lambda *a, **k: calls.append(1) or real_normalize(*a, **k)
    )
    chunks = iter_chunks(text, tokenizer)
    first = next(chunks)
    assert len(calls) == 1  # only the first paragraph was normalised so far
    assert 0 < first.fraction < 0.01
    rest = list(chunks)
    fractions = [c.fraction for c in [first, *rest]]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert [c.index for c in rest] == list(range(1, len(rest) + 1))
    assert max(len(tokenizer.encode(c.text)) for c in rest) <= MAX_CHUNK_TOKENS


def test_a_long_paragraph_starts_after_a_few_sentences_are_normalised(
    tokenizer: CosyTokenizer,
) -> None:
    """A 10,000-character paragraph: its first part is ready once a few sentences went through
    the rules, as for a one-sentence text, not once a whole 2,000-character block did."""
    text = _english_prose(130, seed=3)
    assert len(text) > 5 * textnorm.BLOCK_CHARS and "\n" not in text
    seen: list[str] = []

    def rewrite(passage: str, lang: str) -> str:
        seen.append(passage)
        return passage

    chunks = iter_chunks(text, tokenizer, rewrite=rewrite)
    first = next(chunks)
    assert first.text and sum(len(p) for p in seen) <= textnorm.FIRST_BLOCK_CHARS
    rest = list(chunks)
    assert sum(len(p) for p in seen) >= len(text) - 100  # all of it, in the end
    assert rest[-1].done == len(text)


def test_huge_paragraph_is_cut_at_sentence_ends(tokenizer: CosyTokenizer) -> None:
    text = _english_prose(600, seed=5)  # one paragraph, far more than a block
    assert len(text) > 5 * textnorm.BLOCK_CHARS
    chunks = list(iter_chunks(text, tokenizer))
    sentences = split_sentences(text, ".?!;:")
    # Cutting into blocks only moves chunk boundaries: no sentence is broken or lost.
    assert "".join(c.text for c in chunks).replace(" ", "") == "".join(sentences).replace(" ", "")
    assert all(c.text[-1] in ".?!;:" for c in chunks)


def test_each_chunk_ends_where_its_sentences_end_in_the_source(tokenizer: CosyTokenizer) -> None:
    # Numbers written out make the normalised text far longer than the source; the offsets
    # still have to point at the source's sentence ends (the window highlights by them).
    text = " ".join(
        f"In {1000 + n * 37} we counted {n * 123457} birds and {n} cats." for n in range(1, 30)
    )
    chunks = list(iter_chunks(text, tokenizer))
    assert len(chunks) >= 3
    start = 0
    for chunk in chunks:
        assert text[chunk.done - 1] == "."
        assert spell_out_numbers(text[start : chunk.done]).strip() == chunk.text.strip()
        start = chunk.done
    assert start == len(text)


_PARSES_WHILE_SPELLING = """
import ast, sys
parsed = []
real_parse = ast.parse
ast.parse = lambda *a, **k: parsed.append(1) or real_parse(*a, **k)
from cosydesk.engine.text.textnorm import spell_out_numbers
assert spell_out_numbers("Chapter 12") == "Chapter twelve"
import typeguard
assert typeguard.typechecked.__name__ == "typechecked", "typeguard left patched"
print(len(parsed))
"""


def test_the_first_number_spoken_parses_no_python_source() -> None:
    """inflect's typeguard decorators used to parse its source 23 times on the runner's thread
    (1.4 s at the first number); Python 3.11 then fails any parse on another thread with
    "AST constructor recursion depth mismatch", as pytest's own report did in CI."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _PARSES_WHILE_SPELLING],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_a_number_of_thousands_of_digits_is_read_digit_by_digit() -> None:
    # Past 4,300 digits Python will not turn the string into an integer at all; a voice's
    # transcript is normalised whole, so such a number reached inflect in one piece.
    spoken = normalize("It costs " + "9" * 5000 + " dollars.", split=False)
    assert spoken == ["It costs " + " ".join(["nine"] * 5000) + " dollars."]
