"""A private Xvfb server for tests that need a real X display."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def private_xvfb() -> Iterator[str]:
    """Start Xvfb on a display number it picks itself; yields its name, e.g. ':7'.

    Skips the test (with the Debian packages to install) where Xvfb or xdotool is missing.
    """
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (Debian: apt install xvfb xdotool)")
    pytest.importorskip("Xlib", reason="needs python-xlib")
    read_end, write_end = os.pipe()
    # -noreset: by default the server resets when its last client leaves, and a client that
    # connects during that reset is dropped ("connection reset by peer"). Tests open and close
    # connections back to back, so that race is real on a slow machine.
    command = ["Xvfb", "-displayfd", str(write_end), "-noreset", "-nolisten", "tcp"]
    server = subprocess.Popen(
        [*command, "-screen", "0", "320x240x24"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        number = ready.readline().strip()  # written once the server accepts clients
    if not number:
        server.kill()
        server.wait()
        pytest.fail("Xvfb did not start")
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def xdotool(display: str, *args: str) -> None:
    """Run xdotool against `display`."""
    subprocess.run(
        ["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, timeout=20
    )
