"""Audio reading and the four feature extractors the CosyVoice3 frontend needs.

Every extractor here reproduces, in plain torch, the numerics of the library the upstream
implementation calls, so that features computed here feed the model exactly as upstream's do:

* `resample`: torchaudio's default windowed-sinc resampler (Hann window, 6 zero crossings,
  roll-off 0.99), applied as a polyphase convolution on the gcd-reduced rates (in blocks of
  output samples where those rates are co-prime, so that memory stays bounded).
* `kaldi_fbank`: Kaldi's log-mel filterbank as torchaudio's compliance module computes it
  (speaker-embedding input).
* `whisper_log_mel`: Whisper's 128-bin log-mel (speech-tokenizer input).
* `mel_spectrogram`: the HiFi-GAN/Matcha-style log-mel the flow model is conditioned on; its
  keyword names are those of the yaml's `feat_extractor`, so that mapping can be splatted in.

Filter banks and windows are cached per parameter set, so repeated calls only pay for the FFTs.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cosydesk.engine.errors import VoiceError

if TYPE_CHECKING:
    import torch

WHISPER_SAMPLE_RATE = 16000
_WHISPER_N_FFT = 400
_WHISPER_HOP = 160

_KALDI_PREEMPHASIS = 0.97
_KALDI_LOW_FREQ = 20.0
_KALDI_POVEY_POWER = 0.85

_SINC_ZERO_CROSSINGS = 6
_SINC_ROLLOFF = 0.99


# --------------------------------------------------------------------------- reading


# Samples (frames x channels) decoded at a time: 16 MB of float32 whatever the channel count,
# since a file of 1,024 channels mixed down whole would take 1,024 times its mono size.
_READ_BLOCK_SAMPLES = 1 << 22


class AudioTooLong(VoiceError):
    """A sound file that lasts longer than its reader allowed; nothing beyond that was decoded.

    `seconds` is the length its header states, or None when the header claims no more than the
    limit (the file held more than it said).
    """

    def __init__(self, path: Path, sample_rate: int, seconds: float | None) -> None:
        shown = f"{seconds:.1f} s" if seconds is not None else "longer than it says"
        super().__init__(f"The audio file {path.name} lasts {shown}: use a shorter recording.")
        self.sample_rate = sample_rate
        self.seconds = seconds


def read_audio(path: str | Path, max_seconds: float | None = None) -> tuple[torch.Tensor, int]:
    """Read a sound file as mono float32 [1, N] in [-1, 1) at its own sample rate.

    Channels are averaged, a block at a time, so memory holds the mono result and one block
    whatever the channel count. With `max_seconds`, no more than that is decoded: a longer file
    raises AudioTooLong (an hour of compressed silence is a small file but gigabytes of
    samples). Raises VoiceError (with a sentence a person can act on) when the file is missing,
    is not a sound file soundfile can decode, or holds no samples.
    """
    import soundfile
    import torch

    path = Path(path)
    if not path.is_file():
        raise VoiceError(f"The voice clip {path} does not exist: choose an existing audio file.")
    parts: list[torch.Tensor] = []
    try:
        with soundfile.SoundFile(str(path)) as sound:
            sample_rate = int(sound.samplerate)
            limit = None if max_seconds is None else math.floor(max_seconds * sample_rate)
            block = max(1, _READ_BLOCK_SAMPLES // max(1, sound.channels))
            decoded = 0
            while limit is None or decoded <= limit:
                want = block if limit is None else min(block, limit + 1 - decoded)
                samples = sound.read(want, dtype="float32", always_2d=True)
                if samples.shape[0] == 0:
                    break
                decoded += samples.shape[0]
                # [n, C] -> [C, n]; mean over channels in float32 like torchaudio-loaded audio
                # upstream (per frame, so block by block gives the same numbers).
                parts.append(torch.from_numpy(np.ascontiguousarray(samples.T)).mean(0, True))
            if limit is not None and decoded > limit:
                stated = sound.frames / sample_rate if sound.frames > limit else None
                raise AudioTooLong(path, sample_rate, stated)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise VoiceError(
            f"The file {path.name} could not be read as audio ({exc}). "
            "Use a WAV, FLAC or OGG recording."
        ) from exc
    if not parts:
        raise VoiceError(f"The audio file {path.name} holds no sound: record a few seconds.")
    wav = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    return wav, sample_rate


def load_audio(path: str | Path, target_sr: int) -> torch.Tensor:
    """Read a sound file as mono float32 [1, N] resampled to `target_sr` (see `read_audio`)."""
    wav, sample_rate = read_audio(path)
    return resample(wav, sample_rate, target_sr)


# --------------------------------------------------------------------------- resampling


# The whole polyphase kernel has new x (orig + 2 width) entries for gcd-reduced rates: tens to
# tens of thousands for the usual rates (24 -> 16 kHz: 2 x 23; 44.1 -> 16 kHz: 160 x 475), but
# 16,000 x 22,069 (2.8 GB in float64) for co-prime ones such as 22,051 -> 16,000 Hz. Above this
# many entries the filter is instead computed for one block of output samples at a time, which
# bounds every temporary.
_KERNEL_LIMIT = 1 << 18
# Entries (output samples x taps) of one block's kernel: 512 KiB per float64 temporary.
_BLOCK_ENTRIES = 1 << 16


def _sinc_width(orig: int, new: int) -> tuple[float, int]:
    """Cut-off (in gcd-reduced units) and one-sided filter width in input samples."""
    cutoff = min(orig, new) * _SINC_ROLLOFF
    return cutoff, math.ceil(_SINC_ZERO_CROSSINGS * orig / cutoff)


def _windowed_sinc(t: torch.Tensor, scale: float) -> torch.Tensor:
    """Hann-windowed sinc of t (in zero crossings, float64), times `scale`, rounded to float32."""
    import torch

    t = t.clamp(-_SINC_ZERO_CROSSINGS, _SINC_ZERO_CROSSINGS)
    window = torch.cos(t * (math.pi / (2 * _SINC_ZERO_CROSSINGS))) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    return (sinc * window * scale).to(torch.float32)


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """Polyphase kernel [new, 1, taps] for gcd-reduced rates, plus the padding width it needs."""
    import torch

    cutoff, width = _sinc_width(orig, new)
    # Computed in float64 and rounded once at the end, as torchaudio does for its default dtype.
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    phase = -torch.arange(new, dtype=torch.float64).unsqueeze(1) / new
    kernel = _windowed_sinc((phase + taps) * cutoff, cutoff / orig)
    return kernel.unsqueeze(1), width


def _resample_blocks(flat: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """The same filter as `_sinc_kernel`, evaluated block by block for [C, 1, N] audio.

    Output sample n sits at input position n * orig / new; it needs the 2 width + 2 input samples
    around that position, weighted by the windowed sinc of their exact distance (an integer
    numerator over orig * new, so no rounding error grows with n). Memory is bounded by
    _BLOCK_ENTRIES whatever the rates; the result equals the convolution's to float rounding.
    """
    import torch

    cutoff, width = _sinc_width(orig, new)
    signal = flat[:, 0]
    length = signal.shape[-1]
    taps = 2 * width + 2
    total = math.ceil(new * length / orig)
    block = max(1, _BLOCK_ENTRIES // taps)
    offsets = torch.arange(taps, dtype=torch.int64) - width
    out = flat.new_empty(flat.shape[0], total)
    for start in range(0, total, block):
        n = torch.arange(start, min(start + block, total), dtype=torch.int64).unsqueeze(1)
        m = n * orig // new + offsets  # [block, taps] input indices around each output sample
        distance = (m * new - n * orig).to(torch.float64) * (cutoff / (orig * new))
        kernel = _windowed_sinc(distance, cutoff / orig)
        # Samples before and after the signal count as zeros, as the convolution pads them.
        kernel = kernel.masked_fill_((m < 0) | (m >= length), 0.0).to(flat.device, flat.dtype)
        window = signal[:, m.clamp_(0, length - 1).to(signal.device)]  # [C, block, taps]
        out[:, start : start + n.shape[0]] = (window * kernel).sum(dim=-1)
    return out


def _resample_conv(flat: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """[C, 1, N] audio through the cached polyphase kernel, a bounded stretch of input at a time.

    The convolution reads orig + 2 width samples per output frame (its unfolded input can be
    13 times the signal when downsampling 48 -> 16 kHz), so frames are taken in groups whose
    unfolded input stays near _BLOCK_ENTRIES entries.
    """
    import torch

    kernel, width = _sinc_kernel(orig, new)
    kernel = kernel.to(flat.device, flat.dtype)
    length = flat.shape[-1]
    span = orig + 2 * width
    frames = length // orig + 1
    group = max(1, (4 * _BLOCK_ENTRIES) // span)
    out = flat.new_empty(flat.shape[0], frames * new)
    for first in range(0, frames, group):
        last = min(first + group, frames)
        # Input samples [lo, hi) feed frames first..last-1; zeros stand in beyond the signal.
        lo, hi = first * orig - width, (last - 1) * orig + span - width
        piece = flat[..., max(lo, 0) : min(hi, length)]
        piece = torch.nn.functional.pad(piece, (max(0, -lo), max(0, hi - length)))
        # Each output channel of the strided conv is one polyphase branch; interleave them.
        phases = torch.nn.functional.conv1d(piece, kernel, stride=orig)
        out[:, first * new : last * new] = phases.transpose(1, 2).reshape(flat.shape[0], -1)
    return out[:, : math.ceil(new * length / orig)]


def resample(wav: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Resample [..., N] audio from `orig_sr` to `new_sr` Hz like torchaudio's default resampler.

    Output length is ceil(N * new_sr / orig_sr); equal rates return the input unchanged. Any pair
    of rates works in bounded memory (a few MB of temporaries besides input and output): rates
    with small gcd-reduced factors use one cached polyphase kernel, co-prime ones (22,051 Hz)
    compute the identical filter in blocks of output samples.
    """
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} and {new_sr}")
    if orig_sr == new_sr:
        return wav
    if wav.shape[-1] == 0:  # no samples: none out (the reshapes below cannot size nothing)
        return wav.new_zeros(*wav.shape[:-1], 0)
    common = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // common, int(new_sr) // common
    lead = wav.shape[:-1]
    flat = wav.reshape(-1, 1, wav.shape[-1])
    if new * (orig + 2 * _sinc_width(orig, new)[1]) > _KERNEL_LIMIT:
        out = _resample_blocks(flat, orig, new)
    else:
        out = _resample_conv(flat, orig, new)
    return out.reshape(*lead, out.shape[-1])


# --------------------------------------------------------------------------- Kaldi fbank


@lru_cache(maxsize=8)
def _kaldi_mel_banks(num_bins: int, fft_size: int, sample_rate: float) -> torch.Tensor:
    """Kaldi triangular mel filters [num_bins, fft_size // 2 + 1] (last FFT bin unused)."""
    import torch

    def to_mel(freq: torch.Tensor) -> torch.Tensor:
        return 1127.0 * torch.log(1.0 + freq / 700.0)

    low_mel = 1127.0 * math.log(1.0 + _KALDI_LOW_FREQ / 700.0)
    high_mel = 1127.0 * math.log(1.0 + (0.5 * sample_rate) / 700.0)
    step = (high_mel - low_mel) / (num_bins + 1)
    # float32 throughout, matching the reference so the triangle edges land identically.
    index = torch.arange(num_bins, dtype=torch.float32).unsqueeze(1)
    left = low_mel + index * step
    centre = low_mel + (index + 1.0) * step
    right = low_mel + (index + 2.0) * step
    bin_mel = to_mel(
        (sample_rate / fft_size) * torch.arange(fft_size // 2, dtype=torch.float32)
    ).unsqueeze(0)
    rising = (bin_mel - left) / (centre - left)
    falling = (right - bin_mel) / (right - centre)
    banks = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1))


@lru_cache(maxsize=8)
def _povey_window(size: int) -> torch.Tensor:
    import torch

    return torch.hann_window(size, periodic=False, dtype=torch.float32).pow(_KALDI_POVEY_POWER)


def kaldi_fbank(
    wav: torch.Tensor,
    sample_rate: int = 16000,
    num_mel_bins: int = 80,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
) -> torch.Tensor:
    """Kaldi log-mel filterbank [T, num_mel_bins] of mono [1, N] audio on its [-1, 1) scale.

    Frames are snipped at the edges (T = 1 + (N - frame) // shift, 0 when N is shorter than a
    frame); per frame: DC removal, pre-emphasis 0.97, Povey window, zero-padding to a power of
    two, power spectrum, mel filters from 20 Hz to Nyquist, natural log floored at float32 eps.
    No dither, no energy term, no mean subtraction.
    """
    import torch

    signal = wav.reshape(-1).to(torch.float32)
    frame = int(sample_rate * frame_length_ms * 0.001)
    shift = int(sample_rate * frame_shift_ms * 0.001)
    fft_size = 1 << max(frame - 1, 1).bit_length()
    banks = _kaldi_mel_banks(num_mel_bins, fft_size, float(sample_rate)).to(signal.device)
    if signal.numel() < frame:
        return signal.new_zeros(0, num_mel_bins)
    frames = signal.unfold(0, frame, shift)
    frames = frames - frames.mean(dim=1, keepdim=True)
    # Pre-emphasis with the first sample standing in as its own predecessor.
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - _KALDI_PREEMPHASIS * previous
    frames = frames * _povey_window(frame).to(signal.device)
    frames = torch.nn.functional.pad(frames, (0, fft_size - frame))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    energies = torch.mm(power, banks.T)
    eps = torch.tensor(torch.finfo(torch.float32).eps, device=signal.device)
    return torch.maximum(energies, eps).log()


# --------------------------------------------------------------------------- slaney mel


def _hz_to_slaney_mel(freq: np.ndarray) -> np.ndarray:
    # Linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4).
    linear = freq / (200.0 / 3.0)
    log_part = 15.0 + np.log(np.maximum(freq, 1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(freq >= 1000.0, log_part, linear)


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3.0)
    log_part = 1000.0 * np.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@lru_cache(maxsize=16)
def _slaney_filters_np(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> np.ndarray:
    top = sample_rate / 2.0 if fmax is None else float(fmax)
    edges_mel = np.linspace(
        _hz_to_slaney_mel(np.array(float(fmin))), _hz_to_slaney_mel(np.array(top)), n_mels + 2
    )
    edges = _slaney_mel_to_hz(edges_mel)
    # Same rounding as numpy's rfftfreq, which librosa uses.
    bins_hz = np.arange(n_fft // 2 + 1, dtype=np.float64) * (1.0 / (n_fft * (1.0 / sample_rate)))
    widths = np.diff(edges)
    offsets = edges[:, None] - bins_hz[None, :]
    rising = -offsets[:n_mels] / widths[:n_mels, None]
    falling = offsets[2:] / widths[1:, None]
    # Rounded to float32 before the area normalisation, as librosa's float32 output is.
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    area_norm = 2.0 / (edges[2:] - edges[:n_mels])
    return (weights.astype(np.float64) * area_norm[:, None]).astype(np.float32)


def slaney_mel_filters(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """Slaney-style, area-normalised mel filter bank [n_mels, n_fft // 2 + 1] float32.

    Equal to librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) with its defaults (htk=False,
    norm='slaney'); `fmax` None means Nyquist.
    """
    import torch

    return torch.from_numpy(_slaney_filters_np(sample_rate, n_fft, n_mels, float(fmin), fmax))


# The caches hold host tensors only; each call copies what it needs to the audio's device. A
# cache keyed by device kept its GPU copies for the life of the process, after the model that
# used them was unloaded (a few hundred KiB of the card per size).
def _cached_filters(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, device: str
) -> torch.Tensor:
    return slaney_mel_filters(sample_rate, n_fft, n_mels, fmin, fmax).to(device)


def _hann(size: int, device: str) -> torch.Tensor:
    return _host_hann(size).to(device)


@lru_cache(maxsize=16)
def _host_hann(size: int) -> torch.Tensor:
    import torch

    return torch.hann_window(size, dtype=torch.float32)


# --------------------------------------------------------------------------- whisper


def whisper_log_mel(wav: torch.Tensor, n_mels: int = 128) -> torch.Tensor:
    """Whisper log-mel [1, n_mels, N // 160] of 16 kHz mono [1, N] audio.

    Centred 400-point STFT (reflect padding) with the last frame dropped, power spectrum, Slaney
    mel filters, log10 floored at 1e-10 and at (max - 8), then scaled as (x + 4) / 4.
    """
    import torch

    audio = wav.reshape(1, -1).to(torch.float32)
    device = str(audio.device)
    spectrum = torch.stft(
        audio,
        _WHISPER_N_FFT,
        _WHISPER_HOP,
        window=_hann(_WHISPER_N_FFT, device),
        return_complex=True,
    )
    power = spectrum[..., :-1].abs() ** 2
    filters = _cached_filters(WHISPER_SAMPLE_RATE, _WHISPER_N_FFT, n_mels, 0.0, None, device)
    log_spec = torch.clamp(filters @ power, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


# --------------------------------------------------------------------------- 24 kHz mel


def mel_spectrogram(
    wav: torch.Tensor,
    *,
    n_fft: int,
    num_mels: int,
    sampling_rate: int,
    hop_size: int,
    win_size: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    center: bool = False,
) -> torch.Tensor:
    """Natural-log mel spectrogram [B, num_mels, T] of [B, N] audio (the flow's prompt mel).

    The audio is reflect-padded by (n_fft - hop_size) // 2 on each side before a (by default
    un-centred) STFT with a periodic Hann window; magnitude is sqrt(re^2 + im^2 + 1e-9); Slaney
    mel filters from fmin to fmax (None: Nyquist); log floored at 1e-5. With the yaml values and
    center=False, T = N // hop_size.
    """
    import torch

    audio = wav.to(torch.float32)
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    device = str(audio.device)
    pad = (n_fft - hop_size) // 2
    audio = torch.nn.functional.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spectrum = torch.stft(
        audio,
        n_fft,
        hop_length=hop_size,
        win_length=win_size,
        window=_hann(win_size, device),
        center=center,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    parts = torch.view_as_real(spectrum)
    magnitude = torch.sqrt(parts.pow(2).sum(-1) + 1e-9)
    fmax_key = None if fmax is None else float(fmax)
    filters = _cached_filters(int(sampling_rate), n_fft, num_mels, float(fmin), fmax_key, device)
    return torch.log(torch.clamp(filters @ magnitude, min=1e-5))
