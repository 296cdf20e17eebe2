"""`cosydesk --action speak-clipboard` bound to a desktop shortcut works when cosydesk is not
running: it starts the app, which then does the action (it used to exit 1 with a line on a
stderr nobody sees). Stopping or pausing an app that does not run still has nothing to do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals and socket files")


def _env(dirs: Path) -> dict[str, str]:
    runtime = dirs / "runtime"
    runtime.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "QT_QPA_PLATFORM": "offscreen",
        # A private instance socket and lock: no other cosydesk on this machine answers.
        "XDG_RUNTIME_DIR": str(runtime),
        "TMPDIR": str(runtime),
    }
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        env.pop(name, None)
    return env


def _cosydesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cosydesk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_speak_clipboard_with_no_app_running_starts_it_and_then_speaks(dirs: Path) -> None:
    (dirs / "config").mkdir(parents=True, exist_ok=True)
    (dirs / "config" / "settings.json").write_text(
        json.dumps({"version": 3, "first_run_done": True})
    )
    env = _env(dirs)
    started = subprocess.Popen(
        [sys.executable, "-m", "cosydesk", "--action", "speak-clipboard"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log_file = dirs / "data" / "logs" / "cosydesk.log"
    try:
        # It runs, and did the action: the clipboard of this new desktop is empty, so it says so.
        deadline = time.monotonic() + 60
        while "The clipboard holds no text" not in (
            log_file.read_text() if log_file.exists() else ""
        ):
            assert started.poll() is None, f"cosydesk exited with {started.returncode}"
            assert time.monotonic() < deadline, "the action was not done"
            time.sleep(0.1)
        # It is the running cosydesk now: a second action reaches it instead of starting another.
        assert _cosydesk(env, "--action", "pause").returncode == 0
    finally:
        started.send_signal(signal.SIGTERM)
        output, _ = started.communicate(timeout=30)
    assert started.returncode == 0, output


def test_stop_with_no_app_running_starts_nothing(dirs: Path) -> None:
    done = _cosydesk(_env(dirs), "--action", "stop")
    assert done.returncode == 1
    assert "not running" in done.stderr
    assert not (dirs / "data" / "logs" / "cosydesk.log").exists()  # no app started
