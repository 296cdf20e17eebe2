"""The neural-source-filter excitation of the CosyVoice3 vocoder: F0 in, harmonic source out.

The vocoder turns a per-frame F0 into a per-sample excitation: nine harmonics of the F0 plus a
little uniform noise (more noise where the frame is unvoiced), merged by a Linear(9 -> 1) and tanh.
In the causal CosyVoice3 vocoder the phase advances once per mel frame and is then held for the
480 samples of that frame, so everything but the noise is computed at frame rate here; the result
equals the sample-rate formulation of the reference bit for bit.

The noise is the only random part of the vocoder. Parity tests inject recorded noise (`NsfNoise`);
otherwise `SeededNoise` supplies it: uniform [0, 1) values generated in fixed-size blocks, block b
always from the same seed, so sample n gets the same noise in every call, streaming or not, without
holding a five-minute buffer in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

DEFAULT_NOISE_SEED = 1986
NOISE_BLOCK = 1 << 16  # samples per generated block (2.7 s at 24 kHz, 2.4 MB for nine harmonics)
CACHED_BLOCKS = 8  # blocks kept on the device: the head of the utterance is re-read every chunk


class NoiseSource(Protocol):
    """Supplies the per-sample harmonic noise rows 0..samples-1 (uniform [0, 1) values)."""

    def harmonic_noise(self, samples: int, device: torch.device) -> Tensor:
        """[samples, harmonics] float32 on `device`; row n always belongs to output sample n."""
        ...


@dataclass
class NsfNoise:
    """Recorded noise, as the parity fixtures store it.

    `rand_ini` [1, H] are initial phase offsets in cycles (the reference adds them to the first
    sample's phase increment; with a 480-fold frame rate its linear resampling never reads that
    sample, so they cannot change the output and are kept only to mirror the record).
    `sine_noise` [1, S_max, H]: row n is the noise of output sample n.
    """

    rand_ini: Tensor
    sine_noise: Tensor

    def harmonic_noise(self, samples: int, device: torch.device) -> Tensor:
        available = self.sine_noise.shape[1]
        if samples > available:
            raise ValueError(
                f"the recorded NSF noise covers {available} samples but {samples} are needed"
            )
        return self.sine_noise[0, :samples].to(device=device, dtype=torch.float32)


class SeededNoise:
    """Deterministic noise of unbounded length, generated lazily in blocks keyed by position.

    Block b comes from its own `torch.Generator` on the target device, seeded with `seed + b`
    (never the global RNG), so on a given device the noise of a sample depends only on its index
    (CPU and CUDA generators give different, equally valid, numbers). The first `cached_blocks`
    blocks stay on the device once made, since streaming re-renders the utterance from its start
    at every chunk; later blocks are regenerated when needed, which bounds the memory whatever the
    utterance length (upstream holds a 260 MB buffer for five minutes instead).
    """

    def __init__(
        self,
        harmonics: int,
        seed: int = DEFAULT_NOISE_SEED,
        block: int = NOISE_BLOCK,
        cached_blocks: int = CACHED_BLOCKS,
    ) -> None:
        self.harmonics = harmonics
        self.seed = seed
        self.block = block
        self.cached_blocks = cached_blocks
        self._cache: dict[int, Tensor] = {}
        self._cache_device: torch.device | None = None

    def _make_block(self, index: int, device: torch.device) -> Tensor:
        generator = torch.Generator(device=device).manual_seed(self.seed + index)
        return torch.rand(self.block, self.harmonics, generator=generator, device=device)

    def _block(self, index: int, device: torch.device) -> Tensor:
        if index >= self.cached_blocks:
            return self._make_block(index, device)
        if self._cache_device != device:
            self._cache, self._cache_device = {}, device
        if index not in self._cache:
            self._cache[index] = self._make_block(index, device)
        return self._cache[index]

    def harmonic_noise(self, samples: int, device: torch.device) -> Tensor:
        blocks = -(-samples // self.block)
        parts = [self._block(b, device) for b in range(blocks)]
        if not parts:
            return torch.zeros(0, self.harmonics, device=device)
        return torch.cat(parts)[:samples]


class HarmonicSource(nn.Module):
    """F0 per frame -> excitation per sample (the `m_source` of the official state dict).

    `l_linear` merges the harmonics; it is evaluated in float32 whatever the module dtype, because
    the excitation is tiny next to its bias and a half-precision phase would be meaningless.
    """

    def __init__(
        self,
        harmonics: int,
        sample_rate: int,
        samples_per_frame: int,
        sine_amp: float = 0.1,
        noise_std: float = 0.003,
        voiced_threshold: float = 10.0,
    ) -> None:
        super().__init__()
        self.harmonics = harmonics
        self.sample_rate = sample_rate
        self.samples_per_frame = samples_per_frame
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold = voiced_threshold
        self.l_linear = nn.Linear(harmonics, 1)

    def forward(self, f0: Tensor, noise: NoiseSource) -> tuple[Tensor, Tensor]:
        """f0 [1, T] float32 (Hz) -> (source [1, 1, T * samples_per_frame], uv [1, T]).

        uv is 1.0 where the frame is voiced (F0 above the threshold), else 0.0.
        """
        f0 = f0.float()
        frames = f0.shape[1]
        device = f0.device
        steps = self.samples_per_frame
        orders = torch.arange(1, self.harmonics + 1, device=device, dtype=torch.float32)
        # Phase increment per sample, in cycles, reduced mod 1 first as the reference does: the
        # reduction happens before the cumulative sum, so it shapes the rounding.
        increment = torch.remainder(f0[0, :, None] * orders / self.sample_rate, 1.0)
        # The reference resamples the per-sample increments linearly to frame rate (the two middle
        # samples of each frame, equal, so the frame's own value) and sums per frame; the summed
        # phase is stretched by the frame length and held for the whole frame.
        phase = torch.cumsum(increment, dim=0) * 2 * torch.pi
        phase = phase * steps
        sines = torch.sin(phase) * self.sine_amp  # [T, H], constant within a frame

        uv = (f0[0] > self.voiced_threshold).float()[:, None]  # [T, 1]
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        rows = noise.harmonic_noise(frames * steps, device).t().view(self.harmonics, frames, steps)
        # Harmonic-major memory ([H, samples], read as [1, samples, H]) is the layout the reference
        # hands to its Linear; the matmul then sums in the same order and the result is identical.
        harmonics = (sines * uv).t()[:, :, None] + noise_amp.t()[:, :, None] * rows
        harmonics = harmonics.contiguous().view(1, self.harmonics, -1).transpose(1, 2)
        weight = self.l_linear.weight.float()
        bias = self.l_linear.bias.float()
        merged = torch.tanh(nn.functional.linear(harmonics, weight, bias))
        return merged.view(1, 1, -1), uv.view(1, -1)
