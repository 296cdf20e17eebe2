"""Start cosydesk when the person logs in, in the tray: the desktop's own way on each system.

Linux and other XDG desktops: an autostart entry, $XDG_CONFIG_HOME/autostart/cosydesk.desktop
(~/.config by default). Windows: a value named cosydesk under the current user's
Software\\Microsoft\\Windows\\CurrentVersion\\Run key. macOS: a LaunchAgent,
~/Library/LaunchAgents/io.github.cosydesk.plist, run at load. The entry is the truth: nothing
is stored in the settings file, so removing the entry by hand turns it off in Settings too.
Qt-free.
"""

from __future__ import annotations

import contextlib
import logging
import os
import plistlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from cosydesk.configfile import write_atomically

log = logging.getLogger(__name__)

ENTRY_NAME = "cosydesk.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "cosydesk"
AGENT_LABEL = "io.github.cosydesk"


class AutostartError(Exception):
    """The login entry could not be written or removed; the message says where and why."""


def start_command(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The command line that starts this cosydesk, as installed, in the tray.

    The `cosydesk` script when that is what runs now, else this interpreter with `-m cosydesk`
    (pythonw on Windows, which opens no console window).
    """
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.stem == "cosydesk" and script.is_file():
        return [str(script.resolve()), "--minimized"]
    python = Path(sys.executable)
    windowless = python.with_name("pythonw.exe")
    if sys.platform == "win32" and windowless.is_file():
        python = windowless
    return [str(python), "-m", "cosydesk", "--minimized"]


def _exec_quote(argument: str) -> str:
    """One argument of a desktop entry's Exec key, quoted as the Desktop Entry spec says."""
    if argument and not any(c in argument for c in " \t\n\"'\\><~|&;$*?#()`"):
        quoted = argument
    else:
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in argument)
        quoted = f'"{escaped}"'
    # Then the rules of every string value: a backslash is written twice; '%' is a field code.
    return quoted.replace("\\", "\\\\").replace("%", "%%")


def desktop_entry(command: list[str], environ: Mapping[str, str] = os.environ) -> str:
    """The text of the XDG autostart entry that runs `command`."""
    exec_line = " ".join(_exec_quote(a) for a in command)
    python_path = environ.get("PYTHONPATH")
    if python_path:  # a checkout run with PYTHONPATH finds its package at login too
        exec_line = f"env {_exec_quote('PYTHONPATH=' + python_path)} {exec_line}"
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.5\n"
        "Name=cosydesk\n"
        "Comment=Reads text aloud; starts in the tray at login\n"
        f"Exec={exec_line}\n"
        "Icon=cosydesk\n"
        "Terminal=false\n"
        "NoDisplay=true\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"
        "X-KDE-autostart-after=panel\n"
    )


class Autostart:
    """The login entry of one user on one system."""

    def __init__(
        self,
        platform: str = sys.platform,
        environ: Mapping[str, str] = os.environ,
        home: Path | None = None,
    ) -> None:
        self.platform = platform
        self.environ = environ
        self.home = home if home is not None else Path.home()

    @property
    def path(self) -> Path:
        """The entry's file (Linux, macOS); on Windows the registry key, as a path for messages."""
        if self.platform == "win32":
            return Path("HKEY_CURRENT_USER") / RUN_KEY / RUN_VALUE
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
        config = self.environ.get("XDG_CONFIG_HOME") or ""
        base = Path(config) if Path(config).is_absolute() else self.home / ".config"
        return base / "autostart" / ENTRY_NAME

    def is_enabled(self) -> bool:
        """True when cosydesk is set to start at login."""
        if self.platform == "win32":
            return self._windows_value() is not None
        return self.path.is_file()

    def set_enabled(self, enabled: bool, command: list[str] | None = None) -> None:
        """Write (or remove) the entry that starts `command` (default: `start_command()`).

        AutostartError, naming the place, when it cannot be done.
        """
        command = command or start_command(self.environ)
        try:
            if self.platform == "win32":
                self._windows_set(enabled, command)
            elif not enabled:
                self.path.unlink(missing_ok=True)
            elif self.platform == "darwin":
                write_atomically(self.path, self._launch_agent(command))
            else:
                write_atomically(self.path, desktop_entry(command, self.environ))
        except OSError as exc:
            doing = "written" if enabled else "removed"
            raise AutostartError(
                f"The login entry {self.path} could not be {doing} "
                f"({exc.strerror or exc}); check that folder's permissions."
            ) from exc
        log.info("Start at login %s (%s)", "on" if enabled else "off", self.path)

    def _launch_agent(self, command: list[str]) -> str:
        agent: dict[str, object] = {
            "Label": AGENT_LABEL,
            "ProgramArguments": command,
            "RunAtLoad": True,
            "ProcessType": "Interactive",
        }
        python_path = self.environ.get("PYTHONPATH")
        if python_path:
            agent["EnvironmentVariables"] = {"PYTHONPATH": python_path}
        return plistlib.dumps(agent).decode("utf-8")

    def _windows_value(self) -> str | None:
        if sys.platform != "win32":
            return None
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, RUN_VALUE)
        except OSError:
            return None
        return str(value)

    def _windows_set(self, enabled: bool, command: list[str]) -> None:
        if sys.platform != "win32":
            raise OSError("the Windows registry exists only on Windows")
        import winreg

        access = winreg.KEY_SET_VALUE | winreg.KEY_QUERY_VALUE
        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, access) as key:
            if enabled:
                line = subprocess.list2cmdline(command)
                winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, line)
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, RUN_VALUE)
