"""The desktop files, the icon and the PyInstaller spec: well-formed and pointing at real things."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from PySide6.QtSvg import QSvgRenderer

from cosydesk.gui.app import _parse

REPO = Path(__file__).resolve().parents[2]


def _entry(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_the_menu_entry_starts_the_app_and_offers_the_actions() -> None:
    from cosydesk.cli import ACTIONS, build_parser

    entry = _entry(REPO / "resources" / "cosydesk.desktop")
    main = entry["Desktop Entry"]
    assert (main["Type"], main["Exec"], main["Icon"]) == ("Application", "cosydesk", "cosydesk")
    actions = [a for a in main["Actions"].split(";") if a]
    assert actions == ["speak-clipboard", "stop", "pause"]
    for action in actions:
        command = shlex.split(entry[f"Desktop Action {action}"]["Exec"])
        assert command[0] == "cosydesk"
        args = build_parser().parse_args(command[1:])
        assert args.action == action and action in ACTIONS


def test_the_autostart_entry_starts_in_the_tray() -> None:
    entry = _entry(REPO / "packaging" / "cosydesk-autostart.desktop")["Desktop Entry"]
    command = shlex.split(entry["Exec"])
    assert command[0] == "cosydesk" and _parse(command[1:]).minimized
    assert entry["X-GNOME-Autostart-enabled"] == "true"


@pytest.mark.usefixtures("qapp")
def test_the_icon_is_a_valid_svg() -> None:
    assert QSvgRenderer(str(REPO / "resources" / "cosydesk.svg")).isValid()


def test_the_pyinstaller_spec_is_python_and_names_existing_files() -> None:
    text = (REPO / "packaging" / "cosydesk.spec").read_text(encoding="utf-8")
    compile(text, "cosydesk.spec", "exec")
    for name in ("cosydesk.svg", "cosydesk.png", "cosydesk.desktop"):
        assert f'"{name}"' in text and (REPO / "resources" / name).is_file()
    assert (REPO / "cosydesk" / "__main__.py").is_file()
