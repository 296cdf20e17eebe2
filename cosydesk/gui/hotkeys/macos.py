"""macOS global hotkey: Carbon's RegisterEventHotKey through ctypes.

Carbon hot keys need no accessibility permission (unlike event taps) and are delivered to the
application event target while Qt runs the main run loop, so the callback is in the main
thread. Qt's convention holds: "Ctrl" is the Command key and "Meta" the Control key. ctypes is
used only inside functions, so this module imports on any platform. Not tested on macOS here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from cosydesk.gui.hotkeys.keys import HotkeyError, KeyCombo, parse_sequence

log = logging.getLogger(__name__)

_CARBON = "/System/Library/Frameworks/Carbon.framework/Carbon"


def _four_cc(code: bytes) -> int:
    return int.from_bytes(code, "big")


K_EVENT_CLASS_KEYBOARD = _four_cc(b"keyb")
K_EVENT_HOT_KEY_PRESSED = 5
K_EVENT_PARAM_DIRECT_OBJECT = _four_cc(b"----")
TYPE_EVENT_HOT_KEY_ID = _four_cc(b"hkid")
K_EVENT_HOT_KEY_EXCLUSIVE = 1 << 1
EVENT_HOT_KEY_EXISTS_ERR = -9878
NO_ERR = 0
EVENT_NOT_HANDLED_ERR = -9874
SIGNATURE = _four_cc(b"CsDk")
HOTKEY_ID = 1

# Carbon modifier bits (cmdKey, shiftKey, optionKey, controlKey), mapped the way Qt maps them.
_MODIFIER_BITS = {"ctrl": 1 << 8, "shift": 1 << 9, "alt": 1 << 11, "meta": 1 << 12}

# Virtual key codes of the ANSI keyboard (HIToolbox Events.h); they name positions, not letters.
_KEY_CODES = {
    **{key: code for code, key in enumerate("ASDFHGZXCV")},
    **{key: 0x0B + offset for offset, key in enumerate("BQWERYT")},
    **{key: 0x12 + offset for offset, key in enumerate("123465")},
    "=": 0x18,
    "9": 0x19,
    "7": 0x1A,
    "-": 0x1B,
    "8": 0x1C,
    "0": 0x1D,
    "]": 0x1E,
    "O": 0x1F,
    "U": 0x20,
    "[": 0x21,
    "I": 0x22,
    "P": 0x23,
    "Return": 0x24,
    "L": 0x25,
    "J": 0x26,
    "'": 0x27,
    "K": 0x28,
    ";": 0x29,
    "\\": 0x2A,
    ",": 0x2B,
    "/": 0x2C,
    "N": 0x2D,
    "M": 0x2E,
    ".": 0x2F,
    "Tab": 0x30,
    "Space": 0x31,
    "`": 0x32,
    "Backspace": 0x33,
    "Escape": 0x35,
    "F17": 0x40,
    "F18": 0x4F,
    "F19": 0x50,
    "F20": 0x5A,
    "F5": 0x60,
    "F6": 0x61,
    "F7": 0x62,
    "F3": 0x63,
    "F8": 0x64,
    "F9": 0x65,
    "F11": 0x67,
    "F13": 0x69,
    "F16": 0x6A,
    "F14": 0x6B,
    "F10": 0x6D,
    "F12": 0x6F,
    "F15": 0x71,
    "Insert": 0x72,  # the Help key sits where Insert is
    "Home": 0x73,
    "PgUp": 0x74,
    "Delete": 0x75,
    "F4": 0x76,
    "End": 0x77,
    "F2": 0x78,
    "PgDown": 0x79,
    "F1": 0x7A,
    "Left": 0x7B,
    "Right": 0x7C,
    "Down": 0x7D,
    "Up": 0x7E,
}


def native_combo(combo: KeyCombo) -> tuple[int, int]:
    """(Carbon key code, Carbon modifier bits) for `combo`; HotkeyError if Macs lack the key."""
    code = _KEY_CODES.get(combo.key)
    if code is None:
        raise HotkeyError(f"The key {combo.key} is not on a Mac keyboard: choose another shortcut.")
    modifiers = 0
    for name in combo.modifiers:
        modifiers |= _MODIFIER_BITS[name]
    return code, modifiers


class MacBackend:
    """RegisterEventHotKey-based hotkey; register it from the main thread."""

    name = "macOS"

    def __init__(self) -> None:
        self._carbon: Any = None
        self._handler_proc: Any = None  # the ctypes callback must outlive its registration
        self._handler_ref: Any = None
        self._hotkey_ref: Any = None
        self._callback: Callable[[], None] | None = None

    def register(self, sequence: str, callback: Callable[[], None]) -> None:
        """Register `sequence` system-wide; HotkeyError if macOS refuses it."""
        import ctypes

        combo = parse_sequence(sequence)
        code, modifiers = native_combo(combo)
        self.unregister()
        carbon = _load_carbon()
        hotkey_id_type, spec_type, proc_type = _types()

        self._callback = callback
        self._handler_proc = proc_type(self._on_event)
        spec = spec_type(K_EVENT_CLASS_KEYBOARD, K_EVENT_HOT_KEY_PRESSED)
        handler_ref = ctypes.c_void_p()
        target = carbon.GetApplicationEventTarget()
        status = carbon.InstallEventHandler(
            target, self._handler_proc, 1, ctypes.byref(spec), None, ctypes.byref(handler_ref)
        )
        if status != NO_ERR:
            self._handler_proc = None
            raise HotkeyError(f"macOS refused the hotkey handler (error {status}).")
        hotkey_ref = ctypes.c_void_p()
        status = carbon.RegisterEventHotKey(
            code,
            modifiers,
            hotkey_id_type(SIGNATURE, HOTKEY_ID),
            target,
            K_EVENT_HOT_KEY_EXCLUSIVE,
            ctypes.byref(hotkey_ref),
        )
        if status != NO_ERR:
            carbon.RemoveEventHandler(handler_ref)
            self._handler_proc = None
            if status == EVENT_HOT_KEY_EXISTS_ERR:
                raise HotkeyError(
                    f"The shortcut {combo} is already taken by another program: choose another "
                    "one in Settings, or free it in that program."
                )
            raise HotkeyError(
                f"macOS refused the shortcut {combo} (error {status}): choose another one."
            )
        self._carbon = carbon
        self._handler_ref = handler_ref
        self._hotkey_ref = hotkey_ref
        log.info("Global shortcut %s registered with RegisterEventHotKey", combo)

    def unregister(self) -> None:
        """Release the hotkey and remove the event handler."""
        carbon, self._carbon = self._carbon, None
        if carbon is None:
            return
        carbon.UnregisterEventHotKey(self._hotkey_ref)
        carbon.RemoveEventHandler(self._handler_ref)
        self._hotkey_ref = self._handler_ref = None
        self._handler_proc = None
        self._callback = None

    def _on_event(self, call_ref: Any, event: Any, user_data: Any) -> int:
        """Carbon's event handler: our hot key pressed -> the callback."""
        import ctypes

        try:
            hotkey_id_type, _, _ = _types()
            pressed = hotkey_id_type()
            status = self._carbon.GetEventParameter(
                event,
                K_EVENT_PARAM_DIRECT_OBJECT,
                TYPE_EVENT_HOT_KEY_ID,
                None,
                ctypes.sizeof(pressed),
                None,
                ctypes.byref(pressed),
            )
            if status != NO_ERR or (pressed.signature, pressed.id) != (SIGNATURE, HOTKEY_ID):
                return EVENT_NOT_HANDLED_ERR
            if self._callback is not None:
                self._callback()
        except Exception:
            # An exception must never unwind into Carbon's C frames.
            log.exception("The global shortcut's action failed")
        return NO_ERR


@functools.cache
def _types() -> tuple[Any, Any, Any]:
    """The ctypes structures and callback type of Carbon's hot key API (made once: ctypes
    checks arguments by class identity)."""
    import ctypes

    class EventHotKeyID(ctypes.Structure):
        _fields_ = (("signature", ctypes.c_uint32), ("id", ctypes.c_uint32))

    class EventTypeSpec(ctypes.Structure):
        _fields_ = (("eventClass", ctypes.c_uint32), ("eventKind", ctypes.c_uint32))

    handler = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    return EventHotKeyID, EventTypeSpec, handler


def _load_carbon() -> Any:
    import ctypes

    try:
        carbon = ctypes.CDLL(_CARBON)
    except OSError as exc:
        raise HotkeyError(
            "The Carbon framework is not available, so there is no global shortcut; bind "
            "`cosydesk --action speak-clipboard` in System Settings > Keyboard > Shortcuts."
        ) from exc
    hotkey_id_type, _, proc_type = _types()
    void_p, status = ctypes.c_void_p, ctypes.c_int32
    carbon.GetApplicationEventTarget.restype = void_p
    carbon.GetApplicationEventTarget.argtypes = []
    carbon.InstallEventHandler.restype = status
    carbon.InstallEventHandler.argtypes = [
        void_p,
        proc_type,
        ctypes.c_ulong,
        void_p,
        void_p,
        void_p,
    ]
    carbon.RemoveEventHandler.restype = status
    carbon.RemoveEventHandler.argtypes = [void_p]
    carbon.RegisterEventHotKey.restype = status
    carbon.RegisterEventHotKey.argtypes = [
        ctypes.c_uint32,
        ctypes.c_uint32,
        hotkey_id_type,
        void_p,
        ctypes.c_uint32,
        void_p,
    ]
    carbon.UnregisterEventHotKey.restype = status
    carbon.UnregisterEventHotKey.argtypes = [void_p]
    carbon.GetEventParameter.restype = status
    carbon.GetEventParameter.argtypes = [
        void_p,
        ctypes.c_uint32,
        ctypes.c_uint32,
        void_p,
        ctypes.c_ulong,
        void_p,
        void_p,
    ]
    return carbon
