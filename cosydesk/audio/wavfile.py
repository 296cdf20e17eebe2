"""WAV files written chunk by chunk to a temp file and renamed into place only when complete.

Nothing ever appears at the target path until `commit()`: a cancelled or failed save leaves
no partial file behind, and an existing file is replaced only when asked to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
Subtype = Literal["PCM_16", "FLOAT"]


class WavExistsError(FileExistsError):
    """The target file exists and overwriting was not asked for."""


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

        Raises WavExistsError if `path` exists and `overwrite` is false, FileNotFoundError if
        its folder does not exist, ValueError for a bad sample rate or subtype.
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
        self._check_target()
        self._temp: Path | None = None
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

        temp = _create_temp(self.path)
        self._temp = temp
        try:
            self._file = soundfile.SoundFile(
                os.fspath(temp),
                mode="w",
                samplerate=self.sample_rate,
                channels=1,
                subtype=self.subtype,
                format="WAV",
            )
        except BaseException:
            self._remove_temp()
            raise

    def write(self, chunk: np.ndarray) -> None:
        """Append a chunk of mono samples in [-1, 1]; louder samples are clipped in PCM_16."""
        self.open()
        samples = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if self.subtype == "PCM_16":
            # libsndfile wraps around instead of clipping: a loud peak would become a crack.
            samples = np.clip(samples, -1.0, 1.0)
        self._file.write(samples)
        self.frames_written += samples.shape[0]

    def commit(self) -> Path:
        """Finish the file and rename it to the target; returns the target path.

        Raises WavExistsError when the target appeared meanwhile and overwrite is false (the
        temp file is then removed).
        """
        if self._closed:
            return self.path
        self.open()  # an empty file is still a valid WAV file
        assert self._temp is not None
        try:
            self._file.close()
            _fsync(self._temp)
            if self.overwrite:
                os.replace(self._temp, self.path)
            else:
                _move_without_replacing(self._temp, self.path)
        except BaseException:
            self.abort()
            raise
        self._temp = None
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

    def _check_target(self) -> None:
        if not self.path.parent.is_dir():
            raise FileNotFoundError(
                f"The folder {self.path.parent} does not exist: choose another place to save."
            )
        if not self.overwrite and self.path.exists():
            raise WavExistsError(
                f"{self.path} already exists: choose another name, or confirm replacing it."
            )

    def _remove_temp(self) -> None:
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None


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
            f"{target} already exists: choose another name, or confirm replacing it."
        ) from None
    except OSError:
        # Some file systems (FAT, some network shares) have no hard links.
        if target.exists():
            raise WavExistsError(
                f"{target} already exists: choose another name, or confirm replacing it."
            ) from None
        os.replace(source, target)
        return
    source.unlink()


def _create_temp(target: Path) -> Path:
    """A new empty file beside `target`, with the permissions a normal file gets (umask)."""
    for _ in range(100):
        temp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.wav.part")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp
    raise FileExistsError(f"could not create a temporary file beside {target}")


def _fsync(path: Path) -> None:
    with open(path, "rb+") as stream:
        os.fsync(stream.fileno())
