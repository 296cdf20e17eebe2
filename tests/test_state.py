"""The app state beside the settings: read defensively, written atomically, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosydesk.state import MAX_DRAFT_BYTES, RememberedState


def test_values_and_draft_survive_a_new_process(tmp_path: Path) -> None:
    state = RememberedState(tmp_path)
    state.set("last_voice", "Narrator")
    state.save()
    state.write_draft("Line one\nLine two, \u4e2d\u6587")
    again = RememberedState.load(tmp_path)
    assert again.get("last_voice") == "Narrator"
    assert again.read_draft() == "Line one\nLine two, \u4e2d\u6587"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_values_of_the_wrong_type_or_unknown_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"last_voice": 3, "window_geometry": "AAA", "x": 1}')
    state = RememberedState.load(tmp_path)
    assert state.get("last_voice") is None
    assert state.get("window_geometry") == "AAA"
    with pytest.raises(TypeError):
        state.set("last_voice", 3)


def test_a_pasted_lone_surrogate_does_not_stop_the_draft_being_kept(tmp_path: Path) -> None:
    state = RememberedState(tmp_path)
    state.write_draft("before \ud800 after")
    assert state.read_draft() == "before ? after"


def test_an_empty_text_removes_the_draft_and_a_huge_one_is_not_read(tmp_path: Path) -> None:
    state = RememberedState(tmp_path)
    state.write_draft("something")
    state.write_draft("")
    assert not state.draft_path.exists()
    state.draft_path.write_bytes(b"x" * (MAX_DRAFT_BYTES + 1))
    assert state.read_draft() == ""
