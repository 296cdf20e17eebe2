"""Audio formats of the speech endpoint: which stream as they are made, and how each is written.

wav and pcm stream: 16-bit little-endian samples are sent as each chunk leaves the model; a
streamed WAV starts with a header whose RIFF and data sizes are 0xFFFFFFFF ("unknown length",
as OpenAI's streamed WAV does), which players and soundfile read to the end of the stream.
flac, mp3 and opus are encoded by soundfile (libsndfile) once the whole utterance is made, so
their body comes in one piece after synthesis. aac is OpenAI's too but libsndfile cannot
write it.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AudioFormat:
    """One response_format: its media type, and whether it streams."""

    name: str
    media_type: str
    streams: bool
    sf_format: str = ""
    sf_subtype: str = ""


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat("wav", "audio/wav", streams=True),
        AudioFormat("pcm", "audio/pcm", streams=True),
        AudioFormat("flac", "audio/flac", False, "FLAC", "PCM_16"),
        AudioFormat("mp3", "audio/mpeg", False, "MP3", "MPEG_LAYER_III"),
        AudioFormat("opus", "audio/ogg", False, "OGG", "OPUS"),
    )
}
DEFAULT_FORMAT = "mp3"  # OpenAI's default, so clients that send none get what they expect
UNKNOWN_SIZE = 0xFFFFFFFF


def streamed_wav_header(sample_rate: int, channels: int = 1) -> bytes:
    """A 44-byte header of 16-bit PCM WAV whose length is not known yet."""
    block_align = channels * 2
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", UNKNOWN_SIZE),
            b"WAVEfmt ",
            struct.pack(
                "<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, 16
            ),
            b"data",
            struct.pack("<I", UNKNOWN_SIZE),
        )
    )


def _finite(audio: np.ndarray) -> np.ndarray:
    """Float32 samples clipped to [-1, 1], NaN as silence and infinities as full scale.

    A broken voice can make NaN audio; libsndfile's FLAC writer refuses it and LAME's MP3
    encoder aborts the whole process on it, so no sample leaves here unchecked."""
    samples = np.asarray(audio, dtype=np.float32)
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(samples, -1.0, 1.0)


def to_s16le(chunk: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as 16-bit little-endian PCM bytes (clipped, rounded)."""
    return np.rint(_finite(chunk) * 32767.0).astype("<i2").tobytes()


def encode_whole(audio: np.ndarray, sample_rate: int, fmt: AudioFormat) -> bytes:
    """The whole utterance as a file of format `fmt` (one of the non-streaming formats)."""
    import soundfile

    samples = _finite(audio)
    if samples.size == 0:
        samples = np.zeros(1, dtype=np.float32)  # some encoders refuse an empty file
    out = io.BytesIO()
    soundfile.write(out, samples, sample_rate, format=fmt.sf_format, subtype=fmt.sf_subtype)
    return out.getvalue()


def supported_names() -> str:
    """The format names for an error message: "wav, pcm, flac, mp3 or opus"."""
    names = list(FORMATS)
    return ", ".join(names[:-1]) + " or " + names[-1]
