"""Text files into the editor, and a file name for the speech made from a text.

Only QtCore is used, for the translation of the sentences; no QApplication is needed."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QCoreApplication

from cosydesk.gui.i18n import QT_TRANSLATE_NOOP

# A novel is a few MB; beyond this it is almost certainly not a text file meant to be read.
MAX_TEXT_BYTES = 50 * 1024 * 1024
# Shown through QCoreApplication.translate("TextFile", TEXT_FILTER).
TEXT_FILTER = QT_TRANSLATE_NOOP("TextFile", "Text files (*.txt *.md *.text);;All files (*)")

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class TextFileError(Exception):
    """The file cannot be read as text; the message says why and what to do."""


def read_text_file(path: Path) -> tuple[str, str]:
    """(text, note): the file's text, and a sentence when its encoding had to be guessed.

    UTF-8 (with or without a byte-order mark) and UTF-16 with a byte-order mark are read as
    such; anything else is read as Windows-1252, which never fails, and the note says so.
    """
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise TextFileError(
                QCoreApplication.translate(
                    "TextFile",
                    "{name} is {size:.0f} MB, more than the {most:.0f} MB a text file can be "
                    "here: open a smaller part.",
                ).format(name=path.name, size=size / 1e6, most=MAX_TEXT_BYTES / 1e6)
            )
        data = path.read_bytes()
    except OSError as exc:
        raise TextFileError(
            QCoreApplication.translate("TextFile", "{name} could not be read: {reason}.").format(
                name=path.name, reason=exc.strerror
            )
        ) from exc
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TextFileError(
            QCoreApplication.translate(
                "TextFile", "{} is not a text file (it holds binary data): choose a .txt file."
            ).format(path.name)
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), ""
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), QCoreApplication.translate(
            "TextFile",
            "{} is not UTF-8; it was read as Windows-1252, so some letters may be wrong. "
            "Save it as UTF-8 to be sure.",
        ).format(path.name)


def suggested_wav_name(text: str, source: Path | None = None, words: int = 6) -> str:
    """A file name for the speech of `text`: the source file's name, else its first words."""
    if source is not None:
        return source.with_suffix(".wav").name
    found = _WORD.findall(text)[:words]
    stem = "-".join(word.lower() for word in found)[:60].strip("-")
    return f"{stem or 'speech'}.wav"
