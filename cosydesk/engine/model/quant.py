"""bitsandbytes quantisation of the LLM's Qwen2 backbone, with visible fallbacks.

Modes: "none" (full precision), "8bit" (LLM.int8, outlier threshold 0 by default) and "4bit"
(NF4 with double quantisation, bf16 compute; fp16 compute where the card lacks bf16). Only the
Linear layers of the transformer blocks are replaced: the speech-token embedding and the speech
decoder head are never quantised (fp32; bf16 beside a bf16-compute 4-bit trunk). The 151,936-row
text-embedding table is only read while the prompt is built (never in the per-token decode step),
so it stays in CPU memory in every mode.

The mode arrives as a plain argument (`EngineOptions.quantization`): whoever builds the options
applies the settings and their environment variables (`cosydesk.config`); this module reads no
environment. The names it accepts are those the quantisation setting declares.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cosydesk.config import option
from cosydesk.engine.errors import ConfigError
from cosydesk.engine.types import EngineOptions

log = logging.getLogger(__name__)

# Minimum CUDA compute capabilities: int8 matmul needs Turing, bf16 needs Ampere.
INT8_MIN_CC = (7, 5)
BF16_MIN_CC = (8, 0)


@dataclass
class QuantResult:
    """What was asked for, what is in effect, and why they differ."""

    requested: str
    mode: str
    compute_dtype: str = ""
    layers: int = 0
    notes: list[str] = field(default_factory=list)
    # "reused" when the quantised layers came from the cache, "stored" when they were put there.
    cache: str = ""


def _bf16_ok(device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    return torch.cuda.get_device_capability(device) >= BF16_MIN_CC


def flow_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype for flow and vocoder; bf16 falls back to fp32 on cards without bf16.

    Raises ConfigError for a precision the flow_precision setting does not declare.
    """
    precisions = option("flow_precision").choices or ()
    if precision not in precisions:
        raise ConfigError(
            f"The flow precision '{precision}' is not one of {', '.join(precisions)}: "
            "choose one of them in Settings."
        )
    if precision == "bf16":
        return torch.bfloat16 if _bf16_ok(device) else torch.float32
    if precision == "fp16":
        # Half-precision convolutions are slow or missing on the CPU.
        return torch.float16 if device.type == "cuda" else torch.float32
    return torch.float32


_BNB_IMPORT = threading.Lock()


def _compile_on_first_call(fn: Any = None, **options: Any) -> Any:
    """What bitsandbytes gets for `torch.compile` while it is imported: the function compiled
    when it is first called (as torch.compile itself does), not prepared now."""
    if fn is None:
        return lambda inner: _compile_on_first_call(inner, **options)
    compiled: list[Any] = []

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not compiled:
            compiled.append(_REAL_COMPILE(fn, **options))
        return compiled[0](*args, **kwargs)

    return call


_REAL_COMPILE = torch.compile


def _import_bnb() -> tuple[Any, str]:
    """bitsandbytes, or None and the sentence that says why not.

    Its import wraps a few CPU fallback kernels in `torch.compile`, and preparing that pulls in
    torch's whole compiler: 1.9 s of the 2.1 s the import took here, in one stretch that kept
    the app's window from answering. Those kernels run only for 4-bit on the CPU, so here they
    are compiled when first called instead; on a GPU the compiler is never loaded.
    """
    try:
        with _BNB_IMPORT:
            if "bitsandbytes" in sys.modules:
                return sys.modules["bitsandbytes"], ""
            torch.compile = _compile_on_first_call  # type: ignore[assignment]
            try:
                import bitsandbytes as bnb
            finally:
                torch.compile = _REAL_COMPILE
        return bnb, ""
    except Exception as exc:  # a broken install raises anything
        return None, (
            f"bitsandbytes could not be loaded ({type(exc).__name__}: {exc}); the model runs "
            "unquantised. Install it with: pip install 'bitsandbytes>=0.45'"
        )


def _backbone_layers(llm: torch.nn.Module) -> torch.nn.Module:
    """The Qwen2 decoder blocks whose Linear layers get quantised."""
    return llm.llm.model.model.layers  # type: ignore[union-attr,return-value]


_Swap = tuple[torch.nn.Module, str, torch.nn.Linear]


def _swap_linears(root: torch.nn.Module, make, done: list[_Swap], prefix: str = "") -> None:
    """Replace every Linear below `root` by `make(qualified name, linear)`, recording each swap
    in `done`.

    The originals stay untouched (on the CPU), so a failure half-way can be undone.
    """
    for name, child in list(root.named_children()):
        if type(child) is torch.nn.Linear:
            setattr(root, name, make(prefix + name, child))
            done.append((root, name, child))
        else:
            _swap_linears(child, make, done, f"{prefix}{name}.")


def _linear_layout(root: torch.nn.Module) -> dict[str, list[int]]:
    """Qualified name -> weight shape of every Linear that `_swap_linears` would replace."""
    return {
        name: list(module.weight.shape)
        for name, module in root.named_modules()
        if type(module) is torch.nn.Linear
    }


def _undo(done: list[_Swap]) -> None:
    for parent, name, original in reversed(done):
        setattr(parent, name, original)


def _probe(layer: torch.nn.Module, device: torch.device) -> None:
    """Run one quantised layer once: a bitsandbytes build without kernels for this device
    fails here, at load time, rather than in the middle of the first sentence."""
    width = int(layer.in_features)  # type: ignore[arg-type]
    with torch.inference_mode():
        out = layer(torch.ones(1, width, device=device))
    if not bool(torch.isfinite(out).all()):
        raise RuntimeError("a quantised layer produced NaN or inf on a test input")


def _to_4bit(bnb: Any, compute_dtype: torch.dtype, device: torch.device):
    from cosydesk.engine.quantcache import empty_nf4_linear

    def make(_name: str, lin: torch.nn.Linear) -> torch.nn.Module:
        q = empty_nf4_linear(bnb, lin, compute_dtype)
        q.weight = bnb.nn.Params4bit(
            lin.weight.data, requires_grad=False, quant_type="nf4", compress_statistics=True
        )
        if lin.bias is not None:
            q.bias = torch.nn.Parameter(lin.bias.data.to(compute_dtype), requires_grad=False)
        return q.to(device)  # quantisation happens on this move

    return make


def _to_8bit(bnb: Any, threshold: float, device: torch.device):
    from cosydesk.engine.quantcache import empty_int8_linear

    def make(_name: str, lin: torch.nn.Linear) -> torch.nn.Module:
        q = empty_int8_linear(bnb, lin, threshold)
        weight = lin.weight.data.to(torch.float16 if device.type == "cuda" else torch.float32)
        q.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False)
        if lin.bias is not None:
            q.bias = torch.nn.Parameter(lin.bias.data.to(weight.dtype), requires_grad=False)
        return q.to(device)

    return make


def _half_trunk(llm: torch.nn.Module, dtype: torch.dtype) -> None:
    """Run the quantised trunk's activations (and its RMSNorm weights) in `dtype`.

    bitsandbytes computes in that dtype anyway; keeping the activations there saves a cast
    before and after every quantised matmul. In bf16 the speech embedding and head follow (never
    quantised); in fp16, whose range is narrow, they stay fp32.
    """
    model: Any = llm.llm.model.model  # type: ignore[union-attr]
    for layer in model.layers:
        layer.input_layernorm.to(dtype)
        layer.post_attention_layernorm.to(dtype)
    model.norm.to(dtype)
    llm.trunk_dtype = dtype  # type: ignore[assignment]
    if dtype == torch.bfloat16:
        # bf16 keeps fp32's range, so the speech rows and head lose nothing that matters and
        # halve their 46 MiB.
        llm.speech_embedding.to(dtype)  # type: ignore[union-attr]
        llm.llm_decoder.to(dtype)  # type: ignore[union-attr]


def choose_mode(requested: str, device: torch.device) -> tuple[str, list[str]]:
    """The nearest mode this machine can run, with a note for each step down.

    Raises ConfigError for a mode the quantisation setting does not declare.
    """
    modes = option("quantization").choices or ()
    if requested not in modes:
        raise ConfigError(
            f"The quantisation '{requested}' is not one of {', '.join(modes)}: "
            "choose one of them in Settings (or with --quantization)."
        )
    notes: list[str] = []
    mode = requested
    if mode == "auto":
        mode = "4bit" if device.type == "cuda" else "none"
    if mode == "none":
        return mode, notes
    bnb, problem = _import_bnb()
    if bnb is None:
        return "none", [problem]
    if device.type == "cuda":
        cc = torch.cuda.get_device_capability(device)
        if mode == "8bit" and cc < INT8_MIN_CC:
            notes.append(
                f"8-bit needs a GPU of compute capability {INT8_MIN_CC[0]}.{INT8_MIN_CC[1]} or "
                f"newer (this one is {cc[0]}.{cc[1]}); using 4-bit instead."
            )
            mode = "4bit"
    else:
        notes.append("No CUDA GPU: the quantised LLM runs on the CPU (slow but it works).")
    return mode, notes


def quantize_llm(
    llm: torch.nn.Module,
    options: EngineOptions,
    device: torch.device,
    source: Path | None = None,
) -> QuantResult:
    """Move the LLM to `device`, quantising its Qwen2 backbone as `options.quantization` asks.

    `source` is the llm.pt the weights came from: with it and `options.quant_cache_dir`, the
    quantised layers are taken from the cache when an entry fits, and kept there otherwise
    (see cosydesk.engine.quantcache). Falls back, never silently: each step down is recorded
    in the result's notes (and logged), including a bitsandbytes that imports but cannot
    quantise or run on this device (the model then loads unquantised). The text-embedding table
    (and the unused LM head tied to it) stays on the CPU and never visits the GPU, not even for
    a moment. Raises ConfigError for an unknown mode.
    """
    requested = options.quantization
    mode, notes = choose_mode(requested, device)
    qwen: Any = llm.llm.model  # type: ignore[union-attr]
    embed, head = qwen.model.embed_tokens, qwen.lm_head
    # `.to()` moves tied parameters in place, so the big table would be copied to the GPU
    # through the head that shares it; detach both while the rest moves and is quantised.
    qwen.model.embed_tokens, qwen.lm_head = torch.nn.Identity(), torch.nn.Identity()
    result = QuantResult(requested=requested, mode=mode, notes=notes)
    try:
        if mode != "none":
            _quantize_backbone(llm, mode, options, device, result, source)
        if result.mode == "none":
            result.compute_dtype = "fp32"
        llm.to(device)
    finally:
        qwen.model.embed_tokens, qwen.lm_head = embed.to("cpu"), head
    if options.text_table == "gpu" and device.type == "cuda":
        embed.to(device=device, dtype=getattr(llm, "trunk_dtype", None) or torch.float32)
    for note in result.notes:
        log.warning("%s", note)
    return result


def _open_cache(
    options: EngineOptions,
    source: Path | None,
    params: dict[str, Any],
    layers: torch.nn.Module,
) -> tuple[Any, dict[str, Any] | None, dict[str, torch.Tensor] | None]:
    """(cache, key, stored tensors or None); (None, None, None) when there is no cache to use."""
    if not options.quant_cache_dir or source is None:
        return None, None, None
    from cosydesk.engine.quantcache import QuantCache

    cache = QuantCache(options.quant_cache_dir)
    try:
        key = cache.key(source, params, _linear_layout(layers))
    except (OSError, ImportError, AttributeError) as exc:
        log.warning("the quantisation cache is not used: %s", exc)
        return None, None, None
    return cache, key, cache.read(key, str(Path(source).resolve()))


def _quantize_backbone(
    llm: torch.nn.Module,
    mode: str,
    options: EngineOptions,
    device: torch.device,
    result: QuantResult,
    source: Path | None = None,
) -> None:
    """Swap the backbone's Linear layers, from the cache where an entry fits; on any failure
    undo the swaps and note why."""
    from cosydesk.engine import quantcache

    if mode not in ("4bit", "8bit"):  # a mode the setting declares but nothing here builds
        raise ConfigError(
            f"This version of cosydesk cannot quantise to '{mode}': choose another mode in "
            "Settings."
        )
    bnb, _ = _import_bnb()
    compute = torch.bfloat16 if _bf16_ok(device) else torch.float16
    layers = _backbone_layers(llm)
    # The 8-bit codes and scales do not depend on the outlier threshold (it only steers the
    # matmul), so one entry serves every threshold.
    params: dict[str, Any] = {"mode": mode, "compute": _DTYPE_NAMES[compute], "device": device.type}
    if mode == "4bit":
        params.update(quant_type="nf4", double_quant=True)
    cache, key, stored = _open_cache(options, source, params, layers)
    done: list[_Swap] = []
    named: list[tuple[str, Any]] = []

    def recording(make):
        def wrapped(name: str, lin: torch.nn.Linear) -> torch.nn.Module:
            layer = make(name, lin)
            named.append((name, layer))
            return layer

        return wrapped

    if stored is not None:
        try:
            if mode == "4bit":
                make = quantcache.build_4bit(stored, bnb, compute, device)
            else:
                make = quantcache.build_8bit(stored, bnb, options.int8_threshold, device)
            _swap_linears(layers, make, done)
            if done:
                _probe(getattr(done[0][0], done[0][1]), device)
            result.cache = "reused"
        except Exception as exc:  # a stored entry that does not fit this model
            log.warning(
                "ignoring the quantisation cache (%s: %s); quantising again",
                type(exc).__name__,
                exc,
            )
            _undo(done)
            done.clear()
            stored = None
    try:
        if mode == "4bit":
            if stored is None:
                _swap_linears(layers, recording(_to_4bit(bnb, compute, device)), done)
            result.compute_dtype = _DTYPE_NAMES[compute]
        else:
            if stored is None:
                threshold = options.int8_threshold
                _swap_linears(layers, recording(_to_8bit(bnb, threshold, device)), done)
            result.compute_dtype = "fp16" if device.type == "cuda" else "fp32"
        if done and stored is None:
            _probe(getattr(done[0][0], done[0][1]), device)
    except Exception as exc:  # bitsandbytes fails in many ways
        # A handled fallback: one line for the person, the traceback only at debug level.
        log.debug("quantisation failed", exc_info=True)
        log.warning(
            "bitsandbytes could not quantise the model to %s (%s: %s); it runs unquantised",
            mode,
            type(exc).__name__,
            exc,
        )
        _undo(done)
        result.mode = "none"
        result.layers = 0
        result.cache = ""
        result.notes.append(
            f"bitsandbytes could not quantise the model to {mode} on {device.type} "
            f"({type(exc).__name__}: {exc}); the model runs unquantised. Reinstall it with: "
            "pip install --upgrade 'bitsandbytes>=0.45', or choose 'none' in Settings."
        )
        return
    result.layers = len(done)
    if cache is not None and key is not None and stored is None and source is not None:
        tensors = quantcache.layer_tensors(named, mode)
        if cache.write(key, str(Path(source).resolve()), tensors) is not None:
            result.cache = "stored"
    if mode == "4bit":
        _half_trunk(llm, compute)


_DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
