"""Global hotkeys through each platform's own mechanism; no key logging anywhere.

`choose_backend()` picks the backend that suits the running session:

- X11: XGrabKey on the root window (python-xlib), events read in the Qt main loop;
- Wayland: the xdg-desktop-portal GlobalShortcuts interface over D-Bus (the desktop may ask
  the user to confirm; a later refusal is reported through the backend's `on_error`);
- Windows: RegisterHotKey and a native event filter;
- macOS: Carbon's RegisterEventHotKey.

Every backend calls the callback in the Qt main thread. Where none can register, the app says
so and `cosydesk --action speak-clipboard` lets the desktop bind its own shortcut.
The backend modules are imported only when chosen, and never at import time of this package.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Protocol

from cosydesk.gui.hotkeys.keys import HotkeyError, KeyCombo, parse_sequence

__all__ = ["HotkeyBackend", "HotkeyError", "KeyCombo", "choose_backend", "parse_sequence"]


class HotkeyBackend(Protocol):
    """One global shortcut at a time, registered with the platform."""

    name: str

    def register(self, sequence: str, callback: Callable[[], None]) -> None:
        """Grab `sequence` (Qt portable text) and call `callback()` in the Qt main thread on
        each press. Replaces any shortcut registered before. Raises HotkeyError with a sentence
        when the platform refuses (for instance: already taken by another program)."""
        ...

    def unregister(self) -> None:
        """Release the shortcut; harmless when none is registered."""
        ...


def choose_backend(
    environ: Mapping[str, str] | None = None, platform: str | None = None
) -> HotkeyBackend | None:
    """The backend for this platform and session, or None where no mechanism exists.

    On Linux a Wayland session (XDG_SESSION_TYPE=wayland or WAYLAND_DISPLAY set) gets the
    portal, even when XWayland provides DISPLAY: an X grab there only sees X windows. An X11
    session gets XGrabKey; no display at all gets None. Nothing is registered yet.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        from cosydesk.gui.hotkeys.windows import WindowsBackend

        return WindowsBackend()
    if platform == "darwin":
        from cosydesk.gui.hotkeys.macos import MacBackend

        return MacBackend()
    wayland = environ.get("XDG_SESSION_TYPE", "").lower() == "wayland" or bool(
        environ.get("WAYLAND_DISPLAY")
    )
    if wayland:
        from cosydesk.gui.hotkeys.portal import PortalBackend

        return PortalBackend()
    if environ.get("DISPLAY"):
        from cosydesk.gui.hotkeys.x11 import X11Backend

        return X11Backend()
    return None
