"""The settings file on disk: read defensively, written atomically.

Reading refuses, with a reason that completes a sentence, anything that is not a sane JSON
object: a folder or pipe in its place, over 1 MB, not UTF-8 (a byte order mark is fine), JSON
nested so deeply or with an integer so long that Python's parser gives up. `cosydesk.config`
keeps such a file aside and starts from defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# cosydesk writes a few hundred bytes of flat JSON; anything far beyond is not its file.
MAX_FILE_BYTES = 1_000_000
MAX_NESTING = 32


class UnusableFile(Exception):
    """The settings file cannot be read as settings; the message says why, for a sentence."""


def read_object(path: Path) -> dict[str, Any]:
    """The JSON object stored at `path`.

    FileNotFoundError when there is none; UnusableFile, whose message completes a sentence
    ("it is a folder, not a file"), for anything that is not a readable, sane JSON object.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnusableFile(f"it cannot be opened: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnusableFile("it is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):  # a pipe would block the start for good
        raise UnusableFile("it is not a regular file")
    too_large = UnusableFile(f"it is larger than {MAX_FILE_BYTES // 1_000_000} MB")
    if info.st_size > MAX_FILE_BYTES:
        raise too_large
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnusableFile(f"it cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise too_large
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark is not damage
    except UnicodeDecodeError:
        raise UnusableFile("it is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise UnusableFile("it is nested too deeply") from None
    except json.JSONDecodeError:
        raise UnusableFile("it is damaged: not valid JSON") from None
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        raise UnusableFile("it holds a number too long to read") from None
    if not isinstance(data, dict):
        kinds: dict[type, str] = {list: "a list", str: "a text"}
        kind = kinds.get(type(data), "a single value")
        raise UnusableFile(f"it holds {kind} instead of named settings")
    if _nesting(data) > MAX_NESTING:
        # Read back, it would also fail to be written (json's indenting encoder recurses).
        raise UnusableFile("it is nested too deeply")
    return data


def _nesting(value: Any) -> int:
    """How deeply lists and objects nest in `value`, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def free_name(path: Path) -> Path:
    """`path`, or `path` with a counter appended when that name is taken."""
    candidate, counter = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{counter}")
        counter += 1
    return candidate


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file in the same folder, fsync and rename; the
    file is created readable by its owner only. OSError if the folder cannot be written."""
    replace_atomically(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Have `write(temp)` fill a temp file beside `path` (created readable by its owner only),
    fsync it and rename it over `path`; the temp file goes if anything fails. OSError if the
    folder cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(temp))
        with open(temp, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    # The rename itself survives a power cut only once the folder entry is on disk.
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
