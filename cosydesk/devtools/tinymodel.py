"""Build random CosyVoice3 model folders in the official format, for tests and benchmarks.

No real weights can be had here, so tests run on folders this module writes: the same file names,
yaml layout, tokenizer layout and tensor names/shapes as Fun-CosyVoice3-0.5B-2512, with random
values. "tiny" dims keep a folder around 25 MB; "official" dims give the real 0.5B shapes (GBs)
for GPU benchmarks. Output is a pure function of (dims, seed): every tensor is drawn from its own
generator seeded by the seed and the tensor's name, so files are byte-identical between runs.

The tensor names and shapes come from `weight_shapes`, a table of the upstream checkpoint layout;
a test checks it against the parity fixture that upstream itself wrote, and another checks that
our modules accept the files, so a naming slip in either shows up.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosydesk.devtools.tinyassets import (
    MEL,
    QWEN_SPECIALS,
    REGULAR_TOKENS,
    SPEECH_TOKENS,
    SPK,
    write_onnx_models,
    write_tokenizer,
)

if TYPE_CHECKING:
    import torch

TEXT_VOCAB = 151936  # Qwen2 embedding rows (padded beyond the 151646 ids in use)
SPEECH_ROWS = SPEECH_TOKENS + 200  # sos, eos, task_id, fill and spare ids


@dataclass(frozen=True)
class Dims:
    """The sizes that differ between a tiny test model and the official one."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    lookahead_channels: int
    dit_dim: int
    dit_depth: int
    dit_heads: int
    dit_dim_head: int
    dit_ff_mult: int
    hift_channels: int
    f0_channels: int


# Deliberately unlike the parity fixture's sizes (and with heads * dim_head == dim only where
# upstream has it), so code that hard-codes a size fails on one of the two.
TINY = Dims(32, 64, 2, 4, 2, 48, 48, 2, 3, 16, 2, 40, 24)
OFFICIAL = Dims(896, 4864, 24, 14, 2, 1024, 1024, 22, 16, 64, 2, 512, 512)
_NAMED_DIMS = {"tiny": TINY, "official": OFFICIAL}

# Fixed architecture settings of CosyVoice3's vocoder (identical in tiny and official folders).
UPSAMPLE_RATES = (8, 5, 3)
UPSAMPLE_KERNELS = (16, 11, 7)
RESBLOCK_KERNELS = (3, 7, 11)
SOURCE_KERNELS = (7, 7, 11)
DILATIONS = (1, 3, 5)
N_FFT = 16
HARMONICS = 8


@dataclass(frozen=True)
class Spec:
    """One tensor of a state dict; `tied_to` names the tensor whose storage it shares."""

    name: str
    shape: tuple[int, ...]
    tied_to: str | None = None


def _llm_specs(d: Dims) -> list[Spec]:
    head = d.hidden // d.heads
    q, kv = d.heads * head, d.kv_heads * head
    specs = [Spec("llm.model.model.embed_tokens.weight", (TEXT_VOCAB, d.hidden))]
    for i in range(d.layers):
        p = f"llm.model.model.layers.{i}."
        for proj, rows in (("q", q), ("k", kv), ("v", kv)):
            specs += [
                Spec(f"{p}self_attn.{proj}_proj.weight", (rows, d.hidden)),
                Spec(f"{p}self_attn.{proj}_proj.bias", (rows,)),
            ]
        specs += [
            Spec(f"{p}self_attn.o_proj.weight", (d.hidden, q)),
            Spec(f"{p}mlp.gate_proj.weight", (d.intermediate, d.hidden)),
            Spec(f"{p}mlp.up_proj.weight", (d.intermediate, d.hidden)),
            Spec(f"{p}mlp.down_proj.weight", (d.hidden, d.intermediate)),
            Spec(f"{p}input_layernorm.weight", (d.hidden,)),
            Spec(f"{p}post_attention_layernorm.weight", (d.hidden,)),
        ]
    return [
        *specs,
        Spec("llm.model.model.norm.weight", (d.hidden,)),
        Spec("llm.model.lm_head.weight", (TEXT_VOCAB, d.hidden), specs[0].name),
        Spec("llm_decoder.weight", (SPEECH_ROWS, d.hidden)),
        Spec("speech_embedding.weight", (SPEECH_ROWS, d.hidden)),
    ]


def _linear(name: str, out: int, inp: int) -> list[Spec]:
    return [Spec(f"{name}.weight", (out, inp)), Spec(f"{name}.bias", (out,))]


def _flow_specs(d: Dims) -> list[Spec]:
    c, dim, inner = d.lookahead_channels, d.dit_dim, d.dit_heads * d.dit_dim_head
    e = "decoder.estimator."
    specs = [
        Spec("input_embedding.weight", (SPEECH_TOKENS, MEL)),
        *_linear("spk_embed_affine_layer", MEL, SPK),
        Spec("pre_lookahead_layer.conv1.weight", (c, MEL, 4)),
        Spec("pre_lookahead_layer.conv1.bias", (c,)),
        Spec("pre_lookahead_layer.conv2.weight", (MEL, c, 3)),
        Spec("pre_lookahead_layer.conv2.bias", (MEL,)),
        *_linear(f"{e}time_embed.time_mlp.0", dim, 256),
        *_linear(f"{e}time_embed.time_mlp.2", dim, dim),
        *_linear(f"{e}input_embed.proj", dim, 4 * MEL),  # x, cond, mu, speaker
    ]
    for conv in ("conv1", "conv2"):  # grouped (16 groups), kernel 31
        specs += [
            Spec(f"{e}input_embed.conv_pos_embed.{conv}.0.weight", (dim, dim // 16, 31)),
            Spec(f"{e}input_embed.conv_pos_embed.{conv}.0.bias", (dim,)),
        ]
    specs.append(Spec(f"{e}rotary_embed.inv_freq", (d.dit_dim_head // 2,)))
    for i in range(d.dit_depth):
        b = f"{e}transformer_blocks.{i}."
        specs += _linear(f"{b}attn_norm.linear", 6 * dim, dim)
        for proj in ("to_q", "to_k", "to_v"):
            specs += _linear(f"{b}attn.{proj}", inner, dim)
        specs += _linear(f"{b}attn.to_out.0", dim, inner)
        specs += _linear(f"{b}ff.ff.0.0", d.dit_ff_mult * dim, dim)
        specs += _linear(f"{b}ff.ff.2", dim, d.dit_ff_mult * dim)
    return specs + _linear(f"{e}norm_out.linear", 2 * dim, dim) + _linear(f"{e}proj_out", MEL, dim)


def _weight_norm(name: str, out: int, inp: int, kernel: int) -> list[Spec]:
    p = f"{name}.parametrizations.weight."
    return [
        Spec(f"{name}.bias", (out,)),
        Spec(f"{p}original0", (out, 1, 1)),
        Spec(f"{p}original1", (out, inp, kernel)),
    ]


def _resblock(name: str, ch: int, kernel: int) -> list[Spec]:
    specs: list[Spec] = []
    for convs in ("convs1", "convs2"):
        for j in range(len(DILATIONS)):
            specs += _weight_norm(f"{name}.{convs}.{j}", ch, ch, kernel)
    for acts in ("activations1", "activations2"):
        specs += [Spec(f"{name}.{acts}.{j}.alpha", (ch,)) for j in range(len(DILATIONS))]
    return specs


def _hift_specs(d: Dims) -> list[Spec]:
    base, stft = d.hift_channels, N_FFT + 2
    specs = [*_linear("m_source.l_linear", 1, HARMONICS + 1)]
    specs += _weight_norm("conv_pre", base, MEL, 5)
    for i, kernel in enumerate(UPSAMPLE_KERNELS):
        specs += _weight_norm(f"ups.{i}", base >> (i + 1), base >> i, kernel)
    for i in range(len(UPSAMPLE_RATES)):
        # Source i joins after upsampling stage i: stride = product of the later rates.
        stride = math.prod(UPSAMPLE_RATES[i + 1 :])
        kernel = 2 * stride if stride > 1 else 1
        specs += [
            Spec(f"source_downs.{i}.weight", (base >> (i + 1), stft, kernel)),
            Spec(f"source_downs.{i}.bias", (base >> (i + 1),)),
        ]
    for i, kernel in enumerate(SOURCE_KERNELS):
        specs += _resblock(f"source_resblocks.{i}", base >> (i + 1), kernel)
    for i in range(len(UPSAMPLE_RATES)):
        for j, kernel in enumerate(RESBLOCK_KERNELS):
            specs += _resblock(
                f"resblocks.{i * len(RESBLOCK_KERNELS) + j}", base >> (i + 1), kernel
            )
    specs += _weight_norm("conv_post", stft, base >> len(UPSAMPLE_RATES), 7)
    f0 = d.f0_channels
    for k in range(5):
        specs += _weight_norm(
            f"f0_predictor.condnet.{2 * k}", f0, MEL if k == 0 else f0, 4 if k == 0 else 3
        )
    return specs + _linear("f0_predictor.classifier", 1, f0)


def weight_shapes(dims: Dims) -> dict[str, list[Spec]]:
    """The tensors of llm.pt, flow.pt and hift.pt at `dims`, in upstream's state-dict order."""
    return {"llm.pt": _llm_specs(dims), "flow.pt": _flow_specs(dims), "hift.pt": _hift_specs(dims)}


_EMBEDDING = re.compile(r"(embed_tokens|speech_embedding|input_embedding)\.weight$")


def _tensor(spec: Spec, seed: int) -> torch.Tensor:
    """Random values of a plausible scale for `spec`, from a generator of its own."""
    import torch

    name, shape = spec.name, spec.shape
    if name.endswith("inv_freq"):  # a stored constant, not a learned weight
        dim = 2 * shape[0]
        return 1.0 / 10000 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    gen = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63)

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(shape, generator=gen).mul_(high - low).add_(low)

    if name.endswith(".alpha"):  # Snake frequencies stay away from zero
        return uniform(0.6, 1.4)
    if name.endswith("original0"):  # weight-norm gains are positive
        return uniform(0.2, 0.6)
    if name.endswith("bias"):
        return uniform(-0.1, 0.1)
    if len(shape) == 1:  # RMSNorm scales
        return torch.randn(shape, generator=gen).mul_(0.1).add_(1.0)
    if _EMBEDDING.search(name):
        return torch.randn(shape, generator=gen)
    bound = 1.0 / math.sqrt(math.prod(shape[1:]))
    return uniform(-bound, bound)


def _write_weights(dest: Path, dims: Dims, seed: int) -> None:
    import torch

    for file, specs in weight_shapes(dims).items():
        state: dict[str, torch.Tensor] = {}
        for spec in specs:
            state[spec.name] = state[spec.tied_to] if spec.tied_to else _tensor(spec, seed)
        torch.save(state, dest / file)
        del state  # one file's tensors in memory at a time (GBs at official dims)


def _yaml_text(d: Dims) -> str:
    return f"""# Random test model in the layout of Fun-CosyVoice3-0.5B-2512 (written by cosydesk).
__set_seed1: !apply:random.seed [1986]
__set_seed2: !apply:numpy.random.seed [1986]
__set_seed3: !apply:torch.manual_seed [1986]
__set_seed4: !apply:torch.cuda.manual_seed_all [1986]

sample_rate: 24000
llm_input_size: {d.hidden}
llm_output_size: {d.hidden}
spk_embed_dim: {SPK}
qwen_pretrain_path: ''
token_frame_rate: 25
token_mel_ratio: 2
chunk_size: 25
num_decoding_left_chunks: -1

llm: !new:cosyvoice.llm.llm.CosyVoice3LM
    llm_input_size: !ref <llm_input_size>
    llm_output_size: !ref <llm_output_size>
    speech_token_size: {SPEECH_TOKENS}
    length_normalized_loss: True
    lsm_weight: 0
    mix_ratio: [5, 15]
    llm: !new:cosyvoice.llm.llm.Qwen2Encoder
        pretrain_path: !ref <qwen_pretrain_path>
    sampling: !name:cosyvoice.utils.common.ras_sampling
        top_p: 0.8
        top_k: 25
        win_size: 10
        tau_r: 0.1

flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithDiT
    input_size: {MEL}
    output_size: {MEL}
    spk_embed_dim: !ref <spk_embed_dim>
    output_type: 'mel'
    vocab_size: {SPEECH_TOKENS}
    input_frame_rate: !ref <token_frame_rate>
    only_mask_loss: True
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    pre_lookahead_layer: !new:cosyvoice.transformer.upsample_encoder.PreLookaheadLayer
        in_channels: {MEL}
        channels: {d.lookahead_channels}
        pre_lookahead_len: 3
    decoder: !new:cosyvoice.flow.flow_matching.CausalConditionalCFM
        in_channels: {3 * MEL}
        n_spks: 1
        spk_emb_dim: {MEL}
        cfm_params: !new:omegaconf.DictConfig
            content:
                sigma_min: 1e-06
                solver: 'euler'
                t_scheduler: 'cosine'
                training_cfg_rate: 0.2
                inference_cfg_rate: 0.7
                reg_loss_type: 'l1'
        estimator: !new:cosyvoice.flow.DiT.dit.DiT
            dim: {d.dit_dim}
            depth: {d.dit_depth}
            heads: {d.dit_heads}
            dim_head: {d.dit_dim_head}
            ff_mult: {d.dit_ff_mult}
            mel_dim: {MEL}
            mu_dim: {MEL}
            spk_dim: {MEL}
            out_channels: {MEL}
            static_chunk_size: !ref <chunk_size> * <token_mel_ratio>
            num_decoding_left_chunks: !ref <num_decoding_left_chunks>

hift: !new:cosyvoice.hifigan.generator.CausalHiFTGenerator
    in_channels: {MEL}
    base_channels: {d.hift_channels}
    nb_harmonics: {HARMONICS}
    sampling_rate: !ref <sample_rate>
    nsf_alpha: 0.1
    nsf_sigma: 0.003
    nsf_voiced_threshold: 10
    upsample_rates: {list(UPSAMPLE_RATES)}
    upsample_kernel_sizes: {list(UPSAMPLE_KERNELS)}
    istft_params:
        n_fft: {N_FFT}
        hop_len: 4
    resblock_kernel_sizes: {list(RESBLOCK_KERNELS)}
    resblock_dilation_sizes: {[list(DILATIONS)] * 3}
    source_resblock_kernel_sizes: {list(SOURCE_KERNELS)}
    source_resblock_dilation_sizes: {[list(DILATIONS)] * 3}
    lrelu_slope: 0.1
    audio_limit: 0.99
    conv_pre_look_right: 4
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.CausalConvRNNF0Predictor
        num_class: 1
        in_channels: {MEL}
        cond_channels: {d.f0_channels}

get_tokenizer: !name:cosyvoice.tokenizer.tokenizer.get_qwen_tokenizer
    token_path: !ref <qwen_pretrain_path>
    skip_special_tokens: True
    version: cosyvoice3
allowed_special: 'all'
feat_extractor: !name:matcha.utils.audio.mel_spectrogram
    n_fft: 1920
    num_mels: {MEL}
    sampling_rate: !ref <sample_rate>
    hop_size: 480
    win_size: 1920
    fmin: 0
    fmax: null
    center: False
"""


def _qwen_files(d: Dims) -> dict[str, dict[str, Any]]:
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": REGULAR_TOKENS,
        "eos_token_id": REGULAR_TOKENS,
        "hidden_act": "silu",
        "hidden_size": d.hidden,
        "initializer_range": 0.02,
        "intermediate_size": d.intermediate,
        "max_position_embeddings": 32768,
        "max_window_layers": d.layers,
        "model_type": "qwen2",
        "num_attention_heads": d.heads,
        "num_hidden_layers": d.layers,
        "num_key_value_heads": d.kv_heads,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": TEXT_VOCAB,
    }
    generation = {"bos_token_id": REGULAR_TOKENS, "eos_token_id": REGULAR_TOKENS}
    special = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    tokenizer = {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(REGULAR_TOKENS + i): {"content": text, **special, "special": True}
            for i, text in enumerate(QWEN_SPECIALS)
        },
        "additional_special_tokens": list(QWEN_SPECIALS[1:]),
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": QWEN_SPECIALS[0],
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": QWEN_SPECIALS[0],
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    return {
        "config.json": config,
        "generation_config.json": generation,
        "tokenizer_config.json": tokenizer,
    }


def build_tiny_model(dest: Path, *, seed: int = 0, dims: str | Dims = "tiny") -> Path:
    """Write a complete random CosyVoice3 model folder at `dest` and return its path.

    `dims` is "tiny" (about 25 MB, for tests), "official" (the 0.5B shapes, about 3.5 GB, for
    GPU benchmarks) or a Dims. The result is a pure function of `dims` and `seed`. Existing files
    of the same names in `dest` are replaced.
    """
    if isinstance(dims, str) and dims not in _NAMED_DIMS:
        raise ValueError(f"dims must be one of {sorted(_NAMED_DIMS)} or a Dims, not {dims!r}")
    sizes = _NAMED_DIMS[dims] if isinstance(dims, str) else dims
    dest = Path(dest)
    blank_en = dest / "CosyVoice-BlankEN"
    blank_en.mkdir(parents=True, exist_ok=True)
    (dest / "cosyvoice3.yaml").write_text(_yaml_text(sizes), encoding="utf-8")
    for name, content in _qwen_files(sizes).items():
        (blank_en / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    write_tokenizer(blank_en)
    write_onnx_models(dest, seed)
    _write_weights(dest, sizes, seed)
    return dest
