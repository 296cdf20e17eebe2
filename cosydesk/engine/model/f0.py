"""The causal F0 predictor of the CosyVoice3 vocoder (`f0_predictor.*` in the official hift.pt).

Five weight-normalised convolutions with ELU, then Linear(cond -> 1) and abs. The first
convolution looks three frames ahead; the other four look only back.

It always computes in float64, and its parameters stay float64 even when the vocoder around it is
moved to bfloat16 or float16: the harmonic phase is a running sum of F0 over the whole utterance,
so a tiny F0 error becomes an audible phase error late in the utterance, and streaming (where the
same frames are predicted again with more context) would click where chunks meet.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

CONV_LAYERS = 5
FIRST_KERNEL = 4
KERNEL = 3


class F0Predictor(nn.Module):
    """Mel [1, 80, T] -> F0 in Hz, float64.

    With `finalize=True` the first convolution pads its lookahead with zeros and the output has T
    frames; with `finalize=False` the last `lookahead` mel frames are consumed as real future
    context and the output has T - lookahead frames.
    """

    def __init__(self, in_channels: int = 80, cond_channels: int = 512, num_class: int = 1) -> None:
        super().__init__()
        # Names follow the reference's Sequential: weighted layers at even indices, ELU between.
        layers: list[nn.Module] = []
        for i in range(CONV_LAYERS):
            kernel = FIRST_KERNEL if i == 0 else KERNEL
            width = in_channels if i == 0 else cond_channels
            layers += [weight_norm(nn.Conv1d(width, cond_channels, kernel)), nn.ELU()]
        self.condnet = nn.ModuleList(layers)
        self.classifier = nn.Linear(cond_channels, num_class)
        self.lookahead = FIRST_KERNEL - 1
        self.double()
        # Loading with assign=True (into a meta-device model) installs the file's float32 tensors.
        self.register_load_state_dict_post_hook(_back_to_float64)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> nn.Module:
        """Follow device moves but stay float64: a vocoder-wide `.to(bfloat16)` stops here."""

        def keep_float64(t: Tensor) -> Tensor:
            moved = fn(t)
            if t.is_floating_point() and moved.dtype != torch.float64:
                return t.to(device=moved.device, dtype=torch.float64)
            return moved

        return super()._apply(keep_float64, recurse)

    def forward(self, mel: Tensor, finalize: bool = True) -> Tensor:
        """[1, in_channels, T] -> [1, T] (finalize) or [1, T - lookahead], float64, non-negative."""
        x = mel.to(torch.float64)
        if finalize:
            x = F.pad(x, (0, self.lookahead))
        for i, layer in enumerate(self.condnet):
            if i > 0 and isinstance(layer, nn.Conv1d):
                x = F.pad(x, (KERNEL - 1, 0))
            x = layer(x)
        return self.classifier(x.transpose(1, 2)).squeeze(-1).abs()


def _back_to_float64(module: nn.Module, _incompatible: object) -> None:
    module.double()
