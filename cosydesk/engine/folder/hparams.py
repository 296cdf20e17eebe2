"""Check every number a model folder's configuration gives before anything is built from it.

A tampered or damaged `cosyvoice3.yaml` or `CosyVoice-BlankEN/config.json` must not make cosydesk
allocate terabytes, loop for minutes or write a WAV header with a wrong rate. The rules:

* Architecture constants (rates, mel layout, vocoder shape, token vocabularies) are those of
  Fun-CosyVoice3-0.5B and of every folder cosydesk can run; they must be exactly the official
  values. Tiny test folders share them.
* Sizes that differ between the official model and test models (widths, depths, heads) must be
  positive integers that the modules can be built with (divisibility), and the model they
  describe must fit in its weight file: a float weight takes at least 2 bytes on disk, so a
  configuration that needs more than half the file's size in weights cannot belong to it. Only
  the files' sizes are read here, never their content.
* Settings (sampling, solver strength, vocoder gains) must be finite and in their useful range.

Training-only entries of the full official yaml (loss weights, the data pipeline, train_conf)
are never read by cosydesk and are not checked. Every failure is one ModelFolderError sentence
naming the file, the key and what is expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cosydesk.engine.errors import ModelFolderError

SAMPLE_RATE = 24000
MEL = 80
SPEAKER_DIM = 192
SPEECH_TOKENS = 6561
SPEECH_ROWS = SPEECH_TOKENS + 200  # the LM's speech tables: tokens plus control ids
TEXT_VOCAB = 151936  # Qwen2's embedding rows
# The smallest size a float weight takes in a weight file (bf16 / fp16).
MIN_BYTES_PER_WEIGHT = 2
MAX_CHUNK_TOKENS = 100  # the streaming hop never grows beyond this (see synthesis)
MAX_POSITIONS = 1 << 20
MAX_SIZE = 2**31 - 1  # torch's sizes are 64-bit, but no layer of any real model comes close

_UPSAMPLE_RATES = [8, 5, 3]
_UPSAMPLE_KERNELS = [16, 11, 7]
_RESBLOCK_KERNELS = [3, 7, 11]
_SOURCE_KERNELS = [7, 7, 11]
_DILATIONS = [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
_ISTFT_N_FFT = 16

_YAML = "cosyvoice3.yaml"
_QWEN = "CosyVoice-BlankEN/config.json"
_MISSING = object()
_ABSENT = object()

# yaml path -> the official value. Paths are dotted keys through the nested nodes.
_CONSTANTS: dict[str, Any] = {
    "sample_rate": SAMPLE_RATE,
    "spk_embed_dim": SPEAKER_DIM,
    "token_frame_rate": 25,
    "token_mel_ratio": 2,
    "llm.speech_token_size": SPEECH_TOKENS,
    "flow.input_size": MEL,
    "flow.output_size": MEL,
    "flow.spk_embed_dim": SPEAKER_DIM,
    "flow.vocab_size": SPEECH_TOKENS,
    "flow.input_frame_rate": 25,
    "flow.token_mel_ratio": 2,
    "flow.pre_lookahead_len": 3,
    "flow.pre_lookahead_layer.in_channels": MEL,
    "flow.pre_lookahead_layer.pre_lookahead_len": 3,
    "flow.decoder.in_channels": 3 * MEL,
    "flow.decoder.n_spks": 1,
    "flow.decoder.spk_emb_dim": MEL,
    "flow.decoder.estimator.mel_dim": MEL,
    "flow.decoder.estimator.mu_dim": MEL,
    "flow.decoder.estimator.spk_dim": MEL,
    "flow.decoder.estimator.out_channels": MEL,
    "hift.in_channels": MEL,
    "hift.nb_harmonics": 8,
    "hift.sampling_rate": SAMPLE_RATE,
    "hift.upsample_rates": _UPSAMPLE_RATES,
    "hift.upsample_kernel_sizes": _UPSAMPLE_KERNELS,
    "hift.istft_params.n_fft": _ISTFT_N_FFT,
    "hift.istft_params.hop_len": 4,
    "hift.resblock_kernel_sizes": _RESBLOCK_KERNELS,
    "hift.resblock_dilation_sizes": _DILATIONS,
    "hift.source_resblock_kernel_sizes": _SOURCE_KERNELS,
    "hift.source_resblock_dilation_sizes": _DILATIONS,
    "hift.conv_pre_look_right": 4,
    "hift.f0_predictor.num_class": 1,
    "hift.f0_predictor.in_channels": MEL,
    "feat_extractor.n_fft": 1920,
    "feat_extractor.num_mels": MEL,
    "feat_extractor.sampling_rate": SAMPLE_RATE,
    "feat_extractor.hop_size": 480,
    "feat_extractor.win_size": 1920,
    "feat_extractor.fmin": 0,
    "feat_extractor.fmax": None,
    "feat_extractor.center": False,
}
# Constants the yaml must state (the others fall back to the same official value when absent).
_REQUIRED = {"sample_rate", "feat_extractor.num_mels", "feat_extractor.hop_size"}

# yaml path -> (lowest, highest, lowest excluded) for settings: finite numbers in that range.
_SETTINGS: dict[str, tuple[float, float, bool]] = {
    "llm.sampling.top_p": (0.0, 1.0, True),
    "llm.sampling.tau_r": (0.0, 1.0, True),
    "flow.decoder.cfm_params.content.inference_cfg_rate": (0.0, 10.0, False),
    "flow.decoder.cfm_params.content.sigma_min": (0.0, 1.0, False),
    "hift.nsf_alpha": (0.0, 10.0, False),
    "hift.nsf_sigma": (0.0, 10.0, False),
    "hift.nsf_voiced_threshold": (0.0, 1000.0, False),
    "hift.lrelu_slope": (0.0, 1.0, False),
    "hift.audio_limit": (0.0, 1.0, True),
}
_INT_SETTINGS: dict[str, tuple[int, int]] = {
    "chunk_size": (1, MAX_CHUNK_TOKENS),
    "num_decoding_left_chunks": (-1, 1 << 20),
    "llm.sampling.top_k": (1, SPEECH_ROWS),
    "llm.sampling.win_size": (1, 10_000),
    "flow.decoder.estimator.static_chunk_size": (1, 2 * MAX_CHUNK_TOKENS),
    "flow.decoder.estimator.num_decoding_left_chunks": (-1, 1 << 20),
}


def _mapping(node: Any) -> Mapping[str, Any] | None:
    if isinstance(node, Mapping):
        return node
    kwargs = getattr(node, "kwargs", None)  # a yamlconf.Tagged node
    return kwargs if isinstance(kwargs, Mapping) else None


def _lookup(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        mapping = _mapping(node)
        if mapping is None or part not in mapping:
            return _MISSING
        node = mapping[part]
    return node


def _shown(value: Any) -> str:
    if _is_int(value) and value.bit_length() > 64:
        # repr of an integer of thousands of digits raises ValueError; say how big it is.
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _same(value: Any, expected: Any) -> bool:
    """Equal and of the same kind: 24000 is not True, 2.0 or [2]; lists compare item by item."""
    if isinstance(expected, list):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(expected)
            and all(_same(v, e) for v, e in zip(value, expected, strict=True))
        )
    if expected is None or isinstance(expected, bool):
        return value is expected
    return _is_int(value) and value == expected


class _Checker:
    """Raises the one sentence for the first value of `file` that breaks a rule."""

    def __init__(self, root: Path, file: str, config: Mapping[str, Any]) -> None:
        self.root, self.file, self.config = root, file, config

    def fail(self, key: str, value: Any, expected: str) -> ModelFolderError:
        return ModelFolderError(
            f"{self.file} in the model folder {self.root} gives {key} = {_shown(value)}, but "
            f"{expected}; the file is damaged or was edited: download the model folder again."
        )

    def get(self, key: str, default: Any = _MISSING) -> Any:
        value = _lookup(self.config, key)
        if value is _MISSING:
            if default is _MISSING:
                raise ModelFolderError(
                    f"{self.file} in the model folder {self.root} lacks {key}; download the "
                    "model folder again."
                )
            return default
        return value

    def constant(self, key: str, expected: Any) -> None:
        value = self.get(key, _MISSING if key in _REQUIRED else expected)
        if not _same(value, expected):
            raise self.fail(key, value, f"CosyVoice3 has {expected!r} there")

    def integer(self, key: str, low: int, high: int = MAX_SIZE, default: Any = _MISSING) -> int:
        value = self.get(key, default)
        if not _is_int(value) or value < low or value > high:
            raise self.fail(key, value, f"it must be a whole number from {low} to {high}")
        return int(value)

    def real(
        self, key: str, low: float, high: float, *, above: bool = False, floats: bool = False
    ) -> float | None:
        """A finite number in [low, high] ((low, high] with above=True; written with a decimal
        point or exponent with floats=True); None when the key is absent (a default applies)."""
        value = self.get(key, _ABSENT)
        if value is _ABSENT:
            return None
        wrong_kind = not _is_real(value) or (floats and not isinstance(value, float))
        if wrong_kind or value < low or value > high or (above and value == low):
            span = f"above {low:g} and at most {high:g}" if above else f"from {low:g} to {high:g}"
            kind = "a decimal number" if floats else "a number"
            raise self.fail(key, value, f"it must be {kind} {span}")
        return float(value)

    def fits(self, key: str, value: Any, weights: int, file: str) -> None:
        """`weights` (what the configuration up to `key` implies) must fit in weight file `file`."""
        size = (self.root / file).stat().st_size
        if weights * MIN_BYTES_PER_WEIGHT > size:
            raise self.fail(
                key,
                value,
                f"a model of that size needs at least {_bytes(weights * MIN_BYTES_PER_WEIGHT)} "
                f"of weights and {file} holds {_bytes(size)}",
            )


def _bytes(count: int) -> str:
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


# --------------------------------------------------------------------------- weight counts
# Closed forms of the tensors in the official files (tinymodel.weight_shapes lists them one by
# one; a test checks that both agree), so that a depth of 100,000 costs no more than a depth of 2.


def _linear(out: int, inp: int) -> int:
    return out * inp + out


def _weight_norm(out: int, inp: int, kernel: int) -> int:
    return 2 * out + out * inp * kernel


def flow_weights(dim: int, inner: int, ff_mult: int, depth: int, channels: int, head: int) -> int:
    """Weights in flow.pt for a DiT of `depth` blocks (inner = heads x dim_head)."""
    fixed = SPEECH_TOKENS * MEL + _linear(MEL, SPEAKER_DIM)
    lookahead = channels * MEL * 4 + channels + MEL * channels * 3 + MEL
    dit = (
        _linear(dim, 256)
        + _linear(dim, dim)
        + _linear(dim, 4 * MEL)
        + 2 * (dim * (dim // 16) * 31 + dim)
        + head // 2
        + _linear(2 * dim, dim)
        + _linear(MEL, dim)
    )
    block = (
        _linear(6 * dim, dim)
        + 3 * _linear(inner, dim)
        + _linear(dim, inner)
        + _linear(ff_mult * dim, dim)
        + _linear(dim, ff_mult * dim)
    )
    return fixed + lookahead + dit + depth * block


def llm_weights(hidden: int, inter: int, layers: int, heads: int, kv_heads: int) -> int:
    """Weights in llm.pt (the output head shares the text table's storage, stored once)."""
    head = hidden // heads
    q, kv = heads * head, kv_heads * head
    layer = (
        _linear(q, hidden) + 2 * _linear(kv, hidden) + hidden * q + 3 * inter * hidden + 2 * hidden
    )
    return TEXT_VOCAB * hidden + layers * layer + hidden + 2 * SPEECH_ROWS * hidden


def _resblock(channels: int, kernel: int) -> int:
    return 6 * _weight_norm(channels, channels, kernel) + 6 * channels


def hift_weights(base: int, f0: int) -> int:
    """Weights in hift.pt for `base_channels` and the F0 predictor's `cond_channels`."""
    spec = _ISTFT_N_FFT + 2
    total = _linear(1, 9) + _weight_norm(base, MEL, 5)
    for i, kernel in enumerate(_UPSAMPLE_KERNELS):
        total += _weight_norm(base >> (i + 1), base >> i, kernel)
    for i in range(len(_UPSAMPLE_RATES)):
        stride = math.prod(_UPSAMPLE_RATES[i + 1 :])
        total += _linear(base >> (i + 1), spec * (2 * stride if stride > 1 else 1))
    for i, kernel in enumerate(_SOURCE_KERNELS):
        total += _resblock(base >> (i + 1), kernel)
    for i in range(len(_UPSAMPLE_RATES)):
        total += sum(_resblock(base >> (i + 1), kernel) for kernel in _RESBLOCK_KERNELS)
    total += _weight_norm(spec, base >> len(_UPSAMPLE_RATES), 7)
    total += _weight_norm(f0, MEL, 4) + 4 * _weight_norm(f0, f0, 3) + _linear(1, f0)
    return total


# --------------------------------------------------------------------------- the checks


def _check_yaml(c: _Checker, hidden: int) -> None:
    # Top-level keys first: they are what a person edits, and the nodes refer to them.
    for key in sorted(_CONSTANTS, key=lambda k: k.count(".")):
        c.constant(key, _CONSTANTS[key])
    for key, (first, last) in _INT_SETTINGS.items():
        c.integer(key, first, last, default=first)
    for key, (low, high, above) in _SETTINGS.items():
        c.real(key, low, high, above=above)
    for key in ("llm_input_size", "llm_output_size", "llm.llm_input_size", "llm.llm_output_size"):
        size = c.get(key, hidden)
        if not _same(size, hidden):
            raise c.fail(key, size, f"{_QWEN} gives the language model width {hidden}")

    est = "flow.decoder.estimator"
    dim = c.integer(f"{est}.dim", 16)
    if dim % 16:
        raise c.fail(
            f"{est}.dim", dim, "it must be a multiple of 16 (the DiT's grouped convolution)"
        )
    heads = c.integer(f"{est}.heads", 1, default=8)
    head = c.integer(f"{est}.dim_head", 2, default=64)
    if head % 2:
        raise c.fail(f"{est}.dim_head", head, "it must be even (rotary position embedding)")
    ff_mult = c.integer(f"{est}.ff_mult", 1, default=4)
    depth = c.integer(f"{est}.depth", 1, default=8)
    channels = c.integer("flow.pre_lookahead_layer.channels", 1)
    # Each size is weighed with those before it, so the first key that overflows is the culprit.
    c.fits(f"{est}.dim", dim, flow_weights(dim, 1, 1, 0, 1, 2), "flow.pt")
    c.fits(f"{est}.heads", heads, flow_weights(dim, heads, 1, 1, 1, 2), "flow.pt")
    c.fits(f"{est}.dim_head", head, flow_weights(dim, heads * head, 1, 1, 1, head), "flow.pt")
    c.fits(
        f"{est}.ff_mult", ff_mult, flow_weights(dim, heads * head, ff_mult, 1, 1, head), "flow.pt"
    )
    c.fits(
        f"{est}.depth", depth, flow_weights(dim, heads * head, ff_mult, depth, 1, head), "flow.pt"
    )
    c.fits(
        "flow.pre_lookahead_layer.channels",
        channels,
        flow_weights(dim, heads * head, ff_mult, depth, channels, head),
        "flow.pt",
    )

    stages = len(_UPSAMPLE_RATES)
    base = c.integer("hift.base_channels", 1 << stages, default=512)
    f0 = c.integer("hift.f0_predictor.cond_channels", 1, default=512)
    c.fits("hift.base_channels", base, hift_weights(base, 1), "hift.pt")
    c.fits("hift.f0_predictor.cond_channels", f0, hift_weights(base, f0), "hift.pt")


_DTYPES = (None, "float32", "float16", "bfloat16", "auto")
_DTYPE_NAMES = "it must be null, float32, float16, bfloat16 or auto"


def _default_rope(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    kind = value.get("rope_type", value.get("type", "default"))
    theta = value.get("rope_theta", 1.0)
    return kind == "default" and _is_real(theta) and theta > 0


def _check_qwen(c: _Checker) -> None:
    hidden = c.integer("hidden_size", 1)
    heads = c.integer("num_attention_heads", 1)
    if hidden % heads or (hidden // heads) % 2:
        raise c.fail(
            "num_attention_heads",
            heads,
            f"hidden_size {hidden} must split into that many heads of an even width",
        )
    kv_heads = c.integer("num_key_value_heads", 1, default=heads)
    if heads % kv_heads:
        raise c.fail("num_key_value_heads", kv_heads, f"it must divide num_attention_heads {heads}")
    inter = c.integer("intermediate_size", 1)
    layers = c.integer("num_hidden_layers", 1)
    vocab = c.get("vocab_size")
    if not _same(vocab, TEXT_VOCAB):
        raise c.fail("vocab_size", vocab, f"Qwen2's text vocabulary has {TEXT_VOCAB} rows")
    c.integer("max_position_embeddings", 1, MAX_POSITIONS, default=32768)
    c.integer("max_window_layers", 0, default=0)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if c.get(key, None) is not None:
            c.integer(key, 0, TEXT_VOCAB - 1)
    if c.get("sliding_window", None) is not None:
        c.integer("sliding_window", 1)
    # transformers takes these two only as floats (an integer 0 is refused when it builds).
    c.real("rms_norm_eps", 0.0, 0.1, above=True, floats=True)
    c.real("initializer_range", 0.0, 1.0, floats=True)
    c.real("rope_theta", 0.0, 1e12, above=True)
    c.real("attention_dropout", 0.0, 1.0)
    checks: list[tuple[str, Any, Callable[[Any], bool], str]] = [
        ("use_sliding_window", False, lambda v: v is False, "CosyVoice3 has false there"),
        ("tie_word_embeddings", True, lambda v: isinstance(v, bool), "it must be true or false"),
        ("use_cache", True, lambda v: isinstance(v, bool), "it must be true or false"),
        ("hidden_act", "silu", lambda v: v == "silu", "CosyVoice3 has 'silu' there"),
        ("rope_scaling", None, _default_rope, "it must be null (plain rotary positions)"),
        ("rope_parameters", None, _default_rope, "it must be null (plain rotary positions)"),
        ("torch_dtype", None, lambda v: v in _DTYPES, _DTYPE_NAMES),
        ("dtype", None, lambda v: v in _DTYPES, _DTYPE_NAMES),
        (
            "layer_types",
            None,
            lambda v: v is None or v == ["full_attention"] * layers,
            f"it must be null or name full_attention for each of the {layers} layers",
        ),
    ]
    for key, default, good, expected in checks:
        value = c.get(key, default)
        if not good(value):
            raise c.fail(key, value, expected)
    c.fits("hidden_size", hidden, llm_weights(hidden, 1, 0, heads, kv_heads), "llm.pt")
    c.fits("intermediate_size", inter, llm_weights(hidden, inter, 1, heads, kv_heads), "llm.pt")
    c.fits(
        "num_hidden_layers", layers, llm_weights(hidden, inter, layers, heads, kv_heads), "llm.pt"
    )


def check_numbers(config: Mapping[str, Any], qwen: Mapping[str, Any], root: Path) -> None:
    """Raise ModelFolderError unless every number of the two configurations is one cosydesk can
    build and run, and the models they describe fit in the folder's weight files.

    `config` is the resolved cosyvoice3.yaml, `qwen` the parsed CosyVoice-BlankEN/config.json;
    the weight files must exist (only their sizes are read). Cheap whatever the values are.
    """
    qwen_checker = _Checker(root, _QWEN, qwen)
    _check_qwen(qwen_checker)
    _check_yaml(_Checker(root, _YAML, config), int(qwen["hidden_size"]))
