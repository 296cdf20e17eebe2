"""A seeded generator of voice clips: every rate, shape, sample format and container, and damage.

`clip_case(rng)` returns a `ClipCase`: the bytes of a file (or a non-file to put in its place)
and a description. The mix: rates from 8 kHz to 384 kHz (co-prime ones such as 22,051 Hz
included, and a few impossible ones), mono to 64 channels, 0, 1 or a few samples up to 30 s
and well beyond (as small files: compressed silence and sparse WAV files whose header promises
hours), silence, NaN and infinite samples, clipping, integer and float formats, WAV, FLAC, OGG
(Vorbis and Opus), MP3, AIFF, AU, W64, RF64 and CAF containers; then files cut short, headers
that lie about their rate, channels, sizes or sample width, random bytes, and folders and pipes
where the clip should be.
"""

from __future__ import annotations

import io
import random
import struct
from dataclasses import dataclass

import numpy as np

# (container, subtype): what cosydesk reads through libsndfile. Float subtypes carry NaN and
# infinity as they are; integer ones clip.
FORMATS: tuple[tuple[str, str], ...] = (
    ("WAV", "PCM_16"),
    ("WAV", "PCM_16"),
    ("WAV", "PCM_24"),
    ("WAV", "PCM_32"),
    ("WAV", "PCM_U8"),
    ("WAV", "FLOAT"),
    ("WAV", "FLOAT"),
    ("WAV", "DOUBLE"),
    ("WAV", "ULAW"),
    ("WAV", "ALAW"),
    ("WAV", "IMA_ADPCM"),
    ("WAV", "MS_ADPCM"),
    ("WAV", "GSM610"),
    ("WAVEX", "PCM_16"),
    ("FLAC", "PCM_16"),
    ("FLAC", "PCM_24"),
    ("FLAC", "PCM_S8"),
    ("OGG", "VORBIS"),
    ("OGG", "OPUS"),
    ("MP3", "MPEG_LAYER_III"),
    ("AIFF", "PCM_16"),
    ("AIFF", "FLOAT"),
    ("AU", "PCM_16"),
    ("W64", "FLOAT"),
    ("RF64", "PCM_16"),
    ("CAF", "PCM_24"),
)
EXTENSIONS = {"WAVEX": "wav", "RF64": "wav", "W64": "w64", "MP3": "mp3"}

RATES: tuple[int, ...] = (
    8000,
    11025,
    12000,
    16000,
    22050,
    24000,
    32000,
    44100,
    48000,
    88200,
    96000,
    176400,
    192000,
    352800,
    384000,
    # Co-prime with 16 kHz and 24 kHz: the resampler's worst cases.
    15999,
    16001,
    22051,
    44101,
    47999,
    96001,
    383999,
    12347,
)
# What each codec or container accepts (a writer crashes or refuses beyond these).
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_FLAC_MAX_RATE = 655_350
_FLAC_MAX_CHANNELS = 8
_VORBIS_MAX_CHANNELS = 8
# Samples (frames x channels) above this are only written for silence or compressed formats,
# so that no single case writes more than a few MB of audio.
_DENSE_LIMIT = 400_000


@dataclass(frozen=True)
class ClipCase:
    """`content` is the file's bytes, or None when `node` puts something else there.
    `sparse_size`, when set, extends the file to that size with a hole (zeros on reading)."""

    description: str
    name: str
    content: bytes | None
    node: str = "file"  # file, folder, fifo, missing
    sparse_size: int = 0


def _signal(rng: random.Random, frames: int, channels: int, kind: str) -> np.ndarray:
    if kind == "silence":
        return np.zeros((frames, channels), dtype=np.float32)
    t = np.arange(frames, dtype=np.float64)[:, None] / max(frames, 1)
    pitch = rng.uniform(80, 400) * frames / 16000.0
    audio = 0.3 * np.sin(2 * np.pi * pitch * t + np.arange(channels)[None, :])
    if kind == "noise":
        audio = np.random.default_rng(rng.randrange(2**32)).uniform(-0.5, 0.5, audio.shape)
    elif kind == "quiet":
        audio *= 1e-4
    elif kind == "clipped":
        audio *= rng.choice([3.0, 100.0, 1e6])
    elif kind == "dc":
        audio = np.full_like(audio, rng.choice([1.0, -1.0, 0.5]))
    elif kind in ("nan", "inf", "all-nan"):
        bad = {"nan": np.nan, "inf": rng.choice([np.inf, -np.inf]), "all-nan": np.nan}[kind]
        if kind == "all-nan" or frames == 0:
            audio[:] = bad
        else:
            audio[rng.randrange(frames), rng.randrange(channels)] = bad
    return audio.astype(np.float32)


def _frames(rng: random.Random, rate: int) -> int:
    roll = rng.random()
    if roll < 0.08:
        return rng.choice([0, 1, 2, 3, 7])
    if roll < 0.2:
        return int(rate * rng.choice([0.1, 0.3, 0.49, 0.5, 0.51]))
    if roll < 0.9:
        return int(rate * rng.uniform(0.5, 2.0))
    return int(rate * rng.choice([12.0, 29.9, 30.0, 30.01, 31.0, 45.0, 600.0]))


def _fits(fmt: str, subtype: str, rate: int, channels: int) -> bool:
    if subtype == "OPUS":
        return rate in _OPUS_RATES and channels <= _VORBIS_MAX_CHANNELS
    if fmt == "MP3":
        return rate in _MP3_RATES and channels <= 2
    if fmt == "OGG":
        return rate <= 192_000 and channels <= _VORBIS_MAX_CHANNELS
    if fmt == "FLAC":
        return rate <= _FLAC_MAX_RATE and channels <= _FLAC_MAX_CHANNELS
    if subtype in ("IMA_ADPCM", "MS_ADPCM", "GSM610"):
        return channels <= 2 and (subtype != "GSM610" or channels == 1)
    return True


def encode(audio: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes | None:
    """`audio` [frames, channels] as a file of `fmt`/`subtype`; None where libsndfile refuses."""
    import soundfile

    out = io.BytesIO()
    try:
        soundfile.write(out, audio, rate, format=fmt, subtype=subtype)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, AssertionError):
        return None
    return out.getvalue()


def _wav_header(rate: int, channels: int, bits: int, data_bytes: int, tag: int = 1) -> bytes:
    """A 44-byte RIFF/WAVE header; every field is taken as given, however wrong."""
    block = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits
    )
    riff = (36 + data_bytes) & 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes & 0xFFFFFFFF)
    )


def _lying_wav(rng: random.Random) -> ClipCase:
    """A WAV header whose numbers disagree with the data after it (or with reason)."""
    rate = rng.choice([*RATES, 0, 1, 100, 2**31, 2**32 - 1])
    channels = rng.choice([0, 1, 2, 7, 1024, 1025, 65535])
    bits = rng.choice([0, 1, 8, 16, 24, 32, 64, 12, 255])
    tag = rng.choice([1, 1, 3, 0, 2, 0xFFFE, 0x55, 7])
    data = bytes(rng.randrange(256) for _ in range(rng.choice([0, 2, 100, 4000])))
    declared = rng.choice([len(data), 0, 2**32 - 1, 2**31, len(data) * 1000, 3])
    head = _wav_header(rate, channels, bits, declared, tag)
    return ClipCase(
        f"lying WAV header ({rate} Hz, {channels} ch, {bits} bit, tag {tag})",
        "clip.wav",
        head + data,
    )


def _sparse_wav(rng: random.Random) -> ClipCase:
    """A WAV whose data is a hole of up to 4 GB: hours of silence in a file of 44 bytes."""
    rate = rng.choice([16000, 24000, 48000, 96000, 192000, 384000])
    channels = rng.choice([1, 2, 8])
    data_bytes = rng.choice([2**28, 2**30, 2**32 - 64])
    head = _wav_header(rate, channels, 16, data_bytes)
    return ClipCase(
        f"sparse WAV of {data_bytes:,} bytes ({rate} Hz, {channels} ch)",
        "clip.wav",
        head,
        sparse_size=len(head) + data_bytes,
    )


def _lying_flac(rng: random.Random, data: bytes) -> bytes:
    """`data` (a FLAC file) with its STREAMINFO rate, channels, bits or length replaced."""
    out = bytearray(data)
    info = 8  # "fLaC", then a 4-byte block header; STREAMINFO's fields follow
    packed = int.from_bytes(out[info + 10 : info + 18], "big")
    rate, channels, bits, total = (
        packed >> 44,
        (packed >> 41) & 7,
        (packed >> 36) & 31,
        packed & (2**36 - 1),
    )
    field = rng.randrange(4)
    if field == 0:
        rate = rng.choice([0, 1, 8000, 655350, 2**20 - 1])
    elif field == 1:
        channels = rng.randrange(8)
    elif field == 2:
        bits = rng.randrange(32)
    else:
        total = rng.choice([0, 1, 2**36 - 1, total * 1000])
    packed = (rate << 44) | (channels << 41) | (bits << 36) | total
    out[info + 10 : info + 18] = packed.to_bytes(8, "big")
    return bytes(out)


def _damage(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    action = rng.randrange(4)
    if action == 0 or not data:
        return "cut short", data[: rng.randrange(len(data) + 1)]
    if action == 1:
        return "cut in its header", data[: rng.randrange(min(len(data), 64) + 1)]
    out = bytearray(data)
    span = min(len(out), 128) if action == 2 else len(out)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(span)] = rng.randrange(256)
    return ("header bytes changed" if action == 2 else "bytes changed"), bytes(out)


def _long_silence(rng: random.Random) -> ClipCase:
    """Minutes of compressed silence: a small file that decodes to a great deal of audio."""
    fmt, subtype = rng.choice([("FLAC", "PCM_16"), ("OGG", "VORBIS")])
    # Kept to a few million samples: each takes a moment to encode (once per process).
    rate, channels = rng.choice([(16000, 1), (16000, 8), (48000, 1), (48000, 2), (96000, 1)])
    seconds = rng.choice([45, 90])
    content = _cached_silence(fmt, subtype, rate, channels, seconds)
    name = f"clip.{fmt.lower()}"
    return ClipCase(f"{seconds} s of silence as {fmt} ({rate} Hz, {channels} ch)", name, content)


_SILENCE: dict[tuple[str, str, int, int, int], bytes] = {}


def _cached_silence(fmt: str, subtype: str, rate: int, channels: int, seconds: int) -> bytes:
    """Long silent files are slow to encode; each one is made once per process."""
    import soundfile

    key = (fmt, subtype, rate, channels, seconds)
    if key not in _SILENCE:
        out = io.BytesIO()
        block = np.zeros((rate, channels), dtype=np.float32)
        block[0, 0] = 0.5  # one click, so that it is not all digital silence
        with soundfile.SoundFile(out, "w", rate, channels, subtype, format=fmt) as file:
            for _ in range(seconds):
                file.write(block)
        _SILENCE[key] = out.getvalue()
    return _SILENCE[key]


def _encoded(rng: random.Random) -> ClipCase:
    fmt, subtype = rng.choice(FORMATS)
    rate = rng.choice(RATES)
    channels = rng.choice([1, 1, 1, 2, 2, 3, 6, 8, 64])
    frames = _frames(rng, rate)
    kinds = ["tone", "tone", "tone", "noise", "silence", "quiet", "clipped", "dc", "nan", "inf"]
    kind = rng.choice([*kinds, "all-nan"])
    if frames * channels > _DENSE_LIMIT:
        # Long clips are written small: silence as FLAC (a few kB a minute), else one channel.
        if kind == "silence" and channels <= _FLAC_MAX_CHANNELS and rate <= _FLAC_MAX_RATE:
            fmt, subtype = "FLAC", "PCM_16"
        else:
            channels = 1
            frames = min(frames, _DENSE_LIMIT)
    if not _fits(fmt, subtype, rate, channels):
        fmt, subtype = "WAV", rng.choice(["PCM_16", "FLOAT"])
    if kind in ("nan", "inf", "all-nan", "clipped") and (
        subtype in ("ALAW", "ULAW") or fmt == "MP3"
    ):
        # libsndfile's A-law and mu-law writers crash on such samples, and LAME aborts.
        fmt, subtype = "WAV", "FLOAT"
    audio = _signal(rng, frames, channels, kind)
    content = encode(audio, rate, fmt, subtype)
    what = f"{kind}, {frames} frames x {channels} ch at {rate} Hz as {fmt} {subtype}"
    if content is None:
        return ClipCase(f"{what} (refused by the writer: random bytes)", "clip.wav", b"RIFF")
    name = f"clip.{EXTENSIONS.get(fmt, fmt.lower())}"
    roll = rng.random()
    if roll < 0.12:
        how, content = _damage(rng, content)
        return ClipCase(f"{what}, {how}", name, content)
    if roll < 0.17 and fmt == "FLAC":
        return ClipCase(f"{what}, lying STREAMINFO", name, _lying_flac(rng, content))
    if roll < 0.2:
        # A file named for another container than it holds.
        other = rng.choice(["wav", "flac", "ogg", "mp3", "txt", ""])
        return ClipCase(f"{what}, named .{other}", f"clip.{other}".rstrip("."), content)
    return ClipCase(what, name, content)


def _odd(rng: random.Random) -> ClipCase:
    roll = rng.randrange(6)
    if roll == 0:
        return ClipCase("an empty file", "clip.wav", b"")
    if roll == 1:
        size = rng.choice([1, 4, 44, 1000, 100_000])
        return ClipCase("random bytes", "clip.wav", rng.randbytes(size))
    if roll == 2:
        return ClipCase("text named .wav", "clip.wav", b"Hello, this is not audio.\n" * 10)
    if roll == 3:
        return ClipCase("a folder in place of the clip", "clip.wav", None, "folder")
    if roll == 4:
        return ClipCase("a pipe in place of the clip", "clip.wav", None, "fifo")
    return ClipCase("no file at all", "clip.wav", None, "missing")


# (weight, maker): most cases are real recordings of every shape; the rest are damage.
MAKERS = [(70, _encoded), (8, _lying_wav), (3, _sparse_wav), (4, _long_silence), (6, _odd)]


def clip_case(rng: random.Random) -> ClipCase:
    """One clip, drawn from `rng` (same seed, same case)."""
    makers = [maker for _, maker in MAKERS]
    weights = [weight for weight, _ in MAKERS]
    return rng.choices(makers, weights)[0](rng)
