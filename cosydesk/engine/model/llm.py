"""The CosyVoice3 LM: a Qwen2 trunk that turns text plus a voice prompt into speech tokens.

Module and parameter names follow the official `llm.pt` (`llm.model.model.*` is a transformers
Qwen2ForCausalLM, `speech_embedding`, `llm_decoder`), so the checkpoint loads strictly. Decoding
does not go through transformers' generation code: `prefill` and `step` drive the Qwen2 layers
directly over a preallocated key/value cache. A step has fixed tensor shapes, takes its token and
position as device tensors and never reads a value back to the host, so it can be captured in a
CUDA graph. The Qwen2 Linear layers are called as modules, so quantised replacements just work.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cosydesk.engine.errors import Cancelled, EngineError, ModelFolderError
from cosydesk.engine.model.qwen_trunk import (
    KVCache,
    build_qwen,
    concat_linears,
    gated_mlp,
    rms_norm,
    rope_theta,
    rope_type,
    rotate,
)
from cosydesk.engine.model.sampling import Sampler

END_OF_PROMPT_ID = 151646
"""`<|endofprompt|>`: CosyVoice3 was trained with it between instruction and transcript."""

EXTRA_SPEECH_IDS = 200
"""Rows of the speech embedding and decoder beyond the speech codes (markers and stop ids)."""

CACHE_BUCKET = 512
"""Cache capacity grows in multiples of this, so one capacity (and graph) serves many requests."""


def decode_length_limits(
    n_text_tokens: int, min_token_text_ratio: float, max_token_text_ratio: float
) -> tuple[int, int]:
    """(min_len, max_len) in speech tokens for a text of `n_text_tokens` (prompt text excluded).

    Upstream multiplies an int32 tensor by the ratio, i.e. in float32, then truncates; doing the
    same keeps the limits identical for ratios that are not exact in binary.
    """
    count = torch.tensor(n_text_tokens, dtype=torch.int32)
    return int(count * min_token_text_ratio), int(count * max_token_text_ratio)


class _QwenHolder(nn.Module):
    """Gives the Qwen2 model the `llm.model.` prefix that the official checkpoint uses."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model


class CosyVoice3LM(nn.Module):
    """Speech-token LM of CosyVoice3. Build with `from_config`, then load `llm.pt` strictly."""

    def __init__(self, qwen: Any, speech_token_size: int) -> None:
        super().__init__()
        config = qwen.config
        hidden = int(config.hidden_size)
        self.speech_token_size = speech_token_size
        self.sos = speech_token_size
        self.eos = speech_token_size + 1
        self.task_id = speech_token_size + 2
        self.fill = speech_token_size + 3
        self.vocab_size = speech_token_size + EXTRA_SPEECH_IDS

        self.llm = _QwenHolder(qwen)
        self.speech_embedding = nn.Embedding(self.vocab_size, hidden)
        self.llm_decoder = nn.Linear(hidden, self.vocab_size, bias=False)

        self.n_heads = int(config.num_attention_heads)
        self.n_kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(getattr(config, "head_dim", None) or hidden // self.n_heads)
        theta = float(rope_theta(config))
        steps = torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim
        # Kept off the module's buffers so that `.to(bfloat16)` cannot coarsen it.
        self._inv_freq = 1.0 / (theta**steps)
        self._cache: KVCache | None = None
        # Activation dtype of the trunk; None means that of the text table. Quantised modes set
        # it to their compute dtype (the table itself stays fp32 in CPU memory).
        self.trunk_dtype: torch.dtype | None = None
        self.use_cuda_graph = True
        self.graph_off_reason = ""
        self._graphed: Any = None
        # The prompt's keys and values (sos and the prompt text, the part of the prefix that is
        # the same for every part of a text and every text of a voice) stay in the cache's first
        # slots between requests: later requests with the same prompt text prefill only what
        # follows. None reuses them on a GPU only, so the CPU path computes exactly as before.
        self.reuse_prompt_state: bool | None = None
        self._cache_generation = 0  # counts cache allocations
        self._prompt_state: tuple[int, tuple[int, ...]] | None = None

    @classmethod
    def from_config(
        cls, llm_node: Any, qwen_config: dict[str, Any], *, init_weights: bool = True
    ) -> CosyVoice3LM:
        """Build the LM from the yaml's `llm` node and `CosyVoice-BlankEN/config.json`.

        No weights are read (the folder's model.safetensors is not the LM). With
        `init_weights=False` the parameters are left uninitialised, which saves seconds for the
        full model; load a complete state dict right after. Raises ModelFolderError when the two
        configurations do not fit together.
        """
        from transformers import Qwen2Config, Qwen2ForCausalLM

        kwargs = dict(getattr(llm_node, "kwargs", {}) or {})
        target = getattr(llm_node, "target", "")
        try:
            if target.rsplit(".", 1)[-1] != "CosyVoice3LM":
                raise ValueError(f"its llm is '{target}', not CosyVoice3LM")
            try:
                config = Qwen2Config.from_dict(dict(qwen_config))
            except Exception as exc:
                # transformers validates its config its own way, which changes between versions
                # (strict-dataclass errors, AttributeError for an unknown dtype name): all mean
                # that config.json holds a value it refuses.
                raise ValueError(f"transformers refuses config.json: {exc}") from None
            speech_token_size = int(kwargs["speech_token_size"])
            hidden = int(config.hidden_size)
            for key in ("llm_input_size", "llm_output_size"):
                if int(kwargs.get(key, hidden)) != hidden:
                    raise ValueError(
                        f"{key} {kwargs[key]} differs from Qwen2's hidden size {hidden}"
                    )
            if rope_type(config) != "default":
                raise ValueError(f"rotary scaling '{rope_type(config)}' is not supported")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFolderError(
                f"cosyvoice3.yaml and CosyVoice-BlankEN/config.json do not describe a CosyVoice3 "
                f"LM cosydesk can build ({exc}). Use the files of the official model download."
            ) from None
        return cls(build_qwen(Qwen2ForCausalLM, config, init_weights), speech_token_size).eval()

    @property
    def qwen(self) -> Any:
        """The transformers Qwen2ForCausalLM (its `.model` holds the layers quantisation swaps)."""
        return self.llm.model

    @property
    def device(self) -> torch.device:
        return self.speech_embedding.weight.device

    @property
    def compute_dtype(self) -> torch.dtype:
        """dtype of the activations in the Qwen2 trunk (by default that of its text table)."""
        return self.trunk_dtype or self.qwen.model.embed_tokens.weight.dtype

    @property
    def decode_path(self) -> str:
        """'cuda-graph' when decode steps replay a captured graph, else 'eager (why)'."""
        graphed = self._graphed
        if graphed is not None and graphed.usable and graphed.captures:
            return "cuda-graph"
        if graphed is not None and graphed.reason:
            return f"eager ({graphed.reason})"
        if not self.use_cuda_graph:
            return f"eager ({self.graph_off_reason or 'CUDA graphs turned off'})"
        return "eager"

    # -- inputs ---------------------------------------------------------------------------------

    @torch.inference_mode()
    def build_prefix(
        self, text_ids: Tensor, prompt_text_ids: Tensor, prompt_speech_token: Tensor
    ) -> Tensor:
        """[1, L, H] embeddings: sos, prompt text ++ text, task_id, prompt speech tokens.

        Text goes through Qwen2's embedding table; sos, task_id and speech tokens through the
        speech embedding. Inputs are [1, n] id tensors (the speech prompt may be empty).
        """
        device, dtype = self.device, self.compute_dtype
        table = self.qwen.model.embed_tokens
        # The text table may live in CPU memory (quantised modes keep it there): look up where
        # it is, then move the few rows to the trunk's device.
        ids = torch.cat([prompt_text_ids, text_ids], dim=1).to(table.weight.device)
        text = table(ids).to(device=device, dtype=dtype)
        sos = self.speech_embedding(torch.tensor([[self.sos]], device=device)).to(dtype)
        task = self.speech_embedding(torch.tensor([[self.task_id]], device=device)).to(dtype)
        speech = self.speech_embedding(prompt_speech_token.to(device)).to(dtype)
        return torch.cat([sos, text, task, speech], dim=1)

    # -- decoding with the static cache --------------------------------------------------------

    def reserve(self, capacity: int) -> None:
        """Make sure the cache holds at least `capacity` positions (rounded up to a bucket).

        The cache is reallocated when it is too small or the model moved to another device or
        dtype; a CUDA graph captured over `step` must be captured again after that.
        """
        cache = self._cache
        dtype, device = self.compute_dtype, self.device
        if (
            cache is not None
            and cache.capacity >= capacity
            and cache.cos.dtype == dtype
            and cache.cos.device == device
        ):
            return
        size = max(1, math.ceil(capacity / CACHE_BUCKET)) * CACHE_BUCKET
        shape = (1, self.n_kv_heads, size, self.head_dim)
        layers = len(self.qwen.model.layers)
        with torch.inference_mode():
            angles = torch.outer(torch.arange(size).float(), self._inv_freq)
            angles = torch.cat([angles, angles], dim=-1).to(device)
            self._cache_generation += 1
            self._cache = KVCache(
                keys=[torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)],
                values=[torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)],
                cos=angles.cos().to(dtype),
                sin=angles.sin().to(dtype),
                slots=torch.arange(size, device=device),
            )

    @torch.inference_mode()
    def prefill(self, prefix: Tensor, start: int = 0) -> Tensor:
        """Run the prefix from position `start` (forgetting later requests); [1, V] log-probs.

        Positions before `start` must already hold this prefix's keys and values in the cache.
        """
        return self._head(self._prefill_hidden(prefix, start))

    @torch.inference_mode()
    def step(self, token: Tensor, position: Tensor) -> Tensor:
        """Feed one speech token ([1, 1] int64) at `position` ([1] int64); [1, V] log-probs.

        Both tensors must be on the model's device; `position` counts every earlier input,
        prefix included. Shapes and control flow do not depend on the values.
        """
        return self._head(self._step_hidden(token, position))

    def _prefill_hidden(self, prefix: Tensor, start: int = 0) -> Tensor:
        length = prefix.shape[1]
        self.reserve(length)
        if start == 0:
            self._prompt_state = None  # slot 0 onwards is overwritten
        positions = torch.arange(start, length, device=self.device)
        hidden = self._trunk(prefix[:, start:].to(self.compute_dtype), positions, kv_len=length)
        return hidden[:, -1]

    def _step_hidden(self, token: Tensor, position: Tensor) -> Tensor:
        if self._cache is None:
            raise RuntimeError("step() before prefill()")
        embedded = self.speech_embedding(token).to(self.compute_dtype)
        hidden = self._trunk(embedded, position, kv_len=self._cache.capacity)
        return hidden[:, -1]

    def _head(self, hidden: Tensor) -> Tensor:
        logits = self.llm_decoder(hidden.to(self.llm_decoder.weight.dtype))
        return logits.float().log_softmax(dim=-1)

    def _trunk(self, x: Tensor, positions: Tensor, kv_len: int) -> Tensor:
        """Qwen2 layers over x [1, q, H] at `positions` [q]; attends to cache slots < kv_len."""
        cache = self._cache
        assert cache is not None
        cos, sin = cache.cos[positions], cache.sin[positions]
        # A query sees every slot up to its own position; later slots hold stale entries. Query
        # heads are folded onto their kv head (see _attention), so the mask repeats per group.
        visible = cache.slots[:kv_len].unsqueeze(0) <= positions.unsqueeze(1)
        visible = visible.repeat(self.n_heads // self.n_kv_heads, 1)
        model: Any = self.qwen.model
        for index, layer in enumerate(model.layers):
            attn_in = rms_norm(layer.input_layernorm, x)
            x = x + self._attention(index, layer.self_attn, attn_in, cos, sin, positions, visible)
            x = x + gated_mlp(layer.mlp, rms_norm(layer.post_attention_layernorm, x))
        return rms_norm(model.norm, x)

    def _attention(
        self,
        index: int,
        attn: Any,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        positions: Tensor,
        visible: Tensor,
    ) -> Tensor:
        cache = self._cache
        assert cache is not None
        batch, length, _ = x.shape
        heads, kv_heads, dim = self.n_heads, self.n_kv_heads, self.head_dim
        if hasattr(attn, "qkv_proj"):
            qk, v = attn.qkv_proj(x).split([(heads + kv_heads) * dim, kv_heads * dim], dim=-1)
        else:
            qk = torch.cat([attn.q_proj(x), attn.k_proj(x)], dim=-1)
            v = attn.v_proj(x)
        # Queries and keys are rotated together: half the kernels of rotating each.
        qk = rotate(qk.reshape(batch, length, heads + kv_heads, dim), cos[:, None], sin[:, None])
        q, k = qk.transpose(1, 2).split([heads, kv_heads], dim=1)
        v = v.reshape(batch, length, kv_heads, dim).transpose(1, 2)
        keys, values = cache.keys[index], cache.values[index]
        keys.index_copy_(2, positions, k.to(keys.dtype))
        values.index_copy_(2, positions, v.to(values.dtype))
        kv_len = visible.shape[-1]
        # Query head h reads kv head h // groups: fold each group of query heads onto its kv
        # head as extra query rows instead of repeating the cache.
        groups = heads // kv_heads
        q = q.to(keys.dtype).reshape(batch, kv_heads, groups * length, dim)
        out = F.scaled_dot_product_attention(
            q, keys[:, :, :kv_len], values[:, :, :kv_len], attn_mask=visible
        )
        out = out.reshape(batch, heads, length, dim).transpose(1, 2)
        return attn.o_proj(out.reshape(batch, length, heads * dim))

    def fuse_projections(self) -> None:
        """Merge each layer's q/k/v and gate/up Linear layers into one Linear each.

        The same arithmetic in fewer, larger matmuls: three projection matmuls per layer instead
        of five. Call it after the weights are loaded (state-dict names change) and before
        quantising (the merged layers are then quantised as wholes).
        """
        for layer in self.qwen.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            if not hasattr(attn, "qkv_proj"):
                attn.qkv_proj = concat_linears([attn.q_proj, attn.k_proj, attn.v_proj])
                del attn.q_proj, attn.k_proj, attn.v_proj
            if not hasattr(mlp, "gate_up_proj"):
                mlp.gate_up_proj = concat_linears([mlp.gate_proj, mlp.up_proj])
                del mlp.gate_proj, mlp.up_proj

    # -- whole requests -------------------------------------------------------------------------

    @torch.inference_mode()
    def teacher_force(self, prefix: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Prefill, then feed `targets` ([K] ids) one step at a time through the cache.

        Returns log-probs [K+1, V] and the final hidden states [K+1, H]: row 0 after the prefix,
        row k after feeding targets[k-1]. Nothing is masked.
        """
        ids = targets.reshape(-1).to(self.device)
        self.reserve(prefix.shape[1] + ids.numel())
        hidden = [self._prefill_hidden(prefix)]
        position = torch.tensor([prefix.shape[1]], device=self.device)
        for k in range(ids.numel()):
            hidden.append(self._step_hidden(ids[k].view(1, 1), position))
            position = position + 1
        stacked = torch.cat(hidden, dim=0)
        return self._head(stacked), stacked

    def generate(
        self,
        text_ids: Tensor,
        prompt_text_ids: Tensor,
        prompt_speech_token: Tensor,
        *,
        sampler: Sampler,
        min_token_text_ratio: float = 2,
        max_token_text_ratio: float = 20,
        cancel: threading.Event | None = None,
    ) -> Iterator[int]:
        """Yield speech tokens for `text_ids` spoken in the voice of the prompt, one at a time.

        Inputs are [1, n] id tensors. Lengths count only `text_ids`: at most
        `max_token_text_ratio` tokens per text token; before `min_token_text_ratio` per text
        token the sos id is barred (as upstream does; the real stop ids are not). Decoding ends
        when the sampler picks any id >= speech_token_size; that id is not yielded. Raises
        EngineError (at call time) if `<|endofprompt|>` is in neither text, Cancelled when
        `cancel` is set (checked before each token). One request at a time per model: a new
        request overwrites the cache that an unfinished iterator still relies on.
        """
        self._check_inputs(text_ids, prompt_text_ids, prompt_speech_token)
        min_len, max_len = decode_length_limits(
            text_ids.shape[1], min_token_text_ratio, max_token_text_ratio
        )
        prefix = self.build_prefix(text_ids, prompt_text_ids, prompt_speech_token)
        prompt = tuple(int(i) for i in prompt_text_ids[0].tolist())
        # Checks above run at call time; decoding runs as the caller iterates.
        return self._decode(prefix, sampler, min_len, max_len, cancel, prompt)

    def _decode(
        self,
        prefix: Tensor,
        sampler: Sampler,
        min_len: int,
        max_len: int,
        cancel: threading.Event | None,
        prompt: tuple[int, ...] = (),
    ) -> Iterator[int]:
        self.reserve(prefix.shape[1] + max_len)
        reuse = self.reuse_prompt_state
        if reuse is None:
            reuse = self.device.type == "cuda"
        state = (self._cache_generation, prompt)
        # sos and the prompt text come first in the prefix: 1 + len(prompt) positions.
        start = 1 + len(prompt) if reuse and prompt and self._prompt_state == state else 0
        barred = torch.zeros(self.vocab_size, dtype=torch.bool, device=self.device)
        barred[self.sos] = True
        position = prefix.shape[1]
        graphed = self._graph_runner()
        decoded: list[int] = []
        for i in range(max_len):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Speech generation was cancelled.")
            logp: Tensor | None
            if not decoded:
                logp = self.prefill(prefix, start)
                if reuse and prompt:
                    self._prompt_state = state
            else:
                logp = graphed(decoded[-1], position) if graphed is not None else None
                if logp is None:
                    token = torch.tensor([[decoded[-1]]], device=self.device)
                    logp = self.step(token, torch.tensor([position], device=self.device))
                position += 1
            scores = logp[0]
            if i < min_len:
                scores = scores.masked_fill(barred, -math.inf)
            chosen = sampler(scores, decoded)
            if chosen >= self.speech_token_size:
                return
            yield chosen
            decoded.append(chosen)

    def release_cuda_state(self) -> None:
        """Drop the KV cache and the captured decode graph; the next request rebuilds them."""
        if self._graphed is not None:
            self._graphed.release()
        self._graphed = None
        self._cache = None
        self._prompt_state = None

    def _graph_runner(self) -> Any:
        """The CUDA-graph step runner, made on first use; None on the CPU or when turned off."""
        if not self.use_cuda_graph or self.device.type != "cuda":
            return None
        if self._graphed is None:
            from cosydesk.engine.model.decode_graph import GraphedStep

            self._graphed = GraphedStep(self)
        return self._graphed if self._graphed.usable else None

    def _check_inputs(self, text_ids: Tensor, prompt_text_ids: Tensor, speech: Tensor) -> None:
        for name, ids in (("text", text_ids), ("prompt text", prompt_text_ids), ("voice", speech)):
            if ids.dim() != 2 or ids.shape[0] != 1:
                raise EngineError(
                    f"The {name} ids have shape {tuple(ids.shape)}; the LM takes one request as "
                    "a [1, n] tensor. This is a bug in the caller: please report it."
                )
        if not bool(
            (text_ids == END_OF_PROMPT_ID).any() | (prompt_text_ids == END_OF_PROMPT_ID).any()
        ):
            raise EngineError(
                "CosyVoice3 needs the marker <|endofprompt|> in the prompt text or the text (it "
                "separates the instruction from the words); none was found. Start the prompt "
                "text with an instruction such as 'You are a helpful assistant.<|endofprompt|>'."
            )
        if speech.numel() and not bool(((speech >= 0) & (speech < self.speech_token_size)).all()):
            raise EngineError(
                f"The voice prompt holds speech tokens outside 0..{self.speech_token_size - 1}; "
                "it was made by another speech tokenizer. Create the voice again from its clip."
            )
