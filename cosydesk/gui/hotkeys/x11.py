"""X11 global hotkey: XGrabKey on the root window through python-xlib.

The grab is made on a connection of our own (Qt's may be offscreen or Wayland), and its socket
is watched by a QSocketNotifier, so events are read in the Qt main loop: no thread, and the
callback runs in the main thread. Only the grabbed combination ever reaches us: this is not a
key logger.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QSocketNotifier, QTimer

from cosydesk.gui.hotkeys.keys import HotkeyError, KeyCombo, parse_sequence

log = logging.getLogger(__name__)


class X11Backend:
    """XGrabKey-based hotkey; `display_name` defaults to $DISPLAY."""

    name = "X11"

    def __init__(self, display_name: str | None = None) -> None:
        self._display_name = display_name
        self._display: Any = None
        self._notifier: QSocketNotifier | None = None
        self._callback: Callable[[], None] | None = None
        self._keycode = 0
        self._modifiers = 0
        self._lock_variants: list[int] = []
        self._relevant = 0
        self._held = False
        self._last_release = -1

    def register(self, sequence: str, callback: Callable[[], None]) -> None:
        """Grab `sequence` on every screen's root window, with every lock-key state.

        Raises HotkeyError when python-xlib or the X server is missing, the key is not on the
        keyboard, or another program holds the combination.
        """
        combo = parse_sequence(sequence)
        self.unregister()
        if QCoreApplication.instance() is None:
            raise HotkeyError("The X11 hotkey needs the Qt application to be running first.")
        try:
            from Xlib import X, error
            from Xlib.display import Display
        except ImportError as exc:
            raise HotkeyError(
                "The global shortcut needs the Python package python-xlib on X11 "
                "(pip install python-xlib)."
            ) from exc
        try:
            display = Display(self._display_name)
        except Exception as exc:
            where = self._display_name or "$DISPLAY"
            raise HotkeyError(
                f"Cannot reach the X server at {where} ({exc}), so there is no global shortcut; "
                "bind `cosydesk --action speak-clipboard` in your desktop's keyboard settings."
            ) from exc
        display.set_error_handler(_log_x_error)

        try:
            keycode, modifiers = _resolve(display, combo)
            self._lock_variants = _lock_variants(display)
            catcher = error.CatchError(error.BadAccess)
            for screen in range(display.screen_count()):
                root = display.screen(screen).root
                for extra in self._lock_variants:
                    root.grab_key(
                        keycode,
                        modifiers | extra,
                        False,
                        X.GrabModeAsync,
                        X.GrabModeAsync,
                        onerror=catcher,
                    )
            display.sync()  # errors of the grabs arrive by now
            if catcher.get_error() is not None:
                raise HotkeyError(
                    f"The shortcut {combo} is already taken by another program: choose another "
                    "one in Settings, or free it in that program."
                )
        except BaseException:
            display.close()
            raise

        self._display = display
        self._keycode = keycode
        self._modifiers = modifiers
        self._relevant = X.ShiftMask | X.ControlMask | X.Mod1Mask | X.Mod4Mask
        self._callback = callback
        self._held = False
        self._notifier = QSocketNotifier(display.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._read_events)
        # Events python-xlib already buffered during sync() would not wake the notifier.
        QTimer.singleShot(0, self._read_events)
        log.info("Global shortcut %s registered with XGrabKey", combo)

    def unregister(self) -> None:
        """Release the grab and close our X connection."""
        display, self._display = self._display, None
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        self._callback = None
        if display is None:
            return
        try:
            for screen in range(display.screen_count()):
                root = display.screen(screen).root
                for extra in self._lock_variants:
                    root.ungrab_key(self._keycode, self._modifiers | extra)
            display.close()  # flushes the ungrabs
        except Exception:
            log.warning("The X connection was already gone when releasing the shortcut")

    def _read_events(self, *_: object) -> None:
        from Xlib import X, error

        display = self._display
        if display is None:
            return
        try:
            while display.pending_events():
                self._handle(display.next_event(), X)
        except error.ConnectionClosedError:
            log.warning("The X server closed the connection; the global shortcut is gone")
            if self._notifier is not None:
                self._notifier.setEnabled(False)
            self._display = None

    def _handle(self, event: Any, X: Any) -> None:
        if getattr(event, "detail", None) != self._keycode:
            return
        if event.type == X.KeyRelease:
            self._held = False
            self._last_release = event.time
        elif event.type == X.KeyPress and (event.state & self._relevant) == self._modifiers:
            # Auto-repeat sends release+press pairs with one timestamp: one press, one action.
            if self._held or event.time == self._last_release:
                self._held = True
                return
            self._held = True
            if self._callback is not None:
                try:
                    self._callback()
                except Exception:
                    log.exception("The global shortcut's action failed")


def _resolve(display: Any, combo: KeyCombo) -> tuple[int, int]:
    """(keycode, modifier mask) for `combo` on this server's keyboard map."""
    from Xlib import XK, X

    keysym = XK.string_to_keysym(combo.xkb_keysym)
    keycode = display.keysym_to_keycode(keysym) if keysym else 0
    if not keycode:
        raise HotkeyError(
            f"The key {combo.key} is not on this keyboard layout: choose another shortcut."
        )
    masks = {"ctrl": X.ControlMask, "alt": X.Mod1Mask, "shift": X.ShiftMask, "meta": X.Mod4Mask}
    modifiers = 0
    for name in combo.modifiers:
        modifiers |= masks[name]
    return keycode, modifiers


def _lock_variants(display: Any) -> list[int]:
    """Every combination of Caps Lock, Num Lock and Scroll Lock masks.

    A grab matches the exact modifier state, so without these the shortcut would stop
    working whenever Num Lock is on.
    """
    from Xlib import XK, X

    locks = [X.LockMask]
    mapping = display.get_modifier_mapping()
    for name in ("Num_Lock", "Scroll_Lock"):
        keycode = display.keysym_to_keycode(XK.string_to_keysym(name))
        if not keycode:
            continue
        for index, keycodes in enumerate(mapping):
            if keycode in keycodes and index > 2:  # Mod1..Mod5, never Shift/Lock/Control
                locks.append(1 << index)
                break
    variants: set[int] = set()
    for count in range(len(locks) + 1):
        for subset in itertools.combinations(locks, count):
            mask = 0
            for lock in subset:
                mask |= lock
            variants.add(mask)
    return sorted(variants)


def _log_x_error(err: Any, request: Any) -> None:
    log.warning("X error on the hotkey connection: %s", err)
