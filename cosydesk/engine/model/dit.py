"""The diffusion transformer (DiT) that estimates the flow-matching velocity field of CosyVoice3.

Parameter and buffer names follow the official `flow.pt` (under `decoder.estimator.`), so a
state dict loads with `strict=True`. Numerics mirror the reference where it matters for parity:

* rotary angles are applied to the projected queries and keys *before* they are split into heads,
  with a rotary width of one head: only the first head is rotated, the others see no position;
* AdaLN-zero modulation chunks are (shift, scale, gate, shift_ff, scale_ff, gate_ff) in a block
  but (scale, shift) in the final norm; LayerNorms have no affine part and eps 1e-6;
* the time embedding and rotary angles are computed in float32 whatever the module dtype, because
  bfloat16 positions and timesteps would be off by whole radians after a few hundred frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged

TIME_FEATURES = 256
TIME_SCALE = 1000.0
ROTARY_BASE = 10000.0
NORM_EPS = 1e-6


def _time_features(t: Tensor, width: int = TIME_FEATURES) -> Tensor:
    """Sinusoidal features of the flow time t in [0, 1]: [B] -> [B, width], sines then cosines."""
    half = width // 2
    step = math.log(10000.0) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -step)
    angles = TIME_SCALE * t.float().unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


class TimestepEmbedding(nn.Module):
    """Flow time -> conditioning vector of width `dim` (sinusoid, Linear, SiLU, Linear)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(TIME_FEATURES, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        features = _time_features(t).to(next(self.time_mlp.parameters()).dtype)
        return self.time_mlp(features)


class CausalConvPositionEmbedding(nn.Module):
    """Two grouped convolutions (each followed by Mish) that only look at past frames."""

    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16) -> None:
        super().__init__()
        self.left_pad = kernel_size - 1
        self.conv1 = nn.Sequential(nn.Conv1d(dim, dim, kernel_size, groups=groups), nn.Mish())
        self.conv2 = nn.Sequential(nn.Conv1d(dim, dim, kernel_size, groups=groups), nn.Mish())

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, M, dim] -> [B, M, dim]; frame i depends on frames i-60..i only."""
        h = x.transpose(1, 2)
        h = self.conv1(F.pad(h, (self.left_pad, 0)))
        h = self.conv2(F.pad(h, (self.left_pad, 0)))
        return h.transpose(1, 2)


class InputEmbedding(nn.Module):
    """Mixes noisy mel, prompt condition, token features and speaker vector into one stream."""

    def __init__(self, mel_dim: int, mu_dim: int, spk_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * mel_dim + mu_dim + spk_dim, dim)
        self.conv_pos_embed = CausalConvPositionEmbedding(dim)

    def forward(self, x: Tensor, cond: Tensor, mu: Tensor, spks: Tensor) -> Tensor:
        """All frame inputs are [B, M, C]; spks is [B, C]. Returns [B, M, dim]."""
        spks = spks.unsqueeze(1).expand(-1, x.shape[1], -1)
        h = self.proj(torch.cat((x, cond, mu, spks), dim=-1))
        return self.conv_pos_embed(h) + h


class RotaryEmbedding(nn.Module):
    """Interleaved-pair (GPT-J style) rotary angles over `width` channels.

    `inv_freq` is part of the checkpoint. It stays float32 when the module is cast to a lower
    precision: a bfloat16 copy would put frame 1000 more than a radian away from where it belongs.
    """

    inv_freq: Tensor

    def __init__(self, width: int) -> None:
        super().__init__()
        exponents = torch.arange(0, width, 2, dtype=torch.float32) / width
        self.register_buffer("inv_freq", 1.0 / (ROTARY_BASE**exponents))

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> RotaryEmbedding:
        kept = self.inv_freq
        super()._apply(fn, recurse)
        moved = self.inv_freq
        if moved.dtype != kept.dtype and not moved.is_meta:
            self.inv_freq = kept.to(device=moved.device)
        return self

    def angles(self, seq_len: int) -> tuple[Tensor, Tensor]:
        """cos and sin of the angles for positions 0..seq_len-1, each [seq_len, width], float32."""
        inv_freq = self.inv_freq.float()
        positions = torch.arange(seq_len, device=inv_freq.device, dtype=torch.float32)
        freqs = positions.unsqueeze(1) * inv_freq.unsqueeze(0)
        # Each frequency serves one adjacent channel pair (2i, 2i+1).
        freqs = freqs.repeat_interleave(2, dim=-1)
        return freqs.cos(), freqs.sin()


def _rotate_leading(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the first cos.shape[-1] channels of x [B, M, C] pairwise; the rest pass through."""
    width = cos.shape[-1]
    head, tail = x[..., :width], x[..., width:]
    pairs = head.unflatten(-1, (-1, 2))
    swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    rotated = head * cos + swapped * sin
    return torch.cat((rotated.to(x.dtype), tail), dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention with rotary positions on the un-split projections."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], attn_mask: Tensor | None) -> Tensor:
        cos, sin = rope
        q = _rotate_leading(self.to_q(x), cos, sin)
        k = _rotate_leading(self.to_k(x), cos, sin)
        v = self.to_v(x)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.to_out[0](out.transpose(1, 2).flatten(2))


class AdaLayerNormZero(nn.Module):
    """Produces the six per-block modulation vectors from the time embedding."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 6 * dim)

    def forward(self, emb: Tensor) -> tuple[Tensor, ...]:
        """[B, dim] -> (shift, scale, gate, shift_ff, scale_ff, gate_ff), each [B, 1, dim]."""
        return self.linear(F.silu(emb)).unsqueeze(1).chunk(6, dim=-1)


class FinalAdaLayerNorm(nn.Module):
    """The last modulation before the output projection: (scale, shift) in that order."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.linear(F.silu(emb)).unsqueeze(1).chunk(2, dim=-1)
        return _layer_norm(x) * (1 + scale) + shift


def _layer_norm(x: Tensor) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=NORM_EPS)


class FeedForward(nn.Module):
    """Linear, tanh-approximated GELU, Linear; laid out as `ff.0.0` / `ff.2` like the checkpoint."""

    def __init__(self, dim: int, mult: float) -> None:
        super().__init__()
        inner = int(dim * mult)
        self.ff = nn.Sequential(
            nn.Sequential(nn.Linear(dim, inner), nn.GELU(approximate="tanh")),
            nn.Identity(),  # a dropout slot in training; keeps the checkpoint indices
            nn.Linear(inner, dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.ff(x)


class DiTBlock(nn.Module):
    """Pre-norm transformer block whose norms are modulated (and outputs gated) by time."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: float) -> None:
        super().__init__()
        self.attn_norm = AdaLayerNormZero(dim)
        self.attn = Attention(dim, heads, dim_head)
        self.ff = FeedForward(dim, ff_mult)

    def forward(
        self,
        x: Tensor,
        emb: Tensor,
        rope: tuple[Tensor, Tensor],
        attn_mask: Tensor | None,
        frame_mask: Tensor | None,
    ) -> Tensor:
        shift, scale, gate, shift_ff, scale_ff, gate_ff = self.attn_norm(emb)
        attended = self.attn(_layer_norm(x) * (1 + scale) + shift, rope, attn_mask)
        if frame_mask is not None:
            attended = attended.masked_fill(~frame_mask.unsqueeze(-1), 0.0)
        x = x + gate * attended
        return x + gate_ff * self.ff(_layer_norm(x) * (1 + scale_ff) + shift_ff)


def chunk_attention_mask(seq_len: int, chunk: int, device: torch.device) -> Tensor:
    """[M, M] bool: frame i may attend frame j when j < (i // chunk + 1) * chunk."""
    pos = torch.arange(seq_len, device=device)
    limit = (torch.div(pos, chunk, rounding_mode="floor") + 1) * chunk
    return pos.unsqueeze(0) < limit.unsqueeze(1)


class DiT(nn.Module):
    """Velocity estimator v(x, t | mu, spks, cond) over mel frames, channels first."""

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        heads: int,
        dim_head: int,
        ff_mult: float = 4,
        mel_dim: int = 80,
        mu_dim: int | None = None,
        spk_dim: int = 0,
        static_chunk_size: int = 50,
    ) -> None:
        super().__init__()
        self.static_chunk_size = static_chunk_size
        self.time_embed = TimestepEmbedding(dim)
        self.input_embed = InputEmbedding(mel_dim, mu_dim or mel_dim, spk_dim, dim)
        self.rotary_embed = RotaryEmbedding(dim_head)
        self.transformer_blocks = nn.ModuleList(
            DiTBlock(dim, heads, dim_head, ff_mult) for _ in range(depth)
        )
        self.norm_out = FinalAdaLayerNorm(dim)
        self.proj_out = nn.Linear(dim, mel_dim)

    @classmethod
    def from_config(cls, estimator_node: Tagged) -> DiT:
        """Build an (untrained) DiT from the yaml's `estimator` node; weights are loaded later."""
        if estimator_node.short_name != "DiT":
            raise ModelFolderError(
                f"The flow estimator in cosyvoice3.yaml is '{estimator_node.target}', but this "
                "engine only runs the DiT estimator of CosyVoice3. Choose a CosyVoice3 model "
                "folder."
            )
        kw: dict[str, Any] = estimator_node.kwargs
        if kw.get("long_skip_connection"):
            raise ModelFolderError(
                "cosyvoice3.yaml asks for a DiT with a long skip connection, which CosyVoice3 "
                "does not use and this engine does not support. Choose a CosyVoice3 model folder."
            )
        try:
            return cls(
                dim=int(kw["dim"]),
                depth=int(kw.get("depth", 8)),
                heads=int(kw.get("heads", 8)),
                dim_head=int(kw.get("dim_head", 64)),
                ff_mult=float(kw.get("ff_mult", 4)),
                mel_dim=int(kw.get("mel_dim", 80)),
                mu_dim=int(kw["mu_dim"]) if kw.get("mu_dim") is not None else None,
                spk_dim=int(kw.get("spk_dim") or 0),
                static_chunk_size=int(kw.get("static_chunk_size", 50)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFolderError(
                f"The DiT settings in cosyvoice3.yaml are incomplete or malformed ({exc!r}). "
                "Download the model folder again."
            ) from None

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        mu: Tensor,
        t: Tensor,
        spks: Tensor,
        cond: Tensor,
        streaming: bool = False,
    ) -> Tensor:
        """Velocity for x [B, mel, M] at times t [B]; returns [B, mel, M] in the module dtype.

        mask [B, 1, M] marks real frames (None: all are real, which lets the GPU use its fastest
        attention kernel). With streaming=True a frame only sees frames up to the end of its
        block of `static_chunk_size`, so the output of earlier blocks does not depend on later ones.
        """
        dtype = self.proj_out.weight.dtype
        seq_len = x.shape[-1]
        emb = self.time_embed(t)
        h = self.input_embed(
            x.transpose(1, 2).to(dtype),
            cond.transpose(1, 2).to(dtype),
            mu.transpose(1, 2).to(dtype),
            spks.to(dtype),
        )
        rope = self.rotary_embed.angles(seq_len)

        frame_mask = mask[:, 0].bool() if mask is not None else None
        attn_mask: Tensor | None = None
        if streaming:
            attn_mask = chunk_attention_mask(seq_len, self.static_chunk_size, h.device)
            attn_mask = attn_mask.unsqueeze(0).unsqueeze(0)
        if frame_mask is not None:
            keys = frame_mask.unsqueeze(1).unsqueeze(1)
            attn_mask = keys if attn_mask is None else attn_mask & keys

        for block in self.transformer_blocks:
            h = block(h, emb, rope, attn_mask, frame_mask)
        return self.proj_out(self.norm_out(h, emb)).transpose(1, 2)
