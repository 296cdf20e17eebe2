"""Starter voices: example clips that the official CosyVoice repository publishes with their
transcripts, fetched beside the model download so that a new user can hear speech at once.

They are never part of cosydesk itself. `cosydesk download` (and the first-run dialog's
download) fetches each clip from a commit-pinned public URL into the starter folder under
cosydesk's data folder and keeps it only when its SHA-256 is the one recorded here; a clip that
cannot be fetched leaves a note and the download still succeeds. The first-run dialog offers a
starter voice only when its clip is there and whole. Qt-free.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cosydesk.engine.errors import Cancelled

log = logging.getLogger(__name__)

# The raw files of FunAudioLLM/CosyVoice at the commit that last changed the clip, so that the
# bytes (and with them the hash below) never move. COSYDESK_STARTER_VOICES_URL names a mirror
# of the same tree (its files under `asset/`), for networks that cannot reach GitHub.
BASE_URL = (
    "https://raw.githubusercontent.com/FunAudioLLM/CosyVoice/"
    "b02d7e61f743839a93d4058d9c11e79f82fad041/"
)
URL_VARIABLE = "COSYDESK_STARTER_VOICES_URL"
TIMEOUT_S = 20
MAX_BYTES = 8 << 20  # a clip of 30 s at 48 kHz float is 5.8 MB; more is not a voice clip


@dataclass(frozen=True)
class StarterVoice:
    """One published example clip and exactly what it says."""

    name: str  # the name the voice gets in the library
    path: str  # in the repository, "/"-separated; the file keeps its base name here
    sha256: str
    size: int
    transcript: str
    description: str  # one line for the first-run dialog

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


# Upstream publishes two example clips; only this one comes with its transcript (its examples
# use the other for cross-lingual speech, which needs none, so it is no zero-shot voice).
STARTER_VOICES = (
    StarterVoice(
        name="Starter voice",
        path="asset/zero_shot_prompt.wav",
        sha256="c7b31d6dbe7cc6a716dded00550db5b50940bf209e424e4ad207b12e657c8ff6",
        size=334138,
        transcript="希望你以后能够做的比我还好呦。",
        description="a woman speaking Mandarin Chinese (3.5 s), the CosyVoice project's example",
    ),
)


def base_url(environ: Mapping[str, str] = os.environ) -> str:
    """Where the clips are fetched from: COSYDESK_STARTER_VOICES_URL, else upstream's commit."""
    url = environ.get(URL_VARIABLE) or BASE_URL
    return url if url.endswith("/") else url + "/"


def clip_path(folder: Path, voice: StarterVoice) -> Path:
    return Path(folder) / voice.filename


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def is_whole(folder: Path, voice: StarterVoice) -> bool:
    """Whether the starter clip of `voice` is in `folder` with the recorded bytes."""
    path = clip_path(folder, voice)
    try:
        return path.stat().st_size == voice.size and _sha256(path) == voice.sha256
    except OSError:
        return False


def available(folder: Path) -> list[StarterVoice]:
    """The starter voices whose clips were fetched into `folder` and are whole."""
    return [voice for voice in STARTER_VOICES if is_whole(folder, voice)]


def fetch_starter_voices(
    folder: Path,
    *,
    url: str | None = None,
    cancel: threading.Event | None = None,
) -> list[str]:
    """Fetch every starter clip missing from `folder`; returns one note per clip that failed.

    Never raises for the network or a wrong file: a starter voice is a convenience, and the
    model download it follows has succeeded. Raises Cancelled when `cancel` is set.
    """
    notes: list[str] = []
    base = url or base_url()
    for voice in STARTER_VOICES:
        if cancel is not None and cancel.is_set():
            raise Cancelled("The download was stopped; run it again to go on.")
        if is_whole(folder, voice):
            continue
        try:
            _fetch(base + voice.path, clip_path(folder, voice), voice)
        except _NotFetched as exc:
            log.warning("Starter voice %s not fetched: %s", voice.path, exc)
            notes.append(
                f"The starter voice could not be fetched from {base} ({exc}); the model is "
                "complete: record a voice or add one from a clip instead."
            )
    return notes


class _NotFetched(Exception):
    pass


def _fetch(url: str, target: Path, voice: StarterVoice) -> None:
    """Download `url` into `target` through a temporary file; keep it only with the right hash."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise _NotFetched(f"{target.parent} cannot be written: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "cosydesk"})
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                data = answer.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise _NotFetched("the file is far larger than a voice clip")
            out.write(data)
        if hashlib.sha256(data).hexdigest() != voice.sha256:
            raise _NotFetched("the file that arrived is not the published clip")
        os.replace(temp, target)
    except urllib.error.HTTPError as exc:
        raise _NotFetched(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise _NotFetched(str(exc.reason)) from exc
    except (OSError, ValueError) as exc:  # a broken connection, a timeout, a bad URL
        raise _NotFetched(str(exc) or type(exc).__name__) from exc
    finally:
        Path(temp).unlink(missing_ok=True)
    log.info("Fetched the starter voice %s", voice.path)
