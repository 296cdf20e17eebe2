"""The CosyVoice3 vocoder: a causal HiFT generator (neural source filter + inverse-STFT HiFi-GAN).

Mel [1, 80, T] at 50 frames/s -> waveform [1, 480 T] at 24 kHz. An F0 predictor (f0.py) and a
harmonic source (nsf.py) make an excitation signal; its short-time spectrum is fed into every
scale of a HiFi-GAN style upsampler whose last layer predicts the magnitude and phase of a
16-point STFT, which an inverse STFT turns into audio.

Every convolution is causal: it sees past frames only, except `conv_pre` (4 frames ahead) and the
first F0 convolution (3 frames ahead). With `finalize=True` those lookaheads read zeros past the
end; with `finalize=False` they read the real last frames instead, which then produce no output,
and 480 more samples are withheld, so that the streamed audio is a prefix of the final audio.
The streaming renderer (synthesis.py) runs it that way on a growing mel, as CosyVoice3 streams.

Parameter names follow the official `hift.pt`; convolutions use torch's weight-norm
parametrisation (`X.parametrizations.weight.original0/1`). `remove_weight_norm()` folds it away.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged
from cosydesk.engine.model.f0 import F0Predictor
from cosydesk.engine.model.nsf import DEFAULT_NOISE_SEED, HarmonicSource, NoiseSource, SeededNoise

SNAKE_EPS = 1e-9
MAGNITUDE_LIMIT = 100.0


@dataclass(frozen=True)
class HiFTConfig:
    """Hyper-parameters of the vocoder; the defaults are those of Fun-CosyVoice3-0.5B."""

    in_channels: int = 80
    base_channels: int = 512
    nb_harmonics: int = 8
    sampling_rate: int = 24000
    nsf_alpha: float = 0.1
    nsf_sigma: float = 0.003
    nsf_voiced_threshold: float = 10.0
    upsample_rates: tuple[int, ...] = (8, 5, 3)
    upsample_kernel_sizes: tuple[int, ...] = (16, 11, 7)
    n_fft: int = 16
    hop_len: int = 4
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    source_resblock_kernel_sizes: tuple[int, ...] = (7, 7, 11)
    source_resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    lrelu_slope: float = 0.1
    audio_limit: float = 0.99
    conv_pre_look_right: int = 4
    f0_cond_channels: int = 512

    @property
    def samples_per_frame(self) -> int:
        return math.prod(self.upsample_rates) * self.hop_len


@dataclass
class HiFTOutput:
    """One vocoder run: the waveform and the internals parity tests look at (all float32)."""

    speech: Tensor  # [1, samples], clamped to +-audio_limit
    f0: Tensor  # [1, F0 frames], Hz
    uv: Tensor  # [1, F0 frames], 1.0 where voiced
    source: Tensor  # [1, 1, F0 frames * samples_per_frame], the excitation


class CausalConv1d(nn.Conv1d):
    """Conv1d that sees only the past: zeros are padded on the left.

    The pad is (kernel - 1) * dilation, or `stride - 1` for a strided (downsampling) convolution,
    whose kernel spans two strides.
    """

    def __init__(
        self, cin: int, cout: int, kernel: int, *, stride: int = 1, dilation: int = 1
    ) -> None:
        super().__init__(cin, cout, kernel, stride=stride, dilation=dilation)
        self.left_pad = stride - 1 if stride > 1 else (kernel - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))


class UpsampleConv1d(CausalConv1d):
    """Nearest-neighbour upsampling by `rate`, then a causal convolution (not a transposed one)."""

    def __init__(self, cin: int, cout: int, kernel: int, rate: int) -> None:
        super().__init__(cin, cout, kernel)
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.repeat_interleave(self.rate, dim=2))


class LookaheadConv1d(nn.Conv1d):
    """Conv1d that reads `kernel - 1` frames ahead: zero-padded at the end only when finalizing."""

    def forward(self, x: Tensor, finalize: bool = True) -> Tensor:  # type: ignore[override]
        if finalize:
            x = F.pad(x, (0, self.kernel_size[0] - 1))
        return super().forward(x)


class Snake(nn.Module):
    """x + sin^2(alpha x) / alpha, with one learned alpha per channel (linear scale)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha[None, :, None]
        return x + (1.0 / (alpha + SNAKE_EPS)) * torch.sin(x * alpha).pow(2)


class ResBlock(nn.Module):
    """Residual stack of (Snake, dilated causal conv, Snake, causal conv), one per dilation."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(CausalConv1d(channels, channels, kernel, dilation=d)) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            weight_norm(CausalConv1d(channels, channels, kernel)) for _ in dilations
        )
        self.activations1 = nn.ModuleList(Snake(channels) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2, act1, act2 in zip(
            self.convs1, self.convs2, self.activations1, self.activations2, strict=True
        ):
            x = x + conv2(act2(conv1(act1(x))))
        return x


class HiFTGenerator(nn.Module):
    """The causal HiFT vocoder of CosyVoice3 (`hift.pt`).

    Only the F0 predictor is kept in float64; everything else follows the module dtype (float32,
    bfloat16 or float16). The excitation and both STFTs are computed in float32 whatever that is.
    """

    def __init__(
        self, config: HiFTConfig | None = None, *, noise_seed: int = DEFAULT_NOISE_SEED
    ) -> None:
        super().__init__()
        c = self.config = config or HiFTConfig()
        base, spec_channels = c.base_channels, c.n_fft + 2
        self.m_source = HarmonicSource(
            c.nb_harmonics + 1,
            c.sampling_rate,
            c.samples_per_frame,
            sine_amp=c.nsf_alpha,
            noise_std=c.nsf_sigma,
            voiced_threshold=c.nsf_voiced_threshold,
        )
        self.f0_predictor = F0Predictor(c.in_channels, c.f0_cond_channels)
        self.conv_pre = weight_norm(LookaheadConv1d(c.in_channels, base, c.conv_pre_look_right + 1))
        self.ups = nn.ModuleList(
            weight_norm(UpsampleConv1d(base >> i, base >> (i + 1), kernel, rate))
            for i, (rate, kernel) in enumerate(
                zip(c.upsample_rates, c.upsample_kernel_sizes, strict=True)
            )
        )
        # The source spectrum enters every scale, downsampled to that scale's frame rate: the
        # stride of scale i is the product of the upsampling rates that come after it.
        strides = [math.prod(c.upsample_rates[i + 1 :]) for i in range(len(c.upsample_rates))]
        self.source_downs = nn.ModuleList(
            CausalConv1d(spec_channels, base >> (i + 1), 2 * s if s > 1 else 1, stride=s)
            for i, s in enumerate(strides)
        )
        self.source_resblocks = nn.ModuleList(
            ResBlock(base >> (i + 1), kernel, tuple(dilations))
            for i, (kernel, dilations) in enumerate(
                zip(c.source_resblock_kernel_sizes, c.source_resblock_dilation_sizes, strict=True)
            )
        )
        self.resblocks = nn.ModuleList(
            ResBlock(base >> (i + 1), kernel, tuple(dilations))
            for i in range(len(self.ups))
            for kernel, dilations in zip(
                c.resblock_kernel_sizes, c.resblock_dilation_sizes, strict=True
            )
        )
        self.conv_post = weight_norm(CausalConv1d(base >> len(self.ups), spec_channels, 7))
        self.noise: NoiseSource = SeededNoise(c.nb_harmonics + 1, seed=noise_seed)

    @classmethod
    def from_config(cls, hift_node: Tagged) -> HiFTGenerator:
        """Build the vocoder `cosyvoice3.yaml` describes under `hift` (weights not loaded)."""
        if not isinstance(hift_node, Tagged) or hift_node.short_name != "CausalHiFTGenerator":
            named = hift_node.target if isinstance(hift_node, Tagged) else type(hift_node).__name__
            raise ModelFolderError(
                f"The model configuration names the vocoder '{named}', but cosydesk runs only the "
                "CosyVoice3 vocoder (CausalHiFTGenerator): choose a Fun-CosyVoice3 model folder."
            )
        kw = hift_node.kwargs
        istft = kw.get("istft_params") or {}
        f0_node = kw.get("f0_predictor")
        values = {name: kw[name] for name in _CONFIG_FIELDS if name in kw}
        values |= {name: istft[name] for name in ("n_fft", "hop_len") if name in istft}
        if isinstance(f0_node, Tagged) and "cond_channels" in f0_node.kwargs:
            values["f0_cond_channels"] = f0_node["cond_channels"]
        try:
            config = HiFTConfig(**{k: _CONFIG_FIELDS[k](v) for k, v in values.items()})
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFolderError(
                f"The vocoder settings (hift) in the model configuration are malformed ({exc}). "
                "Download the model folder again."
            ) from None
        return cls(config)

    # -- numerics ---------------------------------------------------------------------------
    @property
    def stream_lookahead_frames(self) -> int:
        """Mel frames at the end of the input that a `finalize=False` call cannot vocode yet."""
        # F0 lookahead, conv_pre lookahead, and one frame of samples withheld at the end.
        return self.f0_predictor.lookahead + self.config.conv_pre_look_right + 1

    def _window(self, device: torch.device) -> Tensor:
        # Computed in float64 and rounded once, as a window from a float64 library would be.
        n_fft = self.config.n_fft
        return torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=device).float()

    def _source_spectrum(self, source: Tensor) -> Tensor:
        """[1, samples] -> [1, n_fft + 2, samples / hop + 1]: real parts, then imaginary parts."""
        c = self.config
        spec = torch.stft(
            source,
            c.n_fft,
            c.hop_len,
            c.n_fft,
            window=self._window(source.device),
            return_complex=True,
        )
        return torch.cat([spec.real, spec.imag], dim=1)

    def _waveform(self, x: Tensor) -> Tensor:
        """conv_post output [1, n_fft + 2, frames] (float32) -> waveform [1, hop * (frames - 1)]."""
        c = self.config
        bins = c.n_fft // 2 + 1
        magnitude = torch.exp(x[:, :bins]).clamp(max=MAGNITUDE_LIMIT)
        # The network's raw value is squashed by sin and then used as the angle, as trained.
        phase = torch.sin(x[:, bins:])
        spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        return torch.istft(spec, c.n_fft, c.hop_len, c.n_fft, window=self._window(x.device))

    def _decode(self, mel: Tensor, source: Tensor, finalize: bool) -> Tensor:
        c = self.config
        dtype = self.conv_pre.bias.dtype
        x = self.conv_pre(mel.to(dtype), finalize=finalize)
        # STFT frames of the source that line up with the mel frames conv_pre produced.
        spec_frames = x.shape[2] * math.prod(c.upsample_rates) + 1
        spec = self._source_spectrum(source[:, 0])[:, :, :spec_frames].to(dtype)
        kernels = len(c.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, c.lrelu_slope))
            if i == len(self.ups) - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + self.source_resblocks[i](self.source_downs[i](spec))
            blocks = self.resblocks[i * kernels : (i + 1) * kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / kernels
        x = self.conv_post(F.leaky_relu(x)).float()
        speech = self._waveform(x)
        if not finalize:
            speech = speech[:, : -c.samples_per_frame]
        return speech.clamp(-c.audio_limit, c.audio_limit)

    @torch.inference_mode()
    def run(
        self, mel: Tensor, *, finalize: bool = True, noise: NoiseSource | None = None
    ) -> HiFTOutput:
        """Vocode `mel` [1, in_channels, T] and return the waveform with f0, uv and source.

        finalize=True: 480 T samples. finalize=False: the last `stream_lookahead_frames` frames
        serve as lookahead only and 480 (T - stream_lookahead_frames) samples come out, equal
        (to ~1e-5) to the start of what finalize=True gives once more frames have arrived.
        `noise` replaces the module's own seeded NSF noise (parity tests inject recorded noise).
        """
        frames = mel.shape[2]
        needed = self.stream_lookahead_frames + 1 if not finalize else 1
        if mel.dim() != 3 or mel.shape[0] != 1 or frames < needed:
            raise ValueError(
                f"the vocoder needs a mel of shape [1, {self.config.in_channels}, T] with T >= "
                f"{needed} (finalize={finalize}); got {tuple(mel.shape)}"
            )
        f0 = self.f0_predictor(mel, finalize=finalize).float()
        source, uv = self.m_source(f0, noise if noise is not None else self.noise)
        if not finalize:
            mel = mel[:, :, : -self.f0_predictor.lookahead]
        speech = self._decode(mel, source, finalize)
        return HiFTOutput(speech=speech, f0=f0, uv=uv, source=source)

    def inference(
        self, mel: Tensor, *, finalize: bool = True, noise: NoiseSource | None = None
    ) -> Tensor:
        """Waveform [1, samples] float32 for `mel` [1, 80, T]; see `run` for the lengths."""
        return self.run(mel, finalize=finalize, noise=noise).speech

    def remove_weight_norm(self) -> None:
        """Fold every weight-norm parametrisation into a plain weight (same numbers, faster)."""
        for module in list(self.modules()):
            if parametrize.is_parametrized(module, "weight"):
                _fold_weight(module)


def _fold_weight(module: nn.Module) -> None:
    """Replace the weight parametrisation of `module` by the weight it computes now."""
    current = module.weight
    assert isinstance(current, Tensor)
    weight = current.detach().clone()
    # torch's remove_parametrizations deletes the weight property from the module's generated
    # class, which a deepcopy of the model shares with the original: that would break the other
    # copy. Swap this module back to its plain class instead, touching no class.
    generated = type(module)
    plain_class = generated.__bases__[0]
    del module.parametrizations
    module.__class__ = plain_class
    module.weight = nn.Parameter(weight)
    _let_go_of(generated, module)


def _let_go_of(generated: type, module: nn.Module) -> None:
    """Clear what `generated` (the class torch made for `module`'s parametrisation, now unused
    by it) holds of `module`.

    The class's property functions close over the module (its id keys torch's parametrisation
    cache). That tied each folded layer into a reference cycle with its old class, so the
    layers and their weights outlived the model until a full collection: after an unload, on a
    card. Only cells that hold this module are cleared; a copy sharing the class is unaffected
    unless it turns parametrisation caching on, which cosydesk never does.
    """
    for value in vars(generated).values():
        if not isinstance(value, property):
            continue
        todo, seen = [value.fget, value.fset], set()
        while todo:
            function = todo.pop()
            if id(function) in seen:
                continue
            seen.add(id(function))
            for cell in getattr(function, "__closure__", None) or ():
                try:
                    content = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if content is module:
                    cell.cell_contents = None
                elif callable(content) and getattr(content, "__closure__", None):
                    todo.append(content)


def _ints(values: object) -> tuple[int, ...]:
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"expected a list of integers, got {values!r}")
    return tuple(int(v) for v in values)


def _int_lists(values: object) -> tuple[tuple[int, ...], ...]:
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"expected a list of integer lists, got {values!r}")
    return tuple(_ints(v) for v in values)


# How each HiFTConfig field is read from the yaml (n_fft / hop_len sit under istft_params and
# f0_cond_channels under f0_predictor, in the official file).
_CONFIG_FIELDS: dict[str, Callable[[Any], Any]] = {
    "in_channels": int,
    "base_channels": int,
    "nb_harmonics": int,
    "sampling_rate": int,
    "nsf_alpha": float,
    "nsf_sigma": float,
    "nsf_voiced_threshold": float,
    "upsample_rates": _ints,
    "upsample_kernel_sizes": _ints,
    "n_fft": int,
    "hop_len": int,
    "resblock_kernel_sizes": _ints,
    "resblock_dilation_sizes": _int_lists,
    "source_resblock_kernel_sizes": _ints,
    "source_resblock_dilation_sizes": _int_lists,
    "lrelu_slope": float,
    "audio_limit": float,
    "conv_pre_look_right": int,
    "f0_cond_channels": int,
}
