"""The real app, started as a person starts it, driven with keys and clicks on a real display.

`DesktopApp` runs `cosydesk` in a subprocess on an `XSession` with a `PulseServer`, with its
own settings and data folders. It reads what is on screen through the accessibility tree
(atspi.py), presses keys and clicks with xdotool, and watches the tray through the X server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.desktop.atspi import Accessibility, Node
from tests.desktop.services import REPO, PulseServer, XSession, client_windows, wait_until


class DesktopApp:
    """One run of `cosydesk` on the test's desktop."""

    def __init__(
        self,
        session: XSession,
        pulse: PulseServer,
        home: Path,
        settings: dict[str, object] | None = None,
    ) -> None:
        self.session = session
        self.pulse = pulse
        self.home = home
        self.config = home / "config"
        self.data = home / "data"
        self.config.mkdir(parents=True, exist_ok=True)
        if settings is not None:
            (self.config / "settings.json").write_text(json.dumps({"version": 3, **settings}))
        self.process: subprocess.Popen[bytes] | None = None
        self.module = "cosydesk"  # what `python -m` runs (tests.desktop.fixed_app: fixed lengths)
        self.extra_env: dict[str, str] = {}
        self.started_at = 0.0
        self._a11y: Accessibility | None = None
        self._bus = ""
        self._status_bar: Node | None = None

    # -- life ---------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.session.env, **self.pulse.env}
        env.pop("COSYDESK_NO_CRASH_DIALOG", None)  # a crash must show, as it would to a person
        env.update(
            PYTHONPATH=str(REPO),
            COSYDESK_CONFIG_DIR=str(self.config),
            COSYDESK_DATA_DIR=str(self.data),
            QT_QPA_PLATFORM="xcb",
            QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, *args: str) -> None:
        with (self.home / "stderr.log").open("ab") as err:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *args],
                env=self.env(),
                cwd=self.home,
                stdout=err,
                stderr=err,
            )
        if self._a11y is not None:  # started again: the last start's connection goes first
            self._a11y.close()
        self._a11y = Accessibility(self.session.env["DBUS_SESSION_BUS_ADDRESS"])
        self._status_bar = None
        self._bus = wait_until(self._find_bus, 30, "cosydesk on the accessibility bus")

    def _find_bus(self) -> str | None:
        self.assert_alive()
        assert self._a11y is not None
        buses = [bus for bus, name in self._a11y.applications() if name == "cosydesk"]
        return buses[-1] if buses else None

    def assert_alive(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"cosydesk exited with {code}:\n{self.stderr()[-3000:]}")

    def wait_exit(self, timeout: float) -> int:
        """The exit status; AssertionError if the process is still running after `timeout`."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"cosydesk still runs {timeout:g} s later") from None

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self._a11y is not None:
            self._a11y.close()
            self._a11y = None

    def stderr(self) -> str:
        path = self.home / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log(self) -> str:
        path = self.data / "logs" / "cosydesk.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- what is on screen --------------------------------------------------------------------

    def nodes(self) -> list[Node]:
        assert self._a11y is not None
        return list(self._a11y.walk(self._bus))

    def find(self, role: str, name: str | re.Pattern[str] | None = None, *, showing=True):
        """The first node of `role` whose name is `name` (or matches it), or None."""
        for node in self.nodes():
            if node.role != role or (showing and "showing" not in node.states):
                continue
            if name is None or (
                node.name == name if isinstance(name, str) else name.search(node.name)
            ):
                return node
        return None

    def wait_for(
        self, role: str, name: str | re.Pattern[str] | None = None, timeout: float = 20
    ) -> Node:
        """The node once it shows; fails naming what was awaited."""

        def found() -> Node | None:
            self.assert_alive()
            return self.find(role, name)

        try:
            return wait_until(found, timeout, f"{role} {name!r} on screen", interval=0.1)
        except BaseException:
            print(self.describe())  # what was on screen instead, for the failure report
            raise

    def describe(self) -> str:
        """What shows on screen now, one node a line (windows, controls and their text)."""
        lines = ["On screen:"]
        for node in self.nodes():
            if "showing" in node.states and (node.name or node.text):
                lines.append(f"  {node}")
        return "\n".join(lines)

    def wait_until(self, condition: Callable[[], object], timeout: float, what: str) -> object:
        def check() -> object:
            self.assert_alive()
            return condition()

        return wait_until(check, timeout, what, interval=0.1)

    def wait_ready(self, timeout: float) -> None:
        """Until the model is loaded: the status bar says Ready, or (no window) the log does."""

        def ready() -> bool:
            if self.find("frame", "cosydesk") is not None:
                return self.status() == "Ready"
            return "Model loaded from" in self.log()

        self.wait_until(ready, timeout, "the model to be loaded (Ready)")

    def status(self) -> str:
        """The status bar's message (the first label in the main window's status bar)."""
        labels = self.status_labels()
        return labels[0] if labels else ""

    def status_message(self) -> str:
        """The passing message the status bar shows over its labels ("Saved ..."), if any."""
        bar = self._bar()
        return bar.name if bar is not None else ""

    def status_labels(self) -> list[str]:
        assert self._a11y is not None
        bar = self._bar()
        if bar is None:
            return []
        return [n.name for n in self._a11y.children(bar) if n.role == "label"]

    def _bar(self) -> Node | None:
        """The main window's status bar as it is now.

        It is found once and then asked directly: a walk of the whole tree is hundreds of calls
        that the app answers on its GUI thread (many more with a file dialog open), which slowed
        the journeys and stalled the window they measure. A status bar that went away (the app
        started again) is looked up anew.
        """
        assert self._a11y is not None
        if self._status_bar is not None:
            try:
                return self._a11y.node(self._status_bar.bus, self._status_bar.path)
            except Exception:
                self._status_bar = None
        self._status_bar = self.find("status bar")
        return self._status_bar

    def texts(self, role: str = "label") -> list[str]:
        return [n.name or n.text for n in self.nodes() if n.role == role and "showing" in n.states]

    def speak_and_hear(self, timeout: float) -> None:
        """Press Ctrl+Enter (Speak) and wait until sound arrives at the sink."""
        recorder = self.pulse.record()
        try:
            start = recorder.now()
            self.key("ctrl+Return")
            recorder.wait_for_sound(start, timeout=timeout)
        finally:
            recorder.stop()

    # -- input --------------------------------------------------------------------------------

    def xdotool(self, *args: str) -> None:
        subprocess.run(
            ["xdotool", *args], env={**os.environ, **self.session.env}, check=True, timeout=20
        )

    def key(self, *keys: str) -> None:
        self.xdotool("key", "--clearmodifiers", *keys)

    def type(self, text: str) -> None:
        self.xdotool("type", "--delay", "1", text)

    @contextlib.contextmanager
    def clipboard(self, text: str) -> Iterator[None]:
        """`text` on the desktop's clipboard for the `with` block (xclip owns it meanwhile)."""
        owner = subprocess.Popen(
            ["xclip", "-selection", "clipboard", "-quiet"],
            stdin=subprocess.PIPE,
            env={**os.environ, **self.session.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert owner.stdin is not None
        owner.stdin.write(text.encode())
        owner.stdin.close()
        try:
            yield
        finally:
            owner.kill()
            owner.wait()

    def click(self, node: Node, button: int = 1) -> None:
        x, y = node.centre
        self.xdotool("mousemove", "--sync", str(x), str(y), "click", str(button))

    def focus_window(self, name: str) -> None:
        """Raise and focus the app's window titled `name` (as a click on it would)."""
        window = client_windows(self.session.display)[name]
        self.xdotool("windowactivate", "--sync", str(window))

    # -- the tray -----------------------------------------------------------------------------

    def tray_icon(self) -> tuple[int, int, int, int] | None:
        """Screen geometry (x, y, width, height) of the icon embedded in the tray, or None."""
        from Xlib import display

        screen = display.Display(self.session.display)
        try:
            root = screen.screen().root
            panel = _find_panel(root)
            if panel is None:
                return None
            for child in panel.query_tree().children:
                geometry = child.get_geometry()
                if geometry.width > 8 and geometry.height > 8:
                    where = child.translate_coords(root, 0, 0)
                    return (-where.x, -where.y, geometry.width, geometry.height)
            return None
        finally:
            screen.close()

    def click_tray(self, button: int) -> None:
        icon = self.tray_icon()
        assert icon is not None, "no tray icon"
        x, y, w, h = icon
        self.xdotool("mousemove", "--sync", str(x + w // 2), str(y + h // 2), "click", str(button))


def _find_panel(window):
    """trayer's panel window (where tray icons are embedded), searched depth first."""
    try:
        found = window.get_wm_class()
        children = window.query_tree().children
    except Exception:
        return None
    if found and found[0] == "panel":
        return window
    for child in children:
        panel = _find_panel(child)
        if panel is not None:
            return panel
    return None
