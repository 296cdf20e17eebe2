"""Temp files and folders that say which process writes them, so leftovers can be swept safely.

A save writes a temp file beside its target and renames it into place; a voice is built in a
`.new-*` folder and renamed into the library. A process killed in between (kill -9, a power
cut) leaves the temp behind, and a long text makes it 100 MB or more. Each temp therefore
carries its writer's pid in its name and, on POSIX, is held under an exclusive `flock` for as
long as it is written. A later start removes a temp only when both say its writer is gone: the
pid names no running process *and* the lock can be taken. The pid alone would be wrong after pid
reuse or across pid namespaces (a Flatpak and the host share a folder), the lock alone in the
moment between creating a temp and locking it. Where there is no `flock` (Windows) nothing is
swept: a temp that is still being written is never removed.

Qt-free and cheap: a sweep lists one folder and tries a lock on the few names that match.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class OwnerLock:
    """An exclusive lock held on an open file or folder for as long as this object is open."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing its descriptor); later calls do nothing."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def hold(path: Path, fd: int | None = None) -> OwnerLock:
    """Lock `path` (a file, or a folder) for this process; `fd` is an open descriptor to reuse.

    Never raises: a file system without locks leaves the temp protected by its pid alone.
    """
    if fcntl is None:
        if fd is not None:
            os.close(fd)
        return OwnerLock(None)
    try:
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        log.debug("No lock on %s (%s); its pid alone marks it as ours", path, exc)
    return OwnerLock(fd)


def pid_running(pid: int) -> bool:
    """Whether a process with this pid exists here (a zombie counts; when unsure, True)."""
    if pid == os.getpid():
        return True
    if pid <= 0 or sys.platform == "win32":
        # os.kill(pid, 0) would terminate the process on Windows.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def _unlocked(path: Path) -> bool:
    """True when nobody holds the lock on `path` (and a lock can be tried at all)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # also drops the lock just taken
    return True


def is_stale(path: Path, pid: int) -> bool:
    """True when the temp `path`, written by process `pid`, has no living writer."""
    return not pid_running(pid) and _unlocked(path)


def sweep(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Remove the stale temps in `folder` whose names match `pattern`; returns those removed.

    `pattern` must capture the writer's pid in a group named `pid`. Only regular files and
    real folders are removed (never what a link points to). Errors are logged, never raised:
    a sweep must not stop a save or a start.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            if not (is_dir or entry.is_file(follow_symlinks=False)):
                continue
            if not is_stale(path, int(match["pid"])):
                continue
            if is_dir:
                shutil.rmtree(path)
            else:
                path.unlink()
        except (OSError, ValueError) as exc:
            log.warning("Could not remove the leftover %s: %s", path, exc)
            continue
        log.info("Removed %s, left by a process that no longer runs", path)
        removed.append(path)
    return removed
