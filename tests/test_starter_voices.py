"""The starter voice: fetched after the model by the download, checked by its hash, never
required. A local server plays upstream's raw files (see tests/fake_starter.py); no network."""

from __future__ import annotations

from pathlib import Path

from cosydesk import starter_voices
from cosydesk.download import ModelDownload
from cosydesk.engine.folder.modelfolder import open_model_folder


def test_the_download_fetches_the_starter_clip_after_the_model(
    hub, starter, tmp_path: Path
) -> None:
    shelf = tmp_path / "starter"
    reports: list[str] = []
    download = ModelDownload(tmp_path / "model", endpoint=hub.endpoint, starter_dir=shelf)
    download.run(lambda done, total, message: reports.append(message))
    open_model_folder(tmp_path / "model")
    voice = starter_voices.STARTER_VOICES[0]
    assert starter_voices.available(shelf) == [voice]
    assert (shelf / "zero_shot_prompt.wav").read_bytes() == starter.files[voice.path]
    assert download.notes == []
    assert "Fetching the starter voice" in reports and reports[-1] == "Downloaded"
    # A second run finds it whole and asks for nothing.
    ModelDownload(tmp_path / "model", endpoint=hub.endpoint, starter_dir=shelf).run()
    assert starter.requests == [voice.path]


def test_an_unreachable_starter_clip_leaves_a_note_and_the_model_complete(
    hub, tmp_path: Path
) -> None:
    shelf = tmp_path / "starter"
    download = ModelDownload(tmp_path / "model", endpoint=hub.endpoint, starter_dir=shelf)
    assert download.run() == tmp_path / "model"
    open_model_folder(tmp_path / "model")
    [note] = download.notes
    assert note.startswith("The starter voice could not be fetched from http://127.0.0.1:")
    assert "record a voice or add one from a clip instead" in note
    assert starter_voices.available(shelf) == []


def test_a_clip_with_other_bytes_is_not_kept(starter, tmp_path: Path) -> None:
    voice = starter_voices.STARTER_VOICES[0]
    starter.files[voice.path] = starter.files[voice.path][:-2] + b"\0\1"
    notes = starter_voices.fetch_starter_voices(tmp_path)
    assert len(notes) == 1 and "not the published clip" in notes[0]
    assert list(tmp_path.iterdir()) == []  # neither the clip nor a temporary file
    assert starter_voices.available(tmp_path) == []


def test_an_http_error_is_named(starter, tmp_path: Path) -> None:
    starter.status = 503
    [note] = starter_voices.fetch_starter_voices(tmp_path)
    assert "(HTTP 503)" in note
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_clip_on_disk_is_not_offered_and_is_fetched_again(
    starter, tmp_path: Path
) -> None:
    voice = starter_voices.STARTER_VOICES[0]
    (tmp_path / voice.filename).write_bytes(b"RIFF broken")
    assert starter_voices.available(tmp_path) == []
    assert starter_voices.fetch_starter_voices(tmp_path) == []
    assert starter_voices.available(tmp_path) == [voice]
