"""Choosing the next speech token from the LM's scores, and trimming runs of silence afterwards.

A sampler is any callable `(logp, decoded) -> int`: `logp` is the score vector of one decode step
(log-probabilities over the whole speech vocabulary, already masked by the decode loop), `decoded`
the tokens produced so far. Samplers never modify `logp`. The repetition-aware sampler works on
whatever device `logp` lives on and synchronises with the host only to return the chosen id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from cosydesk.engine.errors import ModelFolderError

# FSQ codes that sound like silence or breath; upstream keeps at most five of them in a row.
SILENT_TOKENS = frozenset({1, 2, 28, 29, 55, 248, 494, 2241, 2242, 2322, 2323})
MAX_SILENT_RUN = 5


class Sampler(Protocol):
    """Picks one id from a 1-D score vector, given the ids decoded so far."""

    def __call__(self, logp: Tensor, decoded: Sequence[int] | Tensor) -> int: ...


class GreedySampler:
    """Always the highest-scoring id (the first one on ties); deterministic, used for parity."""

    def __call__(self, logp: Tensor, decoded: Sequence[int] | Tensor) -> int:
        return int(torch.argmax(logp).item())


@dataclass
class RandomSampler:
    """Draws from the full distribution softmax(logp)."""

    generator: torch.Generator | None = None

    def __call__(self, logp: Tensor, decoded: Sequence[int] | Tensor) -> int:
        probs = logp.float().softmax(dim=-1)
        return int(torch.multinomial(probs, 1, generator=self.generator).item())


@dataclass
class RasSampler:
    """Repetition-aware sampling (VALL-E 2), with upstream CosyVoice's rule and defaults.

    First a nucleus draw: the candidates are the most probable ids, taken in order while the
    probability mass of those before them is below `top_p`, and at most `top_k` of them. If the
    drawn id occurs at least `win_size * tau_r` times among the last `win_size` decoded ids, it is
    discarded and the id is drawn again from the whole distribution without it. `generator`, when
    given, must live on the same device as the scores; the draw is then reproducible.
    """

    top_p: float = 0.8
    top_k: int = 25
    win_size: int = 10
    tau_r: float = 0.1
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")
        if self.top_k < 1 or self.win_size < 1:
            raise ValueError("top_k and win_size must be at least 1")
        if self.tau_r <= 0.0:
            raise ValueError(f"tau_r must be positive, not {self.tau_r}")

    def __call__(self, logp: Tensor, decoded: Sequence[int] | Tensor) -> int:
        return int(self.draw(logp, decoded).item())

    def draw(self, logp: Tensor, decoded: Sequence[int] | Tensor) -> Tensor:
        """The chosen id as a 0-d int64 tensor on `logp`'s device, without a host round trip."""
        probs = logp.float().softmax(dim=-1)
        head, head_ids = probs.topk(min(self.top_k, probs.numel()))
        # Mass of the candidates ranked above each one, summed in rank order as upstream does.
        mass_before = torch.cat([head.new_zeros(1), head.cumsum(0)[:-1]])
        nucleus = torch.where(mass_before < self.top_p, head, torch.zeros_like(head))
        # gather, not indexing with a 0-d tensor: that would read the index back to the host.
        picked = head_ids.gather(0, torch.multinomial(nucleus, 1, generator=self.generator))

        recent = self._recent(decoded, logp.device)
        repeats = (recent == picked).sum()
        # Drawing the alternative unconditionally keeps the step free of data-dependent branches.
        others = probs.index_fill(0, picked, 0.0)
        alternative = torch.multinomial(others, 1, generator=self.generator)
        return torch.where(repeats >= self.win_size * self.tau_r, alternative, picked)[0]

    def _recent(self, decoded: Sequence[int] | Tensor, device: torch.device) -> Tensor:
        if isinstance(decoded, Tensor):
            return decoded.reshape(-1)[-self.win_size :].to(device=device, dtype=torch.long)
        return torch.tensor(list(decoded[-self.win_size :]), dtype=torch.long, device=device)


def from_config(llm_node: Any, generator: torch.Generator | None = None) -> Sampler:
    """The sampler that the model's yaml names under `llm: sampling:`, with its arguments.

    `llm_node` is `load_yaml(...)["llm"]`. Raises ModelFolderError for a sampler cosydesk does not
    know or arguments out of range.
    """
    node = llm_node.get("sampling") if hasattr(llm_node, "get") else None
    target = getattr(node, "target", "")
    name = target.rsplit(".", 1)[-1]
    kwargs = dict(getattr(node, "kwargs", {}) or {})
    try:
        if name == "ras_sampling":
            known = {"top_p", "top_k", "win_size", "tau_r"}
            unknown = sorted(set(kwargs) - known)
            if unknown:
                raise ValueError(f"unknown arguments {', '.join(unknown)}")
            return RasSampler(
                top_p=float(kwargs.get("top_p", 0.8)),
                top_k=int(kwargs.get("top_k", 25)),
                win_size=int(kwargs.get("win_size", 10)),
                tau_r=float(kwargs.get("tau_r", 0.1)),
                generator=generator,
            )
        if name == "random_sampling" and not kwargs:
            return RandomSampler(generator)
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(
            f"The model's cosyvoice3.yaml gives the speech-token sampler settings cosydesk cannot "
            f"use ({exc}). Restore the file from the original model download."
        ) from None
    raise ModelFolderError(
        f"The model's cosyvoice3.yaml asks for the speech-token sampler '{target or 'nothing'}', "
        "which cosydesk does not implement (it knows ras_sampling and random_sampling). Use the "
        "cosyvoice3.yaml of the official Fun-CosyVoice3-0.5B download."
    )


class SilentRunLimiter:
    """Streams tokens and drops silent ones beyond a run of `MAX_SILENT_RUN`.

    Different silent ids count towards the same run; any other id ends it. Dropped tokens still
    lengthen the run, so a long pause is cut to five tokens however long it was.
    """

    def __init__(self) -> None:
        self._run = 0

    def accept(self, token: int) -> bool:
        """True if `token` should be passed on to the flow stage."""
        if token in SILENT_TOKENS:
            self._run += 1
            return self._run <= MAX_SILENT_RUN
        self._run = 0
        return True


def limit_silent_tokens(tokens: Iterable[int]) -> list[int]:
    """`tokens` with every run of silent ids longer than five cut to its first five."""
    limiter = SilentRunLimiter()
    return [token for token in tokens if limiter.accept(token)]


class ForcedLengthSampler:
    """Greedy, but speaks exactly `n` tokens: stop ids are barred until then, then forced.

    For warm-up, benchmarks and tests, where a fixed amount of audio matters more than its
    content. Silent ids are never chosen (the flow would lose them). `calls` counts the steps.
    """

    def __init__(self, n: int, speech_token_size: int = 6561) -> None:
        self.n = n
        self.size = speech_token_size
        self.calls = 0

    def __call__(self, logp: Tensor, decoded: Sequence[int] | Tensor) -> int:
        self.calls += 1
        if len(decoded) >= self.n:
            return self.size + 1
        scores = logp[: self.size].clone()
        # Silent ids would be trimmed before the flow, leaving fewer than n tokens of audio.
        scores[list(SILENT_TOKENS)] = -torch.inf
        return int(torch.argmax(scores).item())
