"""`cosydesk voices`: the app's voice library from the command line, on the settings and data
folders the app would use (COSYDESK_CONFIG_DIR / COSYDESK_DATA_DIR). Most runs go through the
command's entry function in this process (the same `cli.main` the `cosydesk` script calls, and
fast); one journey runs `python -m cosydesk` as a person's shell would."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cosydesk import cli

REPO = Path(__file__).resolve().parent.parent
SR = 24000


def cosydesk(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`cosydesk ARGS` through `cli.main`: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli.main(list(args))
            except SystemExit as exit_:  # argparse ends a usage error so
                status = int(exit_.code or 0)
    finally:
        sys.stdin = old_stdin
    return subprocess.CompletedProcess(list(args), status, out.getvalue(), err.getvalue())


def shell(*args: str) -> subprocess.CompletedProcess[str]:
    """`cosydesk ARGS` as its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "cosydesk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    t = np.arange(3 * SR) / SR
    wave = 0.3 * np.sin(2 * np.pi * 150 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    path = tmp_path / "narrator.wav"
    soundfile.write(path, wave.astype(np.float32), SR)
    return path


def app_library() -> list[str]:
    """The voices the tray app would list."""
    from cosydesk.config import voices_dir
    from cosydesk.engine.voices import VoiceLibrary

    return [v.name for v in VoiceLibrary(voices_dir()).list()]


def app_default() -> str:
    from cosydesk.config import Settings

    return str(Settings.load().get("default_voice"))


def assert_one_sentence(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_an_empty_library_says_how_to_add_a_voice() -> None:
    done = cosydesk("voices", "list")
    assert done.returncode == 0 and done.stdout == ""
    assert "No voices yet" in done.stderr
    assert "cosydesk voices add NAME CLIP --transcript TEXT" in done.stderr


def test_add_list_default_remove_share_the_apps_library(clip: Path, tmp_path: Path) -> None:
    added = cosydesk("voices", "add", "Narrator", str(clip), "--transcript", "Once upon a time.")
    assert added.returncode == 0, added.stderr
    assert "Added the voice 'Narrator' (3.0 s)" in added.stderr
    assert app_library() == ["Narrator"] and app_default() == "Narrator"  # the first is default

    other = tmp_path / "anna.wav"
    other.write_bytes(clip.read_bytes())
    assert cosydesk("voices", "add", "Anna", str(other), "--transcript", "-", stdin="Hi.\n")
    listed = cosydesk("voices")  # `list` is what a bare `voices` does
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == [
        "  Anna  (3.0 s)  Hi.",
        "* Narrator  (3.0 s)  Once upon a time.",
    ]

    assert cosydesk("voices", "default", "anna").returncode == 0  # case as the list shows it
    assert app_default() == "Anna"
    assert cosydesk("voices", "default").stdout == "Anna\n"

    removed = cosydesk("voices", "remove", "Anna")
    assert removed.returncode == 0 and "Removed the voice 'Anna'" in removed.stderr
    assert app_library() == ["Narrator"] and app_default() == ""


def test_unknown_names_point_at_the_commands(clip: Path) -> None:
    for args in (("remove", "Nobody"), ("default", "Nobody")):
        err = assert_one_sentence(cosydesk("voices", *args), 1)
        assert err.startswith("cosydesk: There is no voice called 'Nobody'")
        assert "`cosydesk voices list`" in err and "`cosydesk voices add" in err


def test_from_a_shell_add_then_say_with_a_typo_names_the_voices_command(
    clip: Path, tmp_path: Path
) -> None:
    added = shell("voices", "add", "Narrator", str(clip), "--transcript", "Once upon a time.")
    assert added.returncode == 0, added.stderr
    listed = shell("voices", "list")
    assert listed.returncode == 0 and listed.stdout == "* Narrator  (3.0 s)  Once upon a time.\n"
    done = shell("say", "Hello.", "-o", str(tmp_path / "out.wav"), "--voice", "Narator")
    err = assert_one_sentence(done, 1)
    assert "There is no voice called 'Narator'" in err and "`cosydesk voices list`" in err
    assert not (tmp_path / "out.wav").exists()


def test_a_bad_clip_or_a_taken_name_adds_nothing(clip: Path, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(3 * SR, np.float32), SR)
    err = assert_one_sentence(
        cosydesk("voices", "add", "Quiet", str(silent), "--transcript", "x"), 1
    )
    assert "silent" in err
    missing = assert_one_sentence(
        cosydesk("voices", "add", "Gone", str(tmp_path / "nope.wav"), "--transcript", "x"), 1
    )
    assert "nope.wav" in missing
    assert app_library() == []
    assert cosydesk("voices", "add", "Narrator", str(clip), "--transcript", "A.").returncode == 0
    taken = assert_one_sentence(
        cosydesk("voices", "add", "narrator", str(clip), "--transcript", "B."), 1
    )
    assert "A voice called 'Narrator' exists already" in taken
    assert app_library() == ["Narrator"]


def test_a_missing_transcript_is_a_usage_error(clip: Path) -> None:
    done = cosydesk("voices", "add", "Narrator", str(clip))
    assert done.returncode == 2 and "--transcript" in done.stderr
    assert app_library() == []


def test_prepare_computes_the_features_with_the_model(clip: Path, tiny_model: Path) -> None:
    done = cosydesk(
        "voices", "add", "Narrator", str(clip), "--transcript", "Once.", "--prepare",
        "--model", str(tiny_model), "--device", "cpu", "--quantization", "none",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "prepared for the model" in done.stderr
    from cosydesk.config import voices_dir

    [folder] = [p for p in voices_dir().iterdir() if not p.name.startswith(".")]
    assert list(folder.glob("features-*.npz"))
