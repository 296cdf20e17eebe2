"""WAV files written chunk by chunk to a temp file and renamed into place only when complete.

Nothing ever appears at the target path until `commit()`: a cancelled or failed save leaves
no partial file behind, and an existing file is replaced only when asked to.

Only regular files are ever replaced: a folder, a named pipe, a device (as root, `/dev/null`)
or a socket at the target is refused with a sentence, overwrite or not. A symbolic link is
followed when it ends at an existing regular file, and with overwrite that file is replaced
(the link stays a link, as an editor saving through it would do); a link that leads to nothing,
to a loop or to anything but a regular file is refused, so no file is ever created through a
dangling link.

The temp file is hidden beside the file finally written, is named after the writing process
(`.<stem>.<pid>-<random>.wav.part`) and locked while it is written (see
`cosydesk.engine.tempowner`): one left by a process that was killed is removed when the next
WAV file is written in that folder, one that is still being written never is.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import stat
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from cosydesk.engine import tempowner
from cosydesk.engine.errors import EngineError

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
Subtype = Literal["PCM_16", "FLOAT"]


# `.<stem>.<pid>-<8 hex>.wav.part`; the stem is shortened so that the name stays legal.
TEMP_PATTERN = re.compile(r"\..*\.(?P<pid>[0-9]+)-[0-9a-f]{8}\.wav\.part", re.DOTALL)
_TEMP_STEM_CHARS = 100


class WavExistsError(FileExistsError, EngineError):
    """The target file exists and overwriting was not asked for.

    Also an EngineError, so that the app and the CLI show its sentence as it is.
    """


class WavTargetError(OSError, EngineError):
    """The target cannot be written: not a regular file, a bad link, or an unusable folder.

    Its message is the whole sentence (an OSError without errno or strerror).
    """


def shown(path: str | os.PathLike[str]) -> str:
    """`path` for a message: control characters (a newline in a name) and invisible format
    characters (a right-to-left override) escaped, so the sentence stays one honest line."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in os.fspath(path)
    )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def check_target(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """The file that saving to `path` would write: `path`, or the regular file a link names.

    Raises WavExistsError when something exists at `path` and `overwrite` is false,
    WavTargetError (a sentence) when the target is not a regular file, is a link that does not
    end at one, or its folder is missing; nothing is touched either way.
    """
    path = Path(path)
    parent = path.parent
    try:
        if not parent.is_dir():
            if os.path.lexists(parent):
                raise WavTargetError(
                    f"{shown(parent)} is not a folder: choose another place to save."
                )
            raise WavTargetError(
                f"The folder {shown(parent)} does not exist: choose another place to save."
            )
        try:
            info = path.lstat()
        except FileNotFoundError:
            return path
    except WavTargetError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WavTargetError(
            f"{shown(path)} cannot be used to save ({reason}): choose another name."
        ) from None
    if stat.S_ISLNK(info.st_mode):
        return _check_link(path, overwrite)
    if not stat.S_ISREG(info.st_mode):
        raise WavTargetError(
            f"{shown(path)} is {_kind(info.st_mode)}: cosydesk saves only over regular files, so "
            "choose another name."
        )
    if not overwrite:
        raise WavExistsError(
            f"{shown(path)} already exists: choose another name, or confirm replacing it."
        )
    return path


def _check_link(path: Path, overwrite: bool) -> Path:
    final = Path(os.path.realpath(path))
    try:
        info = final.stat()
    except FileNotFoundError:
        raise WavTargetError(
            f"{shown(path)} is a link to {shown(final)}, which does not exist: cosydesk "
            "creates no file through a link, so choose another name."
        ) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WavTargetError(
            f"{shown(path)} is a link that cannot be followed ({reason}): choose another name."
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise WavTargetError(
            f"{shown(path)} is a link to {shown(final)}, which is {_kind(info.st_mode)}: "
            "cosydesk saves only over regular files, so choose another name."
        )
    if not overwrite:
        raise WavExistsError(
            f"{shown(path)} already exists: choose another name, or confirm replacing it."
        )
    return final


class WavWriter:
    """Writes mono audio to `path` atomically.

    Use as a context manager::

        with WavWriter(path) as wav:
            for chunk in chunks:
                wav.write(chunk)

    Leaving the block normally commits (renames the finished file to `path`); leaving it with
    an exception, or calling `abort()`, deletes the temp file. `commit()` may also be called
    explicitly; later calls of `commit()`/`abort()` do nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int = SAMPLE_RATE,
        *,
        subtype: Subtype = "PCM_16",
        overwrite: bool = False,
    ) -> None:
        """Checks the target at once, so a save refused for an existing file costs no work.

        Raises WavExistsError if `path` exists and `overwrite` is false, WavTargetError if it
        is not a regular file (see `check_target`) or its folder does not exist, ValueError for
        a bad sample rate or subtype.
        """
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.subtype = subtype
        self.overwrite = overwrite
        self.frames_written = 0
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, not {sample_rate}")
        if subtype not in ("PCM_16", "FLOAT"):
            raise ValueError(f"subtype must be 'PCM_16' or 'FLOAT', not {subtype!r}")
        # Where the bytes go: `path`, or the regular file a link at `path` names.
        self._final = check_target(self.path, overwrite)
        self._temp: Path | None = None
        self._lock: tempowner.OwnerLock | None = None
        self._file: Any = None
        self._closed = False

    @property
    def seconds_written(self) -> float:
        """Duration of the audio written so far."""
        return self.frames_written / self.sample_rate

    def open(self) -> None:
        """Create the temp file next to the target (done by `with` and by the first `write`)."""
        if self._file is not None:
            return
        if self._closed:
            raise ValueError("this WAV file was already committed or aborted")
        import soundfile

        tempowner.sweep(self._final.parent, TEMP_PATTERN)
        self._temp, self._lock = _create_temp(self._final)
        try:
            self._file = soundfile.SoundFile(
                os.fspath(self._temp),
                mode="w",
                samplerate=self.sample_rate,
                channels=1,
                subtype=self.subtype,
                format="WAV",
            )
        except BaseException as exc:
            self._remove_temp()
            if isinstance(exc, RuntimeError):  # libsndfile's errors
                raise _write_error(self.path, exc) from None
            raise

    def write(self, chunk: np.ndarray) -> None:
        """Append a chunk of mono samples in [-1, 1]; louder samples are clipped in PCM_16."""
        self.open()
        samples = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if self.subtype == "PCM_16":
            # libsndfile wraps around instead of clipping: a loud peak would become a crack.
            samples = np.clip(samples, -1.0, 1.0)
        try:
            self._file.write(samples)
        except RuntimeError as exc:  # libsndfile's errors: a full disk, a vanished folder
            raise _write_error(self.path, exc) from None
        self.frames_written += samples.shape[0]

    def commit(self) -> Path:
        """Finish the file and rename it to the target; returns the target path.

        Raises WavExistsError when the target appeared meanwhile and overwrite is false, and
        WavTargetError when something other than a regular file took its place (the temp file
        is removed either way).
        """
        if self._closed:
            return self.path
        self.open()  # an empty file is still a valid WAV file
        assert self._temp is not None
        try:
            try:
                self._file.close()
            except RuntimeError as exc:
                raise _write_error(self.path, exc) from None
            _fsync(self._temp)
            if self.overwrite:
                # Checked again: a pipe or device put there since the start is not replaced.
                if check_target(self.path, overwrite=True) != self._final:
                    raise WavTargetError(
                        f"{shown(self.path)} changed while it was being saved: save again."
                    )
                os.replace(self._temp, self._final)
            else:
                _move_without_replacing(self._temp, self._final)
        except BaseException:
            self.abort()
            raise
        self._temp = None
        self._release_lock()
        self._closed = True
        log.debug("Wrote %s (%.1f s)", self.path, self.seconds_written)
        return self.path

    def abort(self) -> None:
        """Stop and delete the temp file; the target is left as it was."""
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
        self._remove_temp()

    def __enter__(self) -> WavWriter:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def _remove_temp(self) -> None:
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def write_wav(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    overwrite: bool = False,
    *,
    subtype: Subtype = "PCM_16",
) -> Path:
    """Write a whole mono signal to `path` atomically; returns the path. See `WavWriter`."""
    with WavWriter(path, sr, subtype=subtype, overwrite=overwrite) as wav:
        wav.write(audio)
    return wav.path


def _move_without_replacing(source: Path, target: Path) -> None:
    """Rename `source` to `target`, failing with WavExistsError if `target` exists.

    A hard link fails atomically when the name is taken, so a file created by someone else
    between our check and the rename is never clobbered.
    """
    try:
        os.link(source, target)
    except FileExistsError:
        raise WavExistsError(
            f"{shown(target)} already exists: choose another name, or confirm replacing it."
        ) from None
    except OSError:
        # Some file systems (FAT, some network shares) have no hard links.
        if os.path.lexists(target):
            raise WavExistsError(
                f"{shown(target)} already exists: choose another name, or confirm replacing it."
            ) from None
        os.replace(source, target)
        return
    source.unlink()


def _write_error(path: Path, exc: BaseException) -> WavTargetError:
    return WavTargetError(
        f"Could not write {shown(path)} ({exc}): free some space, or save elsewhere."
    )


def _create_temp(target: Path) -> tuple[Path, tempowner.OwnerLock]:
    """A new empty file beside `target`, with the permissions a normal file gets (umask),
    named after this process and locked by it (WavTargetError if the folder is not writable)."""
    stem = target.stem[:_TEMP_STEM_CHARS]
    for _ in range(100):
        temp = target.with_name(f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.wav.part")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            reason = "it is read-only" if exc.errno == errno.EROFS else exc.strerror or str(exc)
            raise WavTargetError(
                f"Cannot write in the folder {shown(target.parent)} ({reason}): choose another "
                "place to save."
            ) from None
        return temp, tempowner.hold(temp, fd)
    raise WavTargetError(
        f"Could not create a temporary file beside {shown(target)}: save elsewhere."
    )


def _fsync(path: Path) -> None:
    with open(path, "rb+") as stream:
        os.fsync(stream.fileno())
