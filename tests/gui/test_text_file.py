"""Reading text files for the editor, and the file name suggested for their speech."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosydesk.gui.text_file import TextFileError, read_text_file, suggested_wav_name

TEXT = "Grüße aus Köln – “quoted” text.\nSecond line."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_unicode_files_read_exactly(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT.encode(encoding))
    assert read_text_file(path) == (TEXT, "")


def test_other_encodings_are_read_as_windows_1252_and_said_so(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("Café crème".encode("cp1252"))
    text, note = read_text_file(path)
    assert text == "Café crème"
    assert "Windows-1252" in note and "old.txt" in note


def test_binary_files_and_missing_files_are_refused_with_a_sentence(tmp_path: Path) -> None:
    binary = tmp_path / "picture.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(TextFileError, match="not a text file"):
        read_text_file(binary)
    with pytest.raises(TextFileError, match="could not be read"):
        read_text_file(tmp_path / "gone.txt")


def test_an_enormous_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cosydesk.gui.text_file as text_file

    monkeypatch.setattr(text_file, "MAX_TEXT_BYTES", 1000)
    path = tmp_path / "huge.txt"
    path.write_text("word " * 1000)
    with pytest.raises(TextFileError, match="open a smaller part"):
        read_text_file(path)


@pytest.mark.parametrize(
    ("text", "source", "name"),
    [
        ("Hello there, this is a long first sentence.", None, "hello-there-this-is-a-long.wav"),
        ("  ...  ", None, "speech.wav"),
        ("你好世界 2024", None, "你好世界-2024.wav"),
        ("Anything", Path("/books/Moby Dick.txt"), "Moby Dick.wav"),
    ],
)
def test_the_suggested_name_comes_from_the_file_or_the_first_words(
    text: str, source: Path | None, name: str
) -> None:
    assert suggested_wav_name(text, source) == name
