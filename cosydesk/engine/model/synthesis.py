"""Turn one text segment plus a voice into audio: LLM tokens -> flow mel -> vocoder waveform.

Non-streaming renders all tokens at once. Streaming follows the CosyVoice3 schedule, so that the
first chunk comes as soon as the first hop of tokens (plus lookahead) exists: the first hop is 25
tokens plus the padding that rounds the prompt up to a multiple of 25, later hops double up to 100;
every flow call re-renders all tokens so far with the chunk attention mask and keeps only the mel
past the previous offset; the vocoder re-runs on the accumulated mel and only new samples leave.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from cosydesk.engine.errors import Cancelled
from cosydesk.engine.model.sampling import SilentRunLimiter

log = logging.getLogger(__name__)

SYSTEM_PROMPT = "You are a helpful assistant."
END_OF_PROMPT = "<|endofprompt|>"


@dataclass
class SegmentInput:
    """Everything the three models need for one segment, as tensors on the CPU."""

    text_ids: torch.Tensor  # [1, T] int64, the text to speak
    prompt_text_ids: torch.Tensor  # [1, P] int64, system prompt / instruction / transcript
    llm_prompt_token: torch.Tensor  # [1, Q] int64, may be empty (cross-lingual, instruct)
    flow_prompt_token: torch.Tensor  # [1, N] int64
    prompt_feat: torch.Tensor  # [1, 2N, 80]
    embedding: torch.Tensor  # [1, 192]


def prompt_text_for(mode: str, transcript: str, instruct: str | None) -> str:
    """The LLM's prompt text for a mode: zero-shot, cross-lingual or instruct."""
    if mode == "instruct":
        instruction = (instruct or "").strip()
        if END_OF_PROMPT in instruction:
            return instruction
        return f"{SYSTEM_PROMPT} {instruction}{END_OF_PROMPT}"
    if mode == "cross-lingual":
        return f"{SYSTEM_PROMPT}{END_OF_PROMPT}"
    if END_OF_PROMPT in transcript:
        return transcript
    return f"{SYSTEM_PROMPT}{END_OF_PROMPT}{transcript}"


class SegmentRenderer:
    """Runs the three models for one segment on their device and precision."""

    def __init__(
        self,
        llm: Any,
        flow: Any,
        hift: Any,
        *,
        device: torch.device,
        flow_dtype: torch.dtype,
        sampler_factory,
        token_mel_ratio: int = 2,
        pre_lookahead: int = 3,
        hop: int = 25,
        max_hop: int = 100,
    ) -> None:
        self.llm = llm
        self.flow = flow
        self.hift = hift
        self.device = device
        self.flow_dtype = flow_dtype
        self.sampler_factory = sampler_factory
        self.ratio = token_mel_ratio
        self.lookahead = pre_lookahead
        self.hop = hop
        self.max_hop = max_hop
        self.nan_fallbacks = 0

    # -- stages -----------------------------------------------------------------------------
    def tokens(self, seg: SegmentInput, cancel: threading.Event | None) -> Iterator[int]:
        """Speech tokens for the flow (silent runs limited), as the LLM decodes them."""
        limiter = SilentRunLimiter()
        for token in self.llm.generate(
            seg.text_ids.to(self.device),
            seg.prompt_text_ids.to(self.device),
            seg.llm_prompt_token.to(self.device),
            sampler=self.sampler_factory(),
            cancel=cancel,
        ):
            if limiter.accept(token):
                yield token

    @torch.inference_mode()
    def mel(self, seg: SegmentInput, tokens: list[int], *, streaming: bool, finalize: bool):
        token = torch.tensor([tokens], dtype=torch.long, device=self.device)
        return self.flow.inference(
            token,
            seg.flow_prompt_token.to(self.device),
            seg.prompt_feat.to(self.device, self.flow_dtype),
            seg.embedding.to(self.device, self.flow_dtype),
            streaming=streaming,
            finalize=finalize,
        )

    @torch.inference_mode()
    def wave(self, mel: torch.Tensor, *, finalize: bool) -> torch.Tensor:
        return self.hift.inference(mel, finalize=finalize)

    def _guarded(self, fn, *args, **kwargs) -> torch.Tensor:
        """Run `fn`; in half precision, fall back to fp32 for good if it produced NaN/inf."""
        out = fn(*args, **kwargs)
        if self.flow_dtype == torch.float16 and not bool(torch.isfinite(out).all()):
            log.warning("fp16 produced NaN or inf; switching flow and vocoder to fp32")
            self.flow.float()
            self.hift.float()
            self.flow_dtype = torch.float32
            self.nan_fallbacks += 1
            out = fn(*args, **kwargs)
        return out

    # -- whole segment ----------------------------------------------------------------------
    def render(
        self,
        seg: SegmentInput,
        *,
        stream: bool,
        speed: float = 1.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield float32 CPU waveform chunks [samples] for the segment."""
        # Inference mode is entered per stage, never across a yield: the caller's code between
        # chunks must run in its own grad mode.
        if stream and speed == 1.0:
            yield from self._render_stream(seg, cancel)
        else:
            yield self._render_whole(seg, speed, cancel)

    @torch.inference_mode()
    def _render_whole(self, seg, speed, cancel) -> torch.Tensor:
        tokens = list(self.tokens(seg, cancel))
        if not tokens:
            return torch.zeros(0)
        _check(cancel)
        mel = self._guarded(self.mel, seg, tokens, streaming=False, finalize=True)
        if speed != 1.0:
            frames = max(1, int(mel.shape[2] / speed))
            mel = F.interpolate(mel, size=frames, mode="linear")
        _check(cancel)
        speech = self._guarded(self.wave, mel, finalize=True)
        return speech[0].float().cpu()

    def _render_stream(self, seg, cancel) -> Iterator[torch.Tensor]:
        prompt_len = seg.flow_prompt_token.shape[1]
        pad = -prompt_len % self.hop
        hop, offset, emitted = self.hop, 0, 0
        acc_mel: torch.Tensor | None = None
        tokens: list[int] = []

        def emit(upto: int, finalize: bool) -> torch.Tensor:
            nonlocal acc_mel, emitted
            part = self._guarded(
                self.mel, seg, tokens[:upto], streaming=not finalize, finalize=finalize
            )
            part = part[:, :, offset * self.ratio :]
            acc_mel = part if acc_mel is None else torch.cat([acc_mel, part], dim=2)
            speech = self._guarded(self.wave, acc_mel, finalize=finalize)[0]
            new = speech[emitted:]
            emitted += new.shape[0]
            return new.float().cpu()

        for token in self.tokens(seg, cancel):
            tokens.append(token)
            this_hop = hop + pad if offset == 0 else hop
            if len(tokens) - offset >= this_hop + self.lookahead:
                chunk = emit(offset + this_hop + self.lookahead, finalize=False)
                offset += this_hop
                hop = min(self.max_hop, hop * 2)
                yield chunk
                _check(cancel)
        if tokens:
            yield emit(len(tokens), finalize=True)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Stopped.")
