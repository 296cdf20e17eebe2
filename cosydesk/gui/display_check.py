"""Why a window cannot open here, said before Qt tries (and aborts the process with its text).

Qt's xcb platform plugin needs system libraries that minimal Debian and Ubuntu installs lack
(libxcb-icccm4, libxcb-keysyms1, libxcb-cursor0, libxkbcommon-x11-0, ...); without them, or
without any display, `QApplication()` prints a hint that blames the wrong library and aborts
(exit status 134). `display_problem()` finds the same faults first and names them in a
sentence with the command that fixes them. Imports no Qt module: it runs before QApplication.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

# Libraries the Qt platform plugins need, and the Debian/Ubuntu packages that hold them.
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
NO_DISPLAY = (
    "no graphical desktop was found (neither DISPLAY nor WAYLAND_DISPLAY is set): start "
    "cosydesk from your desktop session; `cosydesk say` makes WAV files without one."
)


def needed_libraries(path: Path) -> list[str]:
    """The DT_NEEDED entries (library names) of the 64-bit little-endian ELF file `path`."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return []
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads: list[tuple[int, int, int]] = []  # (virtual address, file offset, size)
    dynamic: tuple[int, int] | None = None
    for n in range(phnum):
        kind, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + n * phentsize
        )
        if kind == 1:  # PT_LOAD
            loads.append((vaddr, offset, filesz))
        elif kind == 2:  # PT_DYNAMIC
            dynamic = (offset, filesz)
    if dynamic is None:
        return []
    entries = [struct.unpack_from("<qQ", data, dynamic[0] + i) for i in range(0, dynamic[1], 16)]
    strtab = next((value for tag, value in entries if tag == 5), None)  # DT_STRTAB
    if strtab is None:
        return []
    base = next((off + strtab - va for va, off, size in loads if va <= strtab < va + size), None)
    if base is None:
        return []
    names = []
    for tag, value in entries:
        if tag == 1:  # DT_NEEDED
            end = data.index(b"\0", base + value)
            names.append(data[base + value : end].decode("utf-8", "replace"))
    return names


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_libraries(
    plugin: Path, qt_libs: Path, loadable: Callable[[str], bool] = _loads
) -> list[str]:
    """System libraries that `plugin` needs, directly or through Qt's own, which do not load.

    Qt's own libraries (found in `qt_libs`) are followed instead of loaded; they are found
    through the plugin's search path, not the system's.
    """
    missing: list[str] = []
    seen: set[str] = set()
    todo: list[Path] = [plugin]
    while todo:
        for name in needed_libraries(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            if (qt_libs / name).is_file():
                todo.append(qt_libs / name)
            elif not loadable(name):
                missing.append(name)
    return missing


def _install_hint(names: Iterable[str]) -> str:
    packages = sorted({DEBIAN_PACKAGES.get(name, "") for name in names} - {""})
    if not packages:
        return "Install them with your distribution's package manager."
    return f"On Debian or Ubuntu: sudo apt install {' '.join(packages)}"


def _qt_folders() -> tuple[Path, Path] | None:
    """(platform plugin folder, Qt library folder) of the installed PySide6, found on disk."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    return qt / "plugins" / "platforms", qt / "lib"


def display_problem(
    environ: Mapping[str, str] = os.environ,
    loadable: Callable[[str], bool] = _loads,
    platform: str = sys.platform,
) -> str | None:
    """A sentence saying why Qt cannot open a window here, or None when nothing is in the way.

    Only Linux desktops are checked (xcb, and Wayland where the session is one); a platform
    chosen through QT_QPA_PLATFORM other than those two (offscreen, vnc, ...) is left to Qt.
    """
    if not platform.startswith("linux"):
        return None
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen not in ("", "xcb", "wayland", "wayland-egl"):
        return None
    x11 = bool(environ.get("DISPLAY"))
    wayland = bool(environ.get("WAYLAND_DISPLAY"))
    if not x11 and not wayland:
        return NO_DISPLAY
    folders = _qt_folders()
    if folders is None:
        return None
    plugins, qt_libs = folders
    wanted = "wayland" if chosen.startswith("wayland") or (not chosen and not x11) else "xcb"
    if not chosen and wayland and environ.get("XDG_SESSION_TYPE") == "wayland":
        wanted = "wayland"
    plugin = plugins / f"libq{'wayland' if wanted == 'wayland' else 'xcb'}.so"
    if not plugin.is_file():
        return None
    missing = missing_libraries(plugin, qt_libs, loadable)
    if not missing:
        return None
    if wanted == "wayland" and x11 and not chosen:
        # Qt falls back to X11 (XWayland) by itself when Wayland cannot be used.
        return display_problem({**environ, "QT_QPA_PLATFORM": "xcb"}, loadable, platform)
    where = "Wayland" if wanted == "wayland" else "X11"
    return (
        f"the window cannot open: Qt's {where} support needs libraries that are not "
        f"installed ({', '.join(missing)}). {_install_hint(missing)}"
    )
