"""Fuzz: every hostile settings file loads, with defaults where it must and a sentence per fault.

For each generated case: `Settings.load` returns (never raises), every value in force is a valid
one, each warning is one readable line, the file's bytes still exist somewhere in its folder
(in place, or kept aside, or backed up before a migration), and what is loaded can be saved and
loaded again without a warning. Fixed seeds: a failure names its case, which
`settings_case(random.Random(case))` replays on its own.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from cosydesk.config import OPTIONS, Settings, coerce
from tests.fuzz.sentence import assert_sentence
from tests.fuzz.settings_files import SettingsCase, settings_case

GROUP = "settings files"
SEEDS = range(8)
CASES_PER_SEED = 300
PLANNED = len(SEEDS) * CASES_PER_SEED


def _place(case: SettingsCase, path: Path) -> None:
    if case.node == "file":
        assert case.content is not None
        path.write_bytes(case.content)
    elif case.node == "folder":
        path.mkdir()
        (path / "inside.txt").write_text("kept")
    elif case.node == "fifo":
        os.mkfifo(path)
    elif case.node == "dangling-link":
        path.symlink_to(path.with_name("nowhere.json"))
    elif case.node == "link-loop":
        path.symlink_to(path)
    elif case.node == "link-to-file":
        assert case.content is not None
        real = path.with_name("real-settings.json")
        real.write_bytes(case.content)
        path.symlink_to(real)


def _survivors(folder: Path) -> tuple[set[bytes], set[str]]:
    """The contents of the regular files in `folder`, and the kinds of everything else."""
    contents: set[bytes] = set()
    kinds: set[str] = set()
    for entry in folder.iterdir():
        mode = entry.lstat().st_mode
        if stat.S_ISREG(mode):
            contents.add(entry.read_bytes())
        elif stat.S_ISDIR(mode):
            kinds.add("folder" if (entry / "inside.txt").read_text() == "kept" else "other")
        elif stat.S_ISFIFO(mode):
            kinds.add("fifo")
        elif stat.S_ISLNK(mode):
            kinds.add("link")
    return contents, kinds


def _check(case: SettingsCase, folder: Path, label: str) -> None:
    path = folder / "settings.json"
    _place(case, path)
    settings = Settings.load(path, environ={})

    for option in OPTIONS:
        value = settings.get(option.name)
        assert coerce(option, value) == value, f"{label}: {option.name} = {value!r}"
        settings.effective(option.name)
    for warning in settings.warnings:
        assert_sentence(warning.replace(str(folder), "FOLDER"), label)

    contents, kinds = _survivors(folder)
    if case.node == "file":
        assert case.content in contents, f"{label}: the original bytes are gone"
    elif case.node in ("folder", "fifo"):
        assert case.node in kinds, f"{label}: the {case.node} is gone"
    elif case.node != "link-to-file":
        assert "link" in kinds, f"{label}: the link is gone"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")], label

    settings.save()
    again = Settings.load(path, environ={})
    assert again.warnings == [], f"{label}: {again.warnings}"
    assert again.as_dict() == settings.as_dict(), label


@pytest.mark.skipif(sys.platform == "win32", reason="pipes and links")
@pytest.mark.parametrize("seed", SEEDS)
def test_every_settings_file_loads_with_sentences_and_loses_nothing(
    tmp_path: Path, seed: int, cases: Any
) -> None:
    for number in range(seed * CASES_PER_SEED, (seed + 1) * CASES_PER_SEED):
        case = settings_case(random.Random(number))
        folder = tmp_path / str(number)
        folder.mkdir()
        _check(case, folder, f"case {number}: {case.description}")
        shutil.rmtree(folder)
        cases()
