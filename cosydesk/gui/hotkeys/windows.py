"""Windows global hotkey: RegisterHotKey, with WM_HOTKEY caught by a Qt native event filter.

The hotkey is registered for the GUI thread (no window handle), so Windows posts WM_HOTKEY to
that thread's queue, which Qt's event dispatcher shows to native event filters. ctypes is used
only inside functions, so this module imports on any platform. Not tested on Windows here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractNativeEventFilter, QCoreApplication

from cosydesk.gui.hotkeys.keys import HotkeyError, KeyCombo, parse_sequence

log = logging.getLogger(__name__)

WM_HOTKEY = 0x0312
MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN, MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
# Applications may use ids 0x0000-0xBFFF; one fixed id, as a backend holds one hotkey.
HOTKEY_ID = 0x0C05

_VIRTUAL_KEYS = {
    "Space": 0x20,
    "Tab": 0x09,
    "Return": 0x0D,
    "Escape": 0x1B,
    "Backspace": 0x08,
    "Insert": 0x2D,
    "Delete": 0x2E,
    "Home": 0x24,
    "End": 0x23,
    "PgUp": 0x21,
    "PgDown": 0x22,
    "Left": 0x25,
    "Up": 0x26,
    "Right": 0x27,
    "Down": 0x28,
    "Pause": 0x13,
    "Print": 0x2C,
    **{f"F{n}": 0x6F + n for n in range(1, 25)},
}


class _HotkeyFilter(QAbstractNativeEventFilter):
    """Sees every message of the GUI thread; acts on our WM_HOTKEY only."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self.callback = callback

    def nativeEventFilter(self, eventType: Any, message: Any) -> tuple[bool, int]:
        from ctypes import wintypes

        kind = bytes(eventType)
        if kind not in (b"windows_generic_MSG", b"windows_dispatcher_MSG"):
            return False, 0
        msg = wintypes.MSG.from_address(int(message))
        if msg.message != WM_HOTKEY or msg.wParam != HOTKEY_ID:
            return False, 0
        try:
            self.callback()
        except Exception:
            log.exception("The global shortcut's action failed")
        return True, 0


class WindowsBackend:
    """RegisterHotKey-based hotkey; register it from the GUI thread."""

    name = "Windows"

    def __init__(self) -> None:
        self._filter: _HotkeyFilter | None = None

    def register(self, sequence: str, callback: Callable[[], None]) -> None:
        """Register `sequence` system-wide; HotkeyError if Windows refuses it."""
        combo = parse_sequence(sequence)
        if sys.platform != "win32":
            raise HotkeyError("RegisterHotKey exists on Windows only.")
        self.unregister()
        app = QCoreApplication.instance()
        if app is None:
            raise HotkeyError("The Windows hotkey needs the Qt application to be running first.")
        user32 = _user32()
        modifiers, key = _native(combo, user32)
        import ctypes

        # MOD_NOREPEAT: holding the keys down sends one WM_HOTKEY, not a stream of them.
        if not user32.RegisterHotKey(None, HOTKEY_ID, modifiers | MOD_NOREPEAT, key):
            code = ctypes.get_last_error()
            if code == ERROR_HOTKEY_ALREADY_REGISTERED:
                raise HotkeyError(
                    f"The shortcut {combo} is already taken by another program: choose another "
                    "one in Settings, or free it in that program."
                )
            raise HotkeyError(
                f"Windows refused the shortcut {combo} ({ctypes.FormatError(code).strip()}): "
                "choose another one in Settings."
            )
        self._filter = _HotkeyFilter(callback)
        app.installNativeEventFilter(self._filter)
        log.info("Global shortcut %s registered with RegisterHotKey", combo)

    def unregister(self) -> None:
        """Release the hotkey and remove the event filter."""
        if self._filter is None:
            return
        app = QCoreApplication.instance()
        if app is not None:
            app.removeNativeEventFilter(self._filter)
        self._filter = None
        if not _user32().UnregisterHotKey(None, HOTKEY_ID):
            log.warning("UnregisterHotKey failed; the shortcut may stay taken until exit")


def _user32() -> Any:
    if sys.platform != "win32":
        raise HotkeyError("RegisterHotKey exists on Windows only.")
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)
    user32.RegisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int, wintypes.UINT, wintypes.UINT]
    user32.RegisterHotKey.restype = wintypes.BOOL
    user32.UnregisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int]
    user32.UnregisterHotKey.restype = wintypes.BOOL
    user32.VkKeyScanW.argtypes = [wintypes.WCHAR]
    user32.VkKeyScanW.restype = ctypes.c_short
    return user32


def _native(combo: KeyCombo, user32: Any) -> tuple[int, int]:
    """(MOD_* flags, virtual-key code) for `combo`."""
    flags = {"ctrl": MOD_CONTROL, "alt": MOD_ALT, "shift": MOD_SHIFT, "meta": MOD_WIN}
    modifiers = 0
    for name in combo.modifiers:
        modifiers |= flags[name]
    if combo.key in _VIRTUAL_KEYS:
        return modifiers, _VIRTUAL_KEYS[combo.key]
    if len(combo.key) == 1 and combo.key.isalnum():
        return modifiers, ord(combo.key)  # VK codes of A-Z and 0-9 are their ASCII codes
    # Punctuation sits on different keys per layout: ask the active layout where it is.
    scan = user32.VkKeyScanW(combo.key)
    if scan == -1:
        raise HotkeyError(
            f"The key {combo.key} is not on this keyboard layout: choose another shortcut."
        )
    return modifiers, scan & 0xFF
