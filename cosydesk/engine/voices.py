"""The voice library: reference clips with transcripts, and their prompt features cached on disk.

CosyVoice3 has no built-in speakers; a voice is a short clip (<= 30 s) plus what it says. Computing
its prompt features needs the two ONNX models, so they are computed once per model and kept beside
the clip; speaking with a cached voice needs neither ONNX model again.

Layout: ``<root>/<folder>/voice.json`` (name, transcript, duration), ``prompt.wav`` (the clip,
mono, at its own rate) and ``features-<model fingerprint>.npz``. A voice is built in a hidden
``.new-<pid>-<random>`` folder and renamed into place when complete; one left by an add that was
killed is removed when the library is next opened, one that a running add still builds is not
(see `cosydesk.engine.tempowner`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosydesk.engine import tempowner
from cosydesk.engine.errors import VoiceError

if TYPE_CHECKING:
    from cosydesk.engine.prompt.frontend import PromptFeatures
    from cosydesk.engine.protocols import PromptSource

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 60
# `.new-<pid>-<mkdtemp's random part>`: a voice being added, by the process with that pid.
NEW_FOLDER_PATTERN = re.compile(r"\.new-(?P<pid>[0-9]+)-[A-Za-z0-9_]+")


@dataclass(frozen=True)
class VoiceInfo:
    """What the library knows about a voice without loading any model."""

    name: str
    transcript: str
    duration_s: float
    audio_path: Path
    folder: Path


@dataclass
class Voice:
    """A voice ready to speak with: its transcript and prompt features for the loaded model."""

    name: str
    transcript: str
    features: PromptFeatures


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower()
    return slug[:40] or "voice"


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise VoiceError("A voice needs a name: type one, for example 'Narrator'.")
    if len(name) > MAX_NAME_LENGTH:
        raise VoiceError(f"That name is too long: keep it under {MAX_NAME_LENGTH} characters.")
    return name


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".voice-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cache_name(engine: PromptSource | None) -> str:
    """The file of a voice's prompt features for `engine`'s model."""
    return f"features-{getattr(engine, 'fingerprint', None) or 'none'}.npz"


class VoiceLibrary:
    """Voices stored under `root`; every change is written to disk at once."""

    def __init__(self, root: Path) -> None:
        """Open the library at `root` (created by the first `add`), removing what killed adds
        left behind."""
        self.root = Path(root)
        tempowner.sweep(self.root, NEW_FOLDER_PATTERN)

    def _infos(self) -> list[VoiceInfo]:
        infos: list[VoiceInfo] = []
        if not self.root.is_dir():
            return infos
        for folder in sorted(self.root.iterdir()):
            meta = folder / "voice.json"
            # ".new-*" folders are voices being added (or left by a crash): not voices yet.
            if folder.name.startswith(".") or not meta.is_file():
                continue
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
                infos.append(
                    VoiceInfo(
                        name=str(data["name"]),
                        transcript=str(data["transcript"]),
                        duration_s=float(data.get("duration_s", 0.0)),
                        audio_path=folder / "prompt.wav",
                        folder=folder,
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                # A damaged entry must not hide the other voices; it is simply skipped.
                continue
        return infos

    def list(self) -> list[VoiceInfo]:
        """All voices, sorted by name (case-insensitive)."""
        return sorted(self._infos(), key=lambda v: v.name.casefold())

    def info(self, name: str) -> VoiceInfo:
        """The voice called `name` (spacing as `add` stores it); VoiceError when there is none."""
        wanted = " ".join(name.split())
        for info in self._infos():
            if info.name == wanted:
                return info
        raise VoiceError(f"There is no voice called '{name}': choose one from the voice list.")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._taken(name) is not None

    def _taken(self, name: str) -> VoiceInfo | None:
        """The voice whose name differs from `name` at most in case and spacing, if any.

        Two voices called "Anna" and "anna" would be told apart by nobody in the voice list.
        """
        key = " ".join(name.split()).casefold()
        return next((v for v in self._infos() if v.name.casefold() == key), None)

    def add(
        self, name: str, audio_path: Path, transcript: str, engine: PromptSource | None = None
    ) -> VoiceInfo:
        """Add a voice from an audio file and its transcript.

        The clip is checked (readable, at least 16 kHz, not silent, 0.5 to 30 s long) and stored
        as mono at its own rate. When an engine is given, its prompt features are computed and
        cached at once; if that fails the voice is not added. Raises VoiceError with a sentence
        for a bad name, transcript or clip, or a name already taken (ignoring case).
        """
        from cosydesk.engine.prompt.frontend import read_prompt_clip

        name = _check_name(name)
        transcript = " ".join(transcript.split())
        if not transcript:
            raise VoiceError(
                "A voice needs the transcript of its clip: type exactly what the clip says."
            )
        taken = self._taken(name)
        if taken is not None:
            raise VoiceError(f"A voice called '{taken.name}' exists already: choose another name.")
        # Checked (length, silence, rate) and kept at its own rate, as the frontend expects.
        wav, rate = read_prompt_clip(audio_path)
        duration = wav.shape[-1] / rate
        self.root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".new-{os.getpid()}-", dir=self.root))
        lock = tempowner.hold(folder)  # until renamed: a library opened meanwhile leaves it
        try:
            import soundfile

            soundfile.write(folder / "prompt.wav", wav.squeeze(0).numpy(), rate, "FLOAT")
            _write_json_atomic(
                folder / "voice.json",
                {"name": name, "transcript": transcript, "duration_s": round(duration, 3)},
            )
            if engine is not None:
                # Computed before the voice appears under its name: a voice the model cannot
                # use, or a crash meanwhile, leaves no half-added voice in the list.
                features = engine.prompt_features(folder / "prompt.wav")
                features.save(folder / _cache_name(engine))
            final = self.root / _slug(name)
            n = 1
            while final.exists():
                n += 1
                final = self.root / f"{_slug(name)}-{n}"
            folder.rename(final)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            lock.release()
        return self.info(name)

    def rename(self, old: str, new: str) -> VoiceInfo:
        """Give the voice `old` the name `new` (its clip and cached features stay)."""
        new = _check_name(new)
        info = self.info(old)
        taken = self._taken(new)
        if taken is not None and taken.folder != info.folder:
            raise VoiceError(f"A voice called '{taken.name}' exists already: choose another name.")
        meta = json.loads((info.folder / "voice.json").read_text(encoding="utf-8"))
        meta["name"] = new
        _write_json_atomic(info.folder / "voice.json", meta)
        return self.info(new)

    def delete(self, name: str) -> None:
        """Remove the voice, its clip and its cached features."""
        shutil.rmtree(self.info(name).folder)

    def get(self, name: str, engine: PromptSource | None = None) -> Voice:
        """The voice `name` with prompt features for `engine`'s model.

        Uses the cached features when they exist for this model; otherwise (or when they are
        damaged) computes them with `engine.prompt_features(wav_path)` and caches them. Without
        an engine, only a cache of any model will do (it is the only one the caller could use).
        Raises VoiceError naming the voice when its clip is gone and no usable cache remains.
        """
        from cosydesk.engine.prompt.frontend import PromptFeatures

        info = self.info(name)
        if getattr(engine, "fingerprint", None):
            cache = info.folder / _cache_name(engine)
        else:
            caches = sorted(info.folder.glob("features-*.npz"))
            cache = caches[0] if caches else info.folder / "features-none.npz"
        damaged = False
        if cache.is_file():
            try:
                return Voice(info.name, info.transcript, PromptFeatures.load(cache))
            except VoiceError:
                # Computed again from the clip below, so a damaged cache fails no request.
                log.warning("The saved features of the voice '%s' are damaged.", info.name)
                cache.unlink(missing_ok=True)
                damaged = True
        if not info.audio_path.is_file():
            what = "its saved features are damaged and " if damaged else ""
            raise VoiceError(
                f"The voice '{info.name}' cannot be used: {what}its clip {info.audio_path} is "
                "missing. Delete the voice and add it again from a recording."
            )
        if engine is None:
            raise VoiceError(
                f"The voice '{name}' has not been prepared for this model yet: load the model "
                "first."
            )
        features = engine.prompt_features(info.audio_path)
        features.save(cache)  # atomic: a crash leaves the old file or none, never half of one
        return Voice(info.name, info.transcript, features)
