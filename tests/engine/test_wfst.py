"""wetext's grammars put numbers, dates and amounts in spoken form before the basic rules."""

from __future__ import annotations

import sys

import pytest

from cosydesk.engine.errors import EngineError
from cosydesk.engine.text.textnorm import normalize
from cosydesk.engine.text.wfst import WeTextRewriter, make_rewriter

pytest.importorskip("wetext", reason="wetext is not installed (pip install wetext)")


@pytest.fixture(scope="module")
def wetext() -> WeTextRewriter:
    return WeTextRewriter()


def test_amounts_dates_and_units_are_read_as_words(wetext: WeTextRewriter) -> None:
    spoken = wetext("It cost $5 on 3 May 2024 and weighed 3.5kg, 25% more.", "en")
    assert not any(ch.isdigit() for ch in spoken)
    for words in ("five dollars", "may", "twenty twenty four", "kilograms", "percent"):
        assert words in spoken.lower()


def test_chinese_dates_and_percentages_are_read_in_chinese(wetext: WeTextRewriter) -> None:
    assert wetext("2024年3月5日，占50%。", "zh") == "二零二四年三月五日，占百分之五十。"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # The grammar alone drops the "one" of 1,ddd and reads decades as seconds.
        ("Sold 1,234 units.", "Sold one thousand two hundred and thirty four units."),
        ("It cost $1,500.", "It cost one thousand five hundred dollars."),
        ("Only 1,005 left", "Only one thousand and five left"),
        ("Music of the 1990s.", "Music of the nineteen ninety's."),
        ("Since 1990, 12,345 people.", "Since nineteen ninety, twelve thousand three hundred"),
        # Its output escapes quotes; the model gets the text itself.
        ('He said "5 apples".', 'He said "five apples".'),
    ],
)
def test_misreadings_of_the_english_grammar_are_put_right(
    wetext: WeTextRewriter, text: str, spoken: str
) -> None:
    assert wetext(text, "en").startswith(spoken)


def test_japanese_keeps_its_digits_rather_than_get_chinese_readings(
    wetext: WeTextRewriter,
) -> None:
    text = "2024年3月5日に東京で会いましょう。"  # kanji send it down the Chinese path
    assert wetext(text, "zh") == text


def test_tags_line_breaks_and_spacing_pass_through(wetext: WeTextRewriter) -> None:
    text = "Say [AH0] 5 times.\n\nThen  wait 2 days <|endofprompt|> ok."
    spoken = wetext(text, "en")
    assert spoken == "Say [AH0] five times.\n\nThen  wait two days <|endofprompt|> ok."


def test_a_passage_the_grammar_rejects_is_kept_for_the_basic_rules(
    wetext: WeTextRewriter, caplog: pytest.LogCaptureFixture
) -> None:
    # The English grammar fails on a lone NUL; the rest of the text is still rewritten.
    assert wetext("Pay 5 now.\n\x00\nThen 6.", "en") == "Pay five now.\n\x00\nThen six."
    assert "wetext failed" in caplog.text


def test_normalize_runs_the_rewriter_before_the_basic_rules(wetext: WeTextRewriter) -> None:
    text = "Tickets cost $12 each."
    assert normalize(text, split=False) == ["Tickets cost $twelve each."]
    assert normalize(text, split=False, rewrite=wetext) == ["Tickets cost twelve dollars each."]
    assert normalize("票价12元。", split=False, rewrite=wetext) == ["票价十二元。"]


def test_basic_needs_no_rewriter_and_unknown_names_are_refused() -> None:
    assert make_rewriter("basic") is None
    with pytest.raises(EngineError, match="Unknown text normalisation 'fancy'"):
        make_rewriter("fancy")


def test_a_missing_wetext_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wetext", None)  # what `import wetext` sees when absent
    with pytest.raises(EngineError, match="pip install wetext"):
        make_rewriter("wetext")


def test_a_wetext_that_fails_to_load_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    real_import = builtins.__import__

    def broken(name: str, *args, **kwargs):
        if name == "wetext":
            raise OSError("libkaldifst_core.so: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "wetext", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(EngineError, match=r"does not load .*libkaldifst_core"):
        make_rewriter("wetext")


@pytest.mark.parametrize("text", ["Red \x1b[31m alert", "?!… —"])
def test_a_passage_the_grammar_rejects_prints_one_line_and_no_traceback(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    # What `cosydesk say` sets up: warnings on stderr (logging.basicConfig at WARNING).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("cosydesk.engine.text.wfst")
    logger.addHandler(handler)
    try:
        rewriter = WeTextRewriter()
        assert rewriter(text, "en") == text
        assert rewriter(text + " Again.", "en").startswith(text)
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # One warning line, however often the grammar fails.
    assert err.startswith("WARNING cosydesk.engine.text.wfst: wetext failed on a passage")
    assert err.count("\n") == 1
