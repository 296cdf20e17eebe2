"""Fuzz: saving a WAV file anywhere ends in a file or one sentence, and nothing else changes.

Each generated case builds its folder, saves through `WavWriter` (or `cosydesk say`'s checks,
which run before any model loads), and then compares the folder with how it was: only the
target may have become a WAV file, and only when it was absent or a regular file that the
case allowed to be replaced (through a link, the file the link names); temp files of dead
writers may be swept; nothing else may differ. Fixed seeds: a failure names its case, which
`output_case(random.Random(case))` replays on its own.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from cosydesk import cli
from cosydesk.audio.wavfile import WavWriter
from tests.fuzz.output_paths import DEAD_PID, Node, OutputCase, output_case
from tests.fuzz.sentence import assert_sentence

GROUP = "output paths"
SEEDS = range(6)
CASES_PER_SEED = 300
PLANNED = len(SEEDS) * CASES_PER_SEED
AUDIO = (0.2 * np.sin(np.arange(480) / 8.0)).astype(np.float32)

Snapshot = dict[str, tuple[object, ...]]


def _make(node: Node, box: Path) -> None:
    path = box / node.path
    if any(len(part.encode()) > 255 for part in Path(node.path).parts):
        return  # no file system takes the name: the case saves to a path that cannot exist
    if node.kind == "file":
        assert isinstance(node.payload, bytes)
        path.write_bytes(node.payload)
    elif node.kind in ("dir", "ro-dir"):
        path.mkdir()
    elif node.kind == "fifo":
        os.mkfifo(path)
    elif node.kind == "socket":
        _bind(path)
    elif node.kind == "device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            os.mkfifo(path)
    elif node.kind == "link":
        assert isinstance(node.payload, str)
        path.symlink_to(node.payload)


def _bind(path: Path) -> None:
    """A socket file at `path` (it stays after the socket closes); a pipe where the name is
    too long for a socket address (about 100 bytes)."""
    here = os.getcwd()
    os.chdir(path.parent)  # a relative address keeps the long temp folder out of it
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(path.name)
    except OSError:
        os.mkfifo(path.name)
    finally:
        os.chdir(here)


def _appear(kind: str, target: Path) -> None:
    """Put a `kind` at the target while a save runs, where the folder lets us."""
    with contextlib.suppress(OSError):
        if kind == "file":
            target.write_bytes(b"late")
        elif kind == "dir":
            target.mkdir()
        else:
            os.mkfifo(target)


def _snapshot(root: Path) -> Snapshot:
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            mode = path.lstat().st_mode
            key = os.fspath(path.relative_to(root))
            if stat.S_ISLNK(mode):
                found[key] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                found[key] = ("file", path.read_bytes())
            elif stat.S_ISDIR(mode):
                found[key] = ("dir",)
            else:
                found[key] = ("special", stat.S_IFMT(mode))
    return found


def _save(case: OutputCase, target: Path) -> str | None:
    """Save through the writer or the command line; None when saved, else the message."""
    if case.via_cli:
        args = ["say", "Hello.", "-o", os.fspath(target), "--voice", "Nobody"]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = cli.main([*args, "--overwrite"] if case.overwrite else args)
        assert code == cli.EXIT_ERROR  # no voice and no model: it always ends in a sentence
        text = err.getvalue()
        assert text.startswith("cosydesk: ") and text.count("\n") == 1, repr(text)
        return text.removeprefix("cosydesk: ")
    try:
        wav = WavWriter(target, overwrite=case.overwrite)
        wav.write(AUDIO)
        if case.late is not None:
            _appear(case.late, target)
        wav.commit()
    except OSError as exc:
        assert exc.__class__.__module__ == "cosydesk.audio.wavfile", repr(exc)
        return str(exc)
    return None


def _check(case: OutputCase, root: Path, label: str) -> None:
    box = root / "box"
    box.mkdir()
    for node in case.nodes:
        _make(node, box)
    target = box / case.target
    final = Path(os.path.realpath(target))
    was = _snapshot(root)
    for node in case.nodes:
        if node.kind == "ro-dir":
            (box / node.path).chmod(0o555)
    try:
        message = _save(case, target)
    finally:
        for node in case.nodes:
            if node.kind == "ro-dir":
                (box / node.path).chmod(0o755)
    now = _snapshot(root)

    key = os.fspath(final.relative_to(root)) if final.is_relative_to(root) else None
    if message is not None:
        assert_sentence(message.replace(os.fspath(root), "ROOT"), label)
    elif not case.via_cli:
        assert key is not None, f"{label}: saved outside the case folder, at {final}"
        before = was.get(key)
        assert before is None or (case.overwrite and before[0] == "file"), f"{label}: {before}"
        assert soundfile.info(final).frames == AUDIO.size, label
    if case.late is not None and key in now and now[key][0] != "file":
        assert message is not None, f"{label}: a late {case.late} was replaced"

    stale = f".{DEAD_PID}-"
    for path, entry in was.items():
        if path == key and (message is None or case.late is not None):
            continue  # the saved file, or what appeared there during the save
        if stale in path and path.endswith(".wav.part"):
            continue  # left by a writer that no longer runs: may be swept
        assert now.get(path) == entry, f"{label}: {path} changed: {entry!r} -> {now.get(path)!r}"
    appeared = set(now) - set(was) - {key}
    assert not appeared, f"{label}: new files {appeared}"


@pytest.mark.skipif(sys.platform == "win32", reason="pipes, sockets and links")
@pytest.mark.parametrize("seed", SEEDS)
def test_every_save_ends_in_a_file_or_a_sentence_and_touches_nothing_else(
    tmp_path: Path, seed: int, cases: Any
) -> None:
    for number in range(seed * CASES_PER_SEED, (seed + 1) * CASES_PER_SEED):
        case = output_case(random.Random(number))
        root = tmp_path / str(number)
        root.mkdir()
        _check(case, root, f"case {number}: {case.description}")
        shutil.rmtree(root)
        cases()
