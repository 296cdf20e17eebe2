"""Memory accounting: bytes each component holds, the process's CUDA totals, the card's use."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from cosydesk.engine.types import ComponentMemory, EngineStatus, ModelStatus


def _tensors_of(module: torch.nn.Module):
    """Every tensor the module owns, bitsandbytes quantisation state included, once each."""
    seen: set[int] = set()
    for t in [*module.parameters(), *module.buffers()]:
        if id(t) not in seen:
            seen.add(id(t))
            yield t
        state = getattr(t, "quant_state", None)
        while state is not None:
            for name in ("absmax", "code", "offset"):
                extra = getattr(state, name, None)
                if isinstance(extra, torch.Tensor) and id(extra) not in seen:
                    seen.add(id(extra))
                    yield extra
            state = getattr(state, "state2", None)
        for name in ("SCB", "CB"):
            extra = getattr(t, name, None)
            if isinstance(extra, torch.Tensor) and id(extra) not in seen and extra is not t:
                seen.add(id(extra))
                yield extra


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    try:
        return (t.device.type, t.untyped_storage().data_ptr())
    except (RuntimeError, NotImplementedError):
        return (t.device.type, id(t))


def module_bytes(
    module: torch.nn.Module | None, exclude: torch.nn.Module | None = None
) -> dict[str, int]:
    """Bytes of the module's tensors, per device type ("cuda", "cpu").

    Tensors sharing one storage (tied weights) count once; storages that `exclude` holds are
    not counted at all.
    """
    out: dict[str, int] = {}
    if module is None:
        return out
    storages: set[tuple[str, int]] = set()
    if exclude is not None:
        storages.update(_storage_key(t) for t in _tensors_of(exclude))
    for t in _tensors_of(module):
        if t.device.type == "meta":
            continue
        key = _storage_key(t)
        if key in storages:
            continue
        storages.add(key)
        out[t.device.type] = out.get(t.device.type, 0) + t.untyped_storage().nbytes()
    return out


def _frontend_bytes(engine: Any) -> int:
    """Size of the two ONNX models once the frontend has loaded them (their sessions hold the
    weights in CPU memory), else 0."""
    if getattr(engine, "_frontend", None) is None:
        return 0
    folder = engine.folder
    total = 0
    for path in (folder.campplus, folder.speech_tokenizer):
        with contextlib.suppress(OSError):
            total += Path(path).stat().st_size
    return total


def _precision(module: torch.nn.Module | None, quant_mode: str = "") -> str:
    if module is None:
        return ""
    if quant_mode in ("4bit", "8bit"):
        return {"4bit": "nf4", "8bit": "int8"}[quant_mode]
    for p in module.parameters():
        if p.is_floating_point():
            return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
                p.dtype, str(p.dtype)
            )
    return ""


def card_status(status: EngineStatus) -> EngineStatus:
    """Fill in the process's CUDA totals and the card's use (left None without CUDA)."""
    if not torch.cuda.is_available():
        return status
    free, total = torch.cuda.mem_get_info()
    status.cuda_allocated = torch.cuda.memory_allocated()
    status.cuda_reserved = torch.cuda.memory_reserved()
    status.card_used = total - free
    status.card_total = total
    status.card_name = torch.cuda.get_device_name()
    return status


def engine_status(engine: Any) -> EngineStatus:
    """The full status of a loaded engine."""
    return card_status(model_status(engine))


def model_status(engine: Any) -> EngineStatus:
    """What a loaded engine holds and how: everything but the live CUDA figures.

    It walks every tensor of the models, so callers that poll should keep it until the
    models change (dtype fallback, frontend loaded, decode path captured).
    """
    quant = engine.quant
    device = engine.device.type
    # The text table is a lookup kept in CPU memory: listed apart, so that "llm" is what the
    # LLM holds on its device and the two modes compare like for like.
    table = engine.llm.llm.model.model.embed_tokens
    table_bytes = module_bytes(table)
    components = [
        ComponentMemory(
            "llm",
            device,
            module_bytes(engine.llm, exclude=table).get(device, 0),
            _precision(engine.llm, quant.mode),
        ),
        ComponentMemory(
            "llm_text_embedding",
            table.weight.device.type,
            sum(table_bytes.values()),
            _precision(table),
        ),
    ]
    for name, module in (("flow", engine.flow), ("vocoder", engine.hift)):
        by_device = module_bytes(module)
        components.append(
            ComponentMemory(name, device, by_device.get(device, 0), _precision(module))
        )
    components.append(ComponentMemory("frontend", "cpu", _frontend_bytes(engine), "onnx"))
    status = EngineStatus(
        status=ModelStatus.OK,
        model_dir=str(engine.folder.root),
        device=device,
        quantization=quant.mode,
        quantization_requested=quant.requested,
        quantization_note=" ".join(quant.notes),
        precisions={
            "llm": _precision(engine.llm, quant.mode),
            "llm_compute": quant.compute_dtype,
            "flow": _precision(engine.flow),
            "vocoder": _precision(engine.hift),
        },
        components=components,
        decode_path=getattr(engine.llm, "decode_path", "eager"),
        text_normalization=engine.text_normalization,
        warnings=[*quant.notes, *engine.text_notes],
    )
    return status
