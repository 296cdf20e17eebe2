"""Pieces of the Qwen2 trunk that the CosyVoice3 LM drives by hand: the static KV cache, the
layer arithmetic (RMSNorm, gated MLP, rotary embedding), merged projections, and building the
transformers model without loading any weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class KVCache:
    """Preallocated keys/values per layer, [1, kv_heads, capacity, head_dim], plus RoPE tables."""

    keys: list[Tensor]
    values: list[Tensor]
    cos: Tensor  # [capacity, head_dim]
    sin: Tensor
    slots: Tensor  # arange(capacity), for building masks on the device

    @property
    def capacity(self) -> int:
        return self.slots.numel()


def build_qwen(factory: Any, config: Any, init_weights: bool) -> Any:
    """A Qwen2ForCausalLM on the CPU, randomly initialised or with uninitialised parameters."""
    if init_weights:
        return factory(config).eval()
    with torch.device("meta"):
        qwen = factory(config)
    persistent = set(qwen.state_dict())
    loose = [name for name, _ in qwen.named_buffers() if name not in persistent]
    if any(not name.startswith("model.rotary_emb.") for name in loose):
        return factory(config).eval()  # unknown computed buffers: let transformers fill them
    rotary = qwen.model.rotary_emb
    qwen.to_empty(device="cpu")
    # The rotary tables are computed, not loaded, so that one small module is built for real.
    qwen.model.rotary_emb = type(rotary)(config=config)
    qwen.lm_head.weight = qwen.model.embed_tokens.weight  # to_empty unties shared parameters
    return qwen.eval()


def concat_linears(parts: list[nn.Linear]) -> nn.Linear:
    """One Linear whose output is the parts' outputs side by side."""
    first = parts[0]
    has_bias = first.bias is not None
    # Built on the meta device and given the joined weights: a real Linear would first draw
    # random weights the size of the whole trunk's projections, only to overwrite them.
    merged = nn.Linear(
        first.in_features,
        sum(p.out_features for p in parts),
        bias=has_bias,
        device="meta",
        dtype=first.weight.dtype,
    )
    with torch.no_grad():
        merged.weight = nn.Parameter(torch.cat([p.weight for p in parts]))
        if has_bias:
            merged.bias = nn.Parameter(torch.cat([p.bias for p in parts]))
    return merged.requires_grad_(False)


def rms_norm(norm: Any, x: Tensor) -> Tensor:
    """Qwen2's RMSNorm through torch's fused op (one kernel when dtypes agree)."""
    if norm.weight.dtype == x.dtype:
        return F.rms_norm(x, (x.shape[-1],), weight=norm.weight, eps=norm.variance_epsilon)
    normed = F.rms_norm(x.float(), (x.shape[-1],), eps=norm.variance_epsilon)
    return norm.weight * normed.to(x.dtype)


def gated_mlp(mlp: Any, x: Tensor) -> Tensor:
    """Qwen2's gated MLP, with the merged gate/up projection when there is one."""
    if hasattr(mlp, "gate_up_proj"):
        gate, up = mlp.gate_up_proj(x).chunk(2, dim=-1)
    else:
        gate, up = mlp.gate_proj(x), mlp.up_proj(x)
    return mlp.down_proj(mlp.act_fn(gate) * up)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary embedding in Qwen2's half-split layout; cos/sin are [q, head_dim]."""
    half = x.shape[-1] // 2
    swapped = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + swapped * sin


def rope_type(config: Any) -> str:
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None)
    if isinstance(params, dict):
        return str(params.get("rope_type", params.get("type", "default")))
    return "default"


def rope_theta(config: Any) -> float:
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    return float(config.rope_theta)
