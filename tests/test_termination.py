"""SIGTERM and SIGHUP unwind a command: `cosydesk serve` stops cleanly and ends by the signal.

(`cosydesk say` stopped mid-write is in test_cli.py; the WAV writer's own case in
tests/audio/test_wavfile.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cosydesk.termination import Terminated, stop_on_signals

REPO = Path(__file__).resolve().parent.parent
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@posix_only
def test_the_signals_raise_terminated_inside_the_block_only() -> None:
    before = signal.getsignal(signal.SIGHUP)
    with pytest.raises(Terminated) as caught, stop_on_signals():
        os.kill(os.getpid(), signal.SIGHUP)
    assert caught.value.name == "SIGHUP"
    assert signal.getsignal(signal.SIGHUP) == before


@posix_only
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_serve_stopped_by_a_signal_says_so_and_ends_by_it(
    tiny_model: Path, tmp_path: Path, signum: int
) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
        "COSYDESK_CONFIG_DIR": str(tmp_path / "config"),
        "COSYDESK_DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "-m", "cosydesk", "serve", "--model", str(tiny_model)]
    command += ["--device", "cpu", "--port", "0"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as server:
        assert server.stderr is not None
        seen: list[str] = []
        for line in server.stderr:
            seen.append(line)
            if line.startswith("Serving the speech API"):
                break
        server.send_signal(signum)
        err = "".join(seen) + server.stderr.read()
        server.wait(60)
    assert server.returncode == -signum, err
    assert err.endswith(f"Stopped by {signal.Signals(signum).name}.\n"), err
    assert "Traceback" not in err
