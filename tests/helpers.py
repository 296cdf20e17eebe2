"""Plain helpers shared by test modules (fixtures live in the conftest files).

The reference clips: a voice in cosydesk is a short WAV file plus its transcript, and tests make
their clips here, so that every test speaks with the same kind of signal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SR = 24000  # the model's sample rate


def tone(
    seconds: float = 2.0,
    *,
    freq: float = 220.0,
    amplitude: float = 0.3,
    rate: int = SR,
    tremolo: bool = True,
    samples: int | None = None,
) -> np.ndarray:
    """A voiced-sounding float32 tone: a sine at `freq` whose loudness swings three times a
    second (`tremolo`), like syllables; `samples` long when given, else `seconds`."""
    t = np.arange(samples if samples is not None else int(seconds * rate)) / rate
    wave = amplitude * np.sin(2 * np.pi * freq * t)
    if tremolo:
        wave = wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return wave.astype(np.float32)


def write_clip(
    path: Path,
    seconds: float = 2.0,
    *,
    freq: float = 220.0,
    amplitude: float = 0.3,
    rate: int = SR,
    tremolo: bool = True,
    samples: int | None = None,
) -> Path:
    """A real WAV file of `tone(...)` at `path` (not silent, so the voice library accepts it)."""
    import soundfile

    wave = tone(
        seconds, freq=freq, amplitude=amplitude, rate=rate, tremolo=tremolo, samples=samples
    )
    soundfile.write(path, wave, rate)
    return Path(path)


def write_voiced_clip(path: Path, seconds: float = 3.0, f0: float = 120.0) -> Path:
    """A WAV file of a voice-like signal: a harmonic series on a gliding pitch, syllable-paced."""
    import soundfile

    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * (1.0 + 0.15 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t) ** 2
    soundfile.write(path, (0.25 * voiced * envelope).astype(np.float32), SR)
    return Path(path)
