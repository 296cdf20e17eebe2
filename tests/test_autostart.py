"""Start at login: the XDG autostart entry is written where desktops look for it and starts
this cosydesk; removing it turns it off. The macOS LaunchAgent is written as a file too; the
Windows registry value can only be written on Windows."""

from __future__ import annotations

import configparser
import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from cosydesk.autostart import Autostart, AutostartError, desktop_entry, start_command

REPO = Path(__file__).resolve().parent.parent


def _entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return dict(parser["Desktop Entry"])


def _exec_argv(exec_line: str) -> list[str]:
    """The arguments a desktop runs for an Exec value, read as the Desktop Entry spec says:
    string escapes first, then words split at spaces outside double quotes, where a backslash
    escapes ", `, $ and itself; "%%" is a literal percent sign."""
    text = exec_line.replace("\\\\", "\\")
    argv: list[str] = []
    word: list[str] | None = None
    quoted = False
    chars = iter(text)
    for c in chars:
        if quoted and c == "\\":
            word = (word or []) + [next(chars)]
        elif c == '"':
            quoted = not quoted
            word = word or []
        elif c == " " and not quoted:
            if word is not None:
                argv.append("".join(word))
            word = None
        else:
            word = (word or []) + [c]
    if word is not None:
        argv.append("".join(word))
    return [a.replace("%%", "%") for a in argv]


def test_the_entry_goes_under_xdg_config_home_and_starts_this_cosydesk(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
    autostart = Autostart("linux", environ, home=tmp_path / "home")
    assert not autostart.is_enabled()
    autostart.set_enabled(True, [sys.executable, "-m", "cosydesk", "--minimized"])
    path = tmp_path / "xdg" / "autostart" / "cosydesk.desktop"
    assert autostart.path == path and autostart.is_enabled()
    entry = _entry(path)
    assert entry["Type"] == "Application" and entry["Name"] == "cosydesk"
    argv = _exec_argv(entry["Exec"])
    assert argv[-4:] == [sys.executable, "-m", "cosydesk", "--minimized"]
    # Run what the desktop would run at login (asking for help instead of the tray).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [*argv[:-1], "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--minimized" in done.stdout

    autostart.set_enabled(False)
    assert not path.exists() and not autostart.is_enabled()


def test_without_xdg_config_home_the_entry_is_in_dot_config(tmp_path: Path) -> None:
    autostart = Autostart("linux", {}, home=tmp_path)
    autostart.set_enabled(True, ["/usr/bin/cosydesk", "--minimized"])
    assert (tmp_path / ".config" / "autostart" / "cosydesk.desktop").is_file()
    assert _entry(autostart.path)["Exec"] == "/usr/bin/cosydesk --minimized"


def test_odd_characters_in_the_command_survive_the_entrys_quoting(tmp_path: Path) -> None:
    command = ["/opt/my apps/py%thon$1", "-m", 'cosy"desk\\x', "--minimized"]
    text = desktop_entry(command, {})
    path = tmp_path / "entry.desktop"
    path.write_text(text)
    assert _exec_argv(_entry(path)["Exec"]) == command


def test_a_folder_that_cannot_be_written_is_said_in_a_sentence(tmp_path: Path) -> None:
    (tmp_path / "autostart").write_text("a file where the folder should be")
    autostart = Autostart("linux", {"XDG_CONFIG_HOME": str(tmp_path)}, home=tmp_path)
    with pytest.raises(AutostartError, match=r"could not be written .*permissions"):
        autostart.set_enabled(True, ["cosydesk", "--minimized"])


def test_macos_gets_a_launch_agent_run_at_load(tmp_path: Path) -> None:
    autostart = Autostart("darwin", {}, home=tmp_path)
    autostart.set_enabled(True, ["/Applications/cosydesk", "--minimized"])
    agent = plistlib.loads(autostart.path.read_bytes())
    assert autostart.path.parent == tmp_path / "Library" / "LaunchAgents"
    assert agent["ProgramArguments"] == ["/Applications/cosydesk", "--minimized"]
    assert agent["RunAtLoad"] is True
    autostart.set_enabled(False)
    assert not autostart.is_enabled()


def test_the_start_command_starts_in_the_tray() -> None:
    command = start_command()
    assert command[-1] == "--minimized"
    assert Path(command[0]).is_file()
