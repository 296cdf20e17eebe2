"""Sentences as a listener counts them, and the places kept for "Continue"."""

from __future__ import annotations

from pathlib import Path

from cosydesk.gui.reading_place import ReadingPlaces
from cosydesk.gui.sentences import next_sentence, sentence_at, sentence_spans, word_start

TEXT = 'Hello there. She said "go." Next one!\n\nA heading\n第一句。第二句。'


def test_sentences_end_on_their_marks_quotes_and_line_breaks() -> None:
    spans = [TEXT[a:b] for a, b in sentence_spans(TEXT)]
    assert spans == [
        "Hello there.",
        'She said "go."',
        "Next one!",
        "A heading",
        "第一句。",
        "第二句。",
    ]
    assert sentence_at(TEXT, TEXT.index("said")) == (13, 27)
    assert sentence_at(TEXT, len(TEXT)) is None


def test_next_and_previous_sentence_and_the_ends() -> None:
    here = TEXT.index("said")
    assert next_sentence(TEXT, here, 1) == TEXT.index("Next")
    assert next_sentence(TEXT, here, -1) == 0
    assert next_sentence(TEXT, 0, -1) == 0  # before the first: the first again
    assert next_sentence(TEXT, TEXT.index("第二"), 1) is None


def test_reading_from_the_cursor_starts_at_the_word_it_is_in() -> None:
    assert word_start(TEXT, TEXT.index("here.")) == TEXT.index("there")
    assert word_start(TEXT, len(TEXT)) == len(TEXT)


def test_a_place_is_kept_for_its_text_only_and_survives_a_restart(tmp_path: Path) -> None:
    places = ReadingPlaces(tmp_path / "places.json")
    places.remember(TEXT, 13)
    again = ReadingPlaces(tmp_path / "places.json")
    assert again.place(TEXT) == 13
    assert again.place(TEXT + " More.") is None  # a changed text: its characters moved
    again.forget(TEXT)
    assert ReadingPlaces(tmp_path / "places.json").place(TEXT) is None


def test_a_damaged_places_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "places.json").write_text("{not json")
    places = ReadingPlaces(tmp_path / "places.json")
    assert places.place(TEXT) is None
    places.remember(TEXT, 5)
    assert ReadingPlaces(tmp_path / "places.json").place(TEXT) == 5
