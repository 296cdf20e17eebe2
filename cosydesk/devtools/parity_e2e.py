"""The end-to-end parity stages: the recorded zero-shot call through the engine's renderer.

The renderer (synthesis.SegmentRenderer) runs as it does in the engine, with greedy sampling.
Its three models are handed in wrapped ("taps"): the wrappers inject the recorded CFM and NSF
noise and keep what every LM, flow and vocoder call received and returned, which the golden files
of the end-to-end call record. Nothing in the renderer is changed for this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from cosydesk.devtools.parity_stages import Arrays, ParityFixture, StageOutput, text_ids
from cosydesk.engine.model.sampling import GreedySampler
from cosydesk.engine.model.synthesis import SegmentInput, SegmentRenderer


@dataclass
class _FlowCall:
    tokens: Tensor
    streaming: bool
    finalize: bool
    mel: Tensor
    mu: Tensor


@dataclass
class _VocoderCall:
    mel_frames: int
    finalize: bool
    speech: Tensor
    f0: Tensor
    source: Tensor


class _Tap:
    """Stands in for a model inside the renderer and passes anything it does not override."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _TapLM(_Tap):
    """Keeps every token the LM yields, before the silent-run limiter sees it."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.tokens: list[int] = []

    def generate(self, *args: Any, **kwargs: Any) -> Iterator[int]:
        for token in self.inner.generate(*args, **kwargs):
            self.tokens.append(token)
            yield token


class _TapFlow(_Tap):
    """Injects the recorded CFM noise and keeps each call's inputs and outputs."""

    def __init__(self, inner: Any, fx: ParityFixture) -> None:
        super().__init__(inner)
        self.fx = fx
        self.calls: list[_FlowCall] = []

    def inference(self, token: Tensor, prompt_token: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        recorded = self.fx.noise_for(prompt_token.shape[1] + token.shape[1])
        if recorded is not None:
            kwargs["noise"] = recorded
        trace = kwargs.pop("trace", None)
        trace = {} if trace is None else trace
        mel = self.inner.inference(token, prompt_token, *args, trace=trace, **kwargs)
        streaming, finalize = bool(kwargs["streaming"]), bool(kwargs["finalize"])
        self.calls.append(_FlowCall(token.cpu(), streaming, finalize, mel, trace["mu"]))
        return cast(Tensor, mel)


class _TapVocoder(_Tap):
    """Injects the recorded NSF noise and keeps each call's inputs and outputs."""

    def __init__(self, inner: Any, fx: ParityFixture) -> None:
        super().__init__(inner)
        self.fx = fx
        self.calls: list[_VocoderCall] = []

    def run(self, mel: Tensor, *, finalize: bool = True, noise: Any = None) -> Any:
        recorded = self.fx.nsf_noise
        result = self.inner.run(
            mel, finalize=finalize, noise=noise if recorded is None else recorded
        )
        call = _VocoderCall(mel.shape[-1], finalize, result.speech, result.f0, result.source)
        self.calls.append(call)
        return result

    def inference(self, mel: Tensor, *, finalize: bool = True, noise: Any = None) -> Tensor:
        return cast(Tensor, self.run(mel, finalize=finalize, noise=noise).speech)


@dataclass
class _Synthesis:
    chunks: list[Tensor]
    tokens: list[int]
    flow_calls: list[_FlowCall]
    vocoder_calls: list[_VocoderCall]


def _synthesize(fx: ParityFixture, stream: bool) -> _Synthesis:
    """The recorded zero-shot call through the engine's renderer, greedy, with recorded noise."""
    lm, flow, vocoder = _TapLM(fx.lm), _TapFlow(fx.flow, fx), _TapVocoder(fx.hift, fx)
    renderer = SegmentRenderer(
        cast(Any, lm),
        cast(Any, flow),
        cast(Any, vocoder),
        device=torch.device("cpu"),
        flow_dtype=torch.float32,
        sampler_factory=GreedySampler,
        token_mel_ratio=int(fx.folder.token_mel_ratio),
        pre_lookahead=int(fx.flow.lookahead),
        hop=int(fx.folder.chunk_size),
    )
    feats, prompt = fx.features, fx.ids(fx.prompt_text)
    speed = float(fx.request.get("speed", 1.0))
    chunks: list[Tensor] = []
    for part in fx.segments:
        segment = SegmentInput(
            text_ids=fx.ids(part),
            prompt_text_ids=prompt,
            llm_prompt_token=feats.speech_token,
            flow_prompt_token=feats.speech_token,
            prompt_feat=feats.speech_feat,
            embedding=feats.embedding,
        )
        chunks += [c.reshape(-1) for c in renderer.render(segment, stream=stream, speed=speed)]
    return _Synthesis(chunks, lm.tokens, flow.calls, vocoder.calls)


def _speech(run: _Synthesis) -> Tensor:
    return torch.cat(run.chunks).unsqueeze(0) if run.chunks else torch.zeros(1, 0)


def stage_e2e(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """The non-streaming call: frontend outputs, LM and flow tokens, flow, vocoder, waveform."""
    run, feats = _synthesize(fx, stream=False), fx.features
    flows, vocoders = run.flow_calls, run.vocoder_calls
    out = StageOutput(
        {
            "text": text_ids(fx),
            "prompt_text": fx.ids(fx.prompt_text),
            "prompt_speech_token": feats.speech_token,
            "prompt_speech_feat": feats.speech_feat,
            "embedding": feats.embedding,
            "llm_tokens": run.tokens,
            "speed": np.float32(fx.request.get("speed", 1.0)),
            "sample_rate": fx.folder.sample_rate,
            "tts_speech": _speech(run),
        }
    )
    if flows:  # an LM that stops at once leaves nothing to render
        out.arrays |= {
            "flow_tokens": torch.cat([c.tokens for c in flows], dim=1),
            "flow_mu": torch.cat([c.mu for c in flows], dim=-1),
            "mel": torch.cat([c.mel for c in flows], dim=-1),
            # Every call reads the noise buffer from its start.
            "cfm_noise_len": max(c.mu.shape[-1] for c in flows),
        }
    if vocoders:
        out.arrays |= {
            "f0": torch.cat([c.f0 for c in vocoders], dim=-1),
            "source": torch.cat([c.source for c in vocoders], dim=-1),
            "nsf_noise_len": max(c.source.shape[-1] for c in vocoders),
        }
    for key, ours in (("tts_text", fx.segments), ("prompt_text", fx.prompt_text)):
        ref = fx.request.get(f"{key}_normalized")
        if ref is not None:
            mine = "".join(ours) if isinstance(ref, str) and isinstance(ours, list) else ours
            out.texts[f"{key}_normalized"] = (mine, ref)
    return out


def stage_e2e_stream(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """The streaming call: chunk schedule, every flow and vocoder call, the chunks' waveform."""
    run = _synthesize(fx, stream=True)
    flows, vocoders = run.flow_calls, run.vocoder_calls
    out = StageOutput(
        {
            "chunk_samples": [c.numel() for c in run.chunks],
            "tts_speech": _speech(run),
            "llm_tokens": run.tokens,
            "flow_call_tokens": [c.tokens.shape[1] for c in flows],
            "flow_call_finalize": [int(c.finalize) for c in flows],
            "flow_call_streaming": [int(c.streaming) for c in flows],
            "flow_call_mel_frames": [c.mel.shape[-1] for c in flows],
            "hift_call_mel_frames": [c.mel_frames for c in vocoders],
            "hift_call_finalize": [int(c.finalize) for c in vocoders],
            "hift_call_speech_samples": [c.speech.shape[-1] for c in vocoders],
        }
    )
    for index, call in enumerate(flows):
        out.arrays[f"flow_call{index}_mel"] = call.mel
    return out
