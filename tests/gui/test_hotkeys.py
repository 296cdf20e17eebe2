"""Key sequences, the backend chooser, and the parts of each backend that run anywhere."""

from __future__ import annotations

import pytest

from cosydesk.gui.hotkeys import HotkeyError, KeyCombo, choose_backend, parse_sequence
from cosydesk.gui.hotkeys.macos import MacBackend, native_combo
from cosydesk.gui.hotkeys.portal import PortalBackend, portal_trigger
from cosydesk.gui.hotkeys.windows import WindowsBackend
from cosydesk.gui.hotkeys.x11 import X11Backend


@pytest.mark.parametrize(
    ("text", "modifiers", "key"),
    [
        ("Ctrl+Alt+S", {"ctrl", "alt"}, "S"),
        ("ctrl+alt+s", {"ctrl", "alt"}, "S"),
        (" Control + Shift + PageDown ", {"ctrl", "shift"}, "PgDown"),
        ("Meta+F12", {"meta"}, "F12"),
        ("Super+Space", {"meta"}, "Space"),
        ("Alt+,", {"alt"}, ","),
        ("F9", set(), "F9"),
        ("Shift+Pause", {"shift"}, "Pause"),
    ],
)
def test_qt_style_sequences_parse(text: str, modifiers: set[str], key: str) -> None:
    assert parse_sequence(text) == KeyCombo(frozenset(modifiers), key)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No shortcut is set"),
        ("Ctrl+Alt", "no key after its modifiers"),
        ("Ctrl+K, Ctrl+S", "single one"),
        ("Hyper+S", "'Hyper' .* is not a modifier"),
        ("Ctrl+Alt+Ü", "not one cosydesk can register"),
        ("S", "swallow ordinary typing"),
        ("Shift+S", "swallow ordinary typing"),
        ("Ctrl++", "not a key combination"),
    ],
)
def test_bad_sequences_are_sentences(text: str, message: str) -> None:
    with pytest.raises(HotkeyError, match=message):
        parse_sequence(text)


def test_combo_prints_in_qt_order() -> None:
    assert str(parse_sequence("shift+meta+alt+ctrl+x")) == "Ctrl+Alt+Shift+Meta+X"


def test_portal_trigger_uses_the_xdg_shortcut_notation() -> None:
    assert portal_trigger(parse_sequence("Ctrl+Alt+S")) == "CTRL+ALT+s"
    assert portal_trigger(parse_sequence("Meta+Shift+PgUp")) == "SHIFT+LOGO+Prior"
    assert portal_trigger(parse_sequence("Ctrl+/")) == "CTRL+slash"


def test_mac_mapping_follows_qt_ctrl_is_command() -> None:
    code, modifiers = native_combo(parse_sequence("Ctrl+Alt+S"))
    assert code == 0x01  # the S key position
    assert modifiers == (1 << 8) | (1 << 11)  # cmdKey | optionKey
    assert native_combo(parse_sequence("Meta+F1"))[1] == 1 << 12  # controlKey


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", X11Backend),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "linux", PortalBackend),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":1"}, "linux", PortalBackend),
        ({}, "win32", WindowsBackend),
        ({}, "darwin", MacBackend),
    ],
)
def test_chooser_picks_the_backend_of_the_session(
    environ: dict[str, str], platform: str, expected: type
) -> None:
    assert type(choose_backend(environ, platform)) is expected


def test_chooser_gives_none_without_any_display() -> None:
    assert choose_backend({}, "linux") is None


# python-xlib leaves its sockets unclosed when the connection fails; not ours to fix.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unreachable_x_server_is_a_sentence(qtbot: object) -> None:
    backend = X11Backend(":987")
    with pytest.raises(HotkeyError, match=r"Cannot reach the X server.*cosydesk --action"):
        backend.register("Ctrl+Alt+S", lambda: None)
    backend.unregister()
