"""Qt-style key sequences ("Ctrl+Alt+S") parsed into a modifier set and one named key.

Every hotkey backend starts from a `KeyCombo`; each maps the key name to its platform's codes.
The names follow Qt's portable text, so a sequence from a QKeySequenceEdit parses here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODIFIER_ORDER = ("ctrl", "alt", "shift", "meta")

_MODIFIER_ALIASES = {
    "ctrl": "ctrl",
    "control": "ctrl",
    "alt": "alt",
    "option": "alt",
    "shift": "shift",
    "meta": "meta",
    "super": "meta",
    "win": "meta",
    "logo": "meta",
}

# Canonical names of the keys that are not a single character, with their accepted spellings.
_NAMED_KEYS = {
    "space": "Space",
    "tab": "Tab",
    "return": "Return",
    "enter": "Return",
    "escape": "Escape",
    "esc": "Escape",
    "backspace": "Backspace",
    "insert": "Insert",
    "ins": "Insert",
    "delete": "Delete",
    "del": "Delete",
    "home": "Home",
    "end": "End",
    "pgup": "PgUp",
    "pageup": "PgUp",
    "pgdown": "PgDown",
    "pagedown": "PgDown",
    "left": "Left",
    "right": "Right",
    "up": "Up",
    "down": "Down",
    "pause": "Pause",
    "print": "Print",
}

PUNCTUATION = "-=[]\\;',./`"
_FUNCTION_KEY = re.compile(r"^F([1-9]|1[0-9]|2[0-4])$", re.IGNORECASE)

# Keys that type nothing, so grabbing them without Ctrl/Alt/Meta does not hijack typing.
_NON_TYPING = {f"F{n}" for n in range(1, 25)} | {"Pause", "Print", "Insert"}

# X keysym names, which the X11 backend and the portal's trigger strings both use.
XKB_KEYSYMS = {
    "Space": "space",
    "Tab": "Tab",
    "Return": "Return",
    "Escape": "Escape",
    "Backspace": "BackSpace",
    "Insert": "Insert",
    "Delete": "Delete",
    "Home": "Home",
    "End": "End",
    "PgUp": "Prior",
    "PgDown": "Next",
    "Left": "Left",
    "Right": "Right",
    "Up": "Up",
    "Down": "Down",
    "Pause": "Pause",
    "Print": "Print",
    "-": "minus",
    "=": "equal",
    "[": "bracketleft",
    "]": "bracketright",
    "\\": "backslash",
    ";": "semicolon",
    "'": "apostrophe",
    ",": "comma",
    ".": "period",
    "/": "slash",
    "`": "grave",
}


class HotkeyError(Exception):
    """A global shortcut cannot be registered; the message says why and what to do."""


@dataclass(frozen=True)
class KeyCombo:
    """Modifiers (a subset of ctrl, alt, shift, meta) plus one key by its canonical name."""

    modifiers: frozenset[str]
    key: str

    def __str__(self) -> str:
        names = [m.capitalize() for m in MODIFIER_ORDER if m in self.modifiers]
        return "+".join([*names, self.key])

    @property
    def xkb_keysym(self) -> str:
        """The key's X keysym name ("s", "F5", "Prior")."""
        if len(self.key) == 1 and self.key.isalnum():
            return self.key.lower()
        return XKB_KEYSYMS.get(self.key, self.key)


def _canonical_key(token: str) -> str | None:
    if len(token) == 1:
        if token.isascii() and token.isalnum():
            return token.upper()
        return token if token in PUNCTUATION else None
    if _FUNCTION_KEY.match(token):
        return token.upper()
    return _NAMED_KEYS.get(token.lower())


def parse_sequence(sequence: str) -> KeyCombo:
    """The combination written in `sequence`; HotkeyError with a sentence if it is not one.

    Accepts Qt's portable text ("Ctrl+Alt+S", "Meta+F12", "Ctrl+Shift+PgDown") and common
    spellings (Control, Super, Win, Esc...). A key that types text needs Ctrl, Alt or Meta, so
    that the shortcut never swallows ordinary typing.
    """
    text = sequence.strip()
    example = "write it like Ctrl+Alt+S: modifiers (Ctrl, Alt, Shift, Meta) and one key"
    if not text:
        raise HotkeyError("No shortcut is set: choose one in Settings, e.g. Ctrl+Alt+S.")
    if ", " in text:
        raise HotkeyError(
            f"The shortcut {text!r} is a sequence of several combinations; a global "
            f"shortcut must be a single one: {example}."
        )
    parts = [part.strip() for part in text.split("+")]
    if any(not part for part in parts):
        raise HotkeyError(f"The shortcut {text!r} is not a key combination: {example}.")
    modifiers: set[str] = set()
    for part in parts[:-1]:
        modifier = _MODIFIER_ALIASES.get(part.lower())
        if modifier is None:
            raise HotkeyError(f"{part!r} in the shortcut {text!r} is not a modifier: {example}.")
        modifiers.add(modifier)
    if parts[-1].lower() in _MODIFIER_ALIASES:
        raise HotkeyError(f"The shortcut {text!r} has no key after its modifiers: {example}.")
    key = _canonical_key(parts[-1])
    if key is None:
        raise HotkeyError(
            f"The key {parts[-1]!r} in the shortcut {text!r} is not one cosydesk can register: "
            "use a letter, a digit, F1-F24, Space, an arrow, Home/End, PgUp/PgDown or "
            "punctuation."
        )
    if key not in _NON_TYPING and not modifiers & {"ctrl", "alt", "meta"}:
        raise HotkeyError(
            f"The shortcut {text!r} would swallow ordinary typing: add Ctrl, Alt or Meta."
        )
    return KeyCombo(frozenset(modifiers), key)
