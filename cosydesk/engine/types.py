"""Plain records shared by the engine and its users (GUI, CLI, server). No heavy imports here."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosydesk.config import option

SAMPLE_RATE = 24000

# progress(fraction in [0, 1], message for a person)
ProgressFn = Callable[[float, str], None]


def _declared(name: str) -> Any:
    """A field whose default is the one the setting `name` declares (see cosydesk.config)."""
    return field(default_factory=lambda: option(name).default)


class Word(str, enum.Enum):
    """A vocabulary of words: members equal, print and format as their word, so that logs,
    JSON and Qt signals carry "ok", never "ModelStatus.OK"."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class ModelStatus(Word):
    """`EngineStatus.status`: the model is loaded and works ("ok"), or why it does not."""

    OK = "ok"
    LOADING = "loading"
    UNLOADED = "unloaded"
    ERROR = "error"


@dataclass(frozen=True)
class EngineOptions:
    """How to load the model, as plain values: the settings' defaults unless given.

    `quantization` is the mode asked for, already merged with the environment by the caller.
    """

    device: str = _declared("device")
    quantization: str = _declared("quantization")
    flow_precision: str = _declared("flow_precision")
    # LLM.int8 outlier threshold; 0 turns outlier handling off (needed for CUDA-graph capture).
    int8_threshold: float = _declared("int8_threshold")
    # Where the 151,936-row text-embedding table lives: "cpu" (it is only read while the
    # prompt is built) or "gpu" (for comparison; costs ~260 MiB in bf16).
    text_table: str = "cpu"
    use_cuda_graph: bool = True
    # Folder where what quantisation produced is kept for the next load (see
    # cosydesk.engine.quantcache); empty keeps nothing.
    quant_cache_dir: str = ""
    # How numbers, dates and amounts become words: "wetext" (upstream's grammars, when the
    # package is installed) or "basic" (digits spelled out; what the parity fixtures used).
    text_normalization: str = _declared("text_normalization")


@dataclass
class ComponentMemory:
    """Bytes a component holds on its device (parameters and buffers)."""

    name: str
    device: str
    bytes: int
    precision: str


@dataclass
class EngineStatus:
    """What the engine is and how it is loaded: the seed's /health fields and more."""

    status: ModelStatus
    model: str = "cosyvoice3"
    model_dir: str = ""
    backend: str = "pytorch"
    device: str = "cpu"
    quantization: str = "none"  # in effect
    quantization_requested: str = "none"
    quantization_note: str = ""  # why effect differs from request, if it does
    precisions: dict[str, str] = field(default_factory=dict)
    components: list[ComponentMemory] = field(default_factory=list)
    cuda_allocated: int | None = None
    cuda_reserved: int | None = None
    card_used: int | None = None
    card_total: int | None = None
    card_name: str | None = None
    decode_path: str = "eager"  # "cuda-graph" or "eager"
    text_normalization: str = ""  # "wetext <version>" or "basic"
    warnings: list[str] = field(default_factory=list)

    @property
    def quantization_label(self) -> str:
        """The seed's wording: "4-bit", "8-bit" or "none"."""
        return {"4bit": "4-bit", "8bit": "8-bit"}.get(self.quantization, "none")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: the seed's /health fields ("quantization" as "4-bit", "8-bit" or
        "none") plus everything else; the raw mode is under "quantization_mode"."""
        data = {k: v for k, v in self.__dict__.items() if k != "components"}
        data["precisions"] = dict(self.precisions)
        data["warnings"] = list(self.warnings)
        data["quantization"] = self.quantization_label
        data["quantization_mode"] = self.quantization
        data["components"] = {
            c.name: {"bytes": c.bytes, "device": c.device, "precision": c.precision}
            for c in self.components
        }
        return data
