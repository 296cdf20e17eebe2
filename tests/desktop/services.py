"""Real desktop services for tests, each started privately by the test that needs it.

- `pulse_server()`: a PulseAudio daemon with one null sink, `s`, whose monitor is recorded with
  `parec`; the sound a program plays arrives there as it would at a loudspeaker.
- `Recorder`: what reached the sink, sample by sample, with the time each block arrived.

Where a program is missing the test is skipped with the Debian package to install, except
when COSYDESK_REQUIRE_DESKTOP=1 (set by CI): then it fails, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

T = TypeVar("T")

# The sink runs at the engine's own rate, mono, and is recorded as it is: no resampler between
# what the app plays and what the test hears (PulseAudio's 44.1 -> 24 kHz path, seen here,
# delivered the monitor at a fraction of real time).
RATE = 24000


def require(tools: dict[str, str]) -> None:
    """Skip (or, in CI, fail) unless every program in `tools` (name -> Debian package) exists."""
    missing = {tool: package for tool, package in tools.items() if shutil.which(tool) is None}
    if not missing:
        return
    packages = " ".join(sorted(set(missing.values())))
    message = f"needs {', '.join(missing)} (Debian: apt install {packages})"
    if os.environ.get("COSYDESK_REQUIRE_DESKTOP") == "1":
        pytest.fail(message)
    pytest.skip(message)


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `condition()` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class PulseServer:
    """A private PulseAudio daemon; `env` points clients at it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "native"
        self.env = {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_RUNTIME_PATH": str(folder),
            # A cookie is never needed (anonymous auth), but libpulse looks for one here.
            "PULSE_COOKIE": str(folder / "cookie"),
        }
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        command = [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--disallow-exit",
            "-L",
            f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            "-L",
            "module-null-sink sink_name=s rate=24000 channels=1",
        ]
        env = {**os.environ, "HOME": str(self.folder), "XDG_RUNTIME_DIR": str(self.folder)}
        with (self.folder / "pulse.log").open("ab") as log:
            self._process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        wait_until(self._answers, 15, "PulseAudio to accept clients")

    def _answers(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            log = (self.folder / "pulse.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"PulseAudio exited with {self._process.returncode}: {log}")
        if not self.socket.exists():
            return False
        done = subprocess.run(
            ["pactl", "info"],
            env={**os.environ, **self.env},
            capture_output=True,
            timeout=10,
            check=False,
        )
        return done.returncode == 0

    def stop(self) -> None:
        """Kill the daemon at once, as a crash or `pulseaudio -k` would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def record(self) -> Recorder:
        return Recorder(self)


@contextmanager
def pulse_server(folder: Path) -> Iterator[PulseServer]:
    """A PulseAudio daemon with a null sink, running for the `with` block."""
    require({"pulseaudio": "pulseaudio", "pactl": "pulseaudio-utils", "parec": "pulseaudio-utils"})
    folder.mkdir(parents=True, exist_ok=True)
    server = PulseServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Recorder:
    """Records the null sink's monitor as 24 kHz mono float samples, in real time.

    The null sink runs on its own clock and its monitor gives silence (exact zeros) while
    nothing plays, so a sample's index tells when it was heard: `now()` is the index of the
    sample arriving at this moment.
    """

    BLOCK = 240  # samples read at a time: 10 ms

    def __init__(self, server: PulseServer) -> None:
        self._process = subprocess.Popen(
            [
                "parec",
                "--device=s.monitor",
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=1",
                "--latency-msec=10",
                "--raw",
            ],
            env={**os.environ, **server.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._blocks: list[np.ndarray] = []
        self._count = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_until(lambda: self._count > 0, 10, "the recorder's first samples")

    def _read(self) -> None:
        assert self._process.stdout is not None
        while True:
            data = self._process.stdout.read(self.BLOCK * 2)
            if not data:
                return
            block = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
            with self._lock:
                self._blocks.append(block)
                self._count += block.shape[0]

    def now(self) -> int:
        with self._lock:
            return self._count

    def samples(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Recorded samples [start, end) as floats in [-1, 1)."""
        with self._lock:
            data = np.concatenate(self._blocks) if self._blocks else np.zeros(0, "<i2")
        return data[start:end].astype(np.float32) / 32768.0

    def first_sound(self, start: int = 0) -> int | None:
        """Index of the first sample not silent at or after `start`, or None."""
        nonzero = np.flatnonzero(self.samples(start) != 0)
        return start + int(nonzero[0]) if nonzero.size else None

    def wait_for_sound(self, start: int, timeout: float) -> int:
        """The index of the first sound at or after `start`; fails after `timeout` seconds."""
        return int(wait_until(lambda: self.first_sound(start), timeout, "sound at the sink"))

    def sound_extent(self, start: int = 0) -> tuple[int, int] | None:
        """(first, one past the last) non-silent sample at or after `start`, or None."""
        nonzero = np.flatnonzero(self.samples(start) != 0)
        if not nonzero.size:
            return None
        return start + int(nonzero[0]), start + int(nonzero[-1]) + 1

    def sound_seconds(self, start: int = 0, gap: int = 48) -> float:
        """Seconds of sound at or after `start`, gaps left out.

        A run of at least `gap` zero samples (2 ms; the player waiting for synthesis leaves
        gaps of whole device buffers) is silence; shorter ones are quiet samples of speech.
        """
        nonzero = np.flatnonzero(self.samples(start) != 0)
        if not nonzero.size:
            return 0.0
        steps = np.diff(nonzero)
        silence = int(np.sum(steps[steps > gap] - 1))
        return float((nonzero[-1] - nonzero[0] + 1 - silence) / RATE)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._thread.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()


class XSession:
    """A private X display as a person's desktop has it: Xvfb at 1600x1000, openbox as the
    window manager, trayer as the system-tray host, a D-Bus session with the accessibility
    bus (what screen readers read the app through, and what these tests read it through)."""

    SIZE = "1600x1000"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.display = ""
        self.env: dict[str, str] = {}
        self._processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.folder / f"{Path(command[0]).name}.log").open("ab")
        with log:
            process = subprocess.Popen(
                command,
                env={**os.environ, **self.env, **(env or {})},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._processes.append(process)
        return process

    def start(self) -> None:
        read_end, write_end = os.pipe()
        self._processes.append(
            subprocess.Popen(
                [
                    *("Xvfb", "-displayfd", str(write_end), "-noreset", "-nolisten", "tcp"),
                    *("-screen", "0", f"{self.SIZE}x24"),
                ],
                pass_fds=(write_end,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        os.close(write_end)
        with os.fdopen(read_end) as ready:
            number = ready.readline().strip()
        if not number:
            pytest.fail("Xvfb did not start")
        self.display = f":{number}"
        self.env = {
            "DISPLAY": self.display,
            "XDG_RUNTIME_DIR": str(self.folder),
            "HOME": str(self.folder),
        }
        bus = self._spawn_bus()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = bus
        self._spawn(["openbox", "--sm-disable"])
        wait_until(self._has_window_manager, 15, "openbox to manage the screen")
        self._spawn(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request"])
        wait_until(self._has_tray, 15, "trayer to offer a system tray")
        self._spawn(["/usr/libexec/at-spi-bus-launcher", "--launch-immediately"])
        wait_until(self._has_a11y_bus, 15, "the accessibility bus")

    def _spawn_bus(self) -> str:
        read_end, write_end = os.pipe()
        self._processes.append(
            subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", f"--print-address={write_end}"],
                pass_fds=(write_end,),
                env={**os.environ, **self.env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        os.close(write_end)
        with os.fdopen(read_end) as ready:
            address = ready.readline().strip()
        if not address:
            pytest.fail("dbus-daemon did not start")
        return address

    def _root_property(self, name: str) -> bool:
        from Xlib import display

        screen = display.Display(self.display)
        try:
            atom = screen.intern_atom(name)
            return screen.screen().root.get_full_property(atom, 0) is not None
        finally:
            screen.close()

    def _has_window_manager(self) -> bool:
        return self._root_property("_NET_SUPPORTING_WM_CHECK")

    def _has_tray(self) -> bool:
        from Xlib import X, display

        screen = display.Display(self.display)
        try:
            owner = screen.get_selection_owner(screen.intern_atom("_NET_SYSTEM_TRAY_S0"))
            return owner != X.NONE
        finally:
            screen.close()

    def _has_a11y_bus(self) -> bool:
        from tests.desktop.atspi import a11y_bus_address

        return a11y_bus_address(self.env["DBUS_SESSION_BUS_ADDRESS"]) is not None

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self._processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()


@contextmanager
def x_session(folder: Path) -> Iterator[XSession]:
    """A desktop on a private display (see XSession), for the `with` block."""
    require(
        {
            "Xvfb": "xvfb",
            "openbox": "openbox",
            "trayer": "trayer",
            "xdotool": "xdotool",
            "xclip": "xclip",
            "dbus-daemon": "dbus-daemon",
            "/usr/libexec/at-spi-bus-launcher": "at-spi2-core",
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    session = XSession(folder)
    try:
        session.start()
        yield session
    finally:
        session.stop()


class Pinger:
    """Measures how long a window takes to answer the window manager's ping (_NET_WM_PING):
    the time a person waits for the window to react while the app is busy.

    The pinging runs in a process of its own (tests/desktop/pinger.py), so that the test's own
    work cannot delay it."""

    def __init__(self, display_name: str, window: int, interval: float = 0.02) -> None:
        command = ["tests.desktop.pinger", display_name, str(window), str(interval)]
        self._process = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._output: str | None = None

    def stop(self) -> float:
        """Stop pinging; the longest wait seen (an unanswered ping included), in seconds."""
        if self._output is None:
            self._output = ""  # stopped, even if what follows fails
            self._output, _ = self._process.communicate(timeout=10)  # closing stdin stops it
        lines = self._output.splitlines()
        assert any(not line.startswith("waiting") for line in lines), (
            "the window never answered a ping"
        )
        return max(float(line.split()[-1]) for line in lines)


def client_windows(display_name: str) -> dict[str, int]:
    """Title -> X window id of each window the window manager manages."""
    from Xlib import display

    screen = display.Display(display_name)
    try:
        root = screen.screen().root
        found = root.get_full_property(screen.intern_atom("_NET_CLIENT_LIST"), 0)
        windows: dict[str, int] = {}
        for wid in found.value if found is not None else []:
            window = screen.create_resource_object("window", wid)
            name = window.get_full_property(screen.intern_atom("_NET_WM_NAME"), 0)
            title = name.value.decode() if name is not None else (window.get_wm_name() or "")
            windows[str(title)] = int(wid)
        return windows
    finally:
        screen.close()
