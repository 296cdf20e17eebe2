"""One LM decode step captured in a CUDA graph and replayed for every token.

An eager decode step of a 24-layer Qwen2 launches a few hundred small kernels, so the GPU spends
most of its time waiting for the CPU. The step of `CosyVoice3LM` has fixed shapes and reads its
token and position from device tensors, so it can be recorded once and replayed: one launch per
token. The graph is recorded again only when the KV cache is reallocated (it grows in buckets).
Where recording is impossible (CPU, LLM.int8 with an outlier threshold, which synchronises with
the host) the eager step is used and `reason` says why.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)


class GraphedStep:
    """Replays `llm.step(token, position)` from a CUDA graph; `None` result means use eager."""

    def __init__(self, llm: Any) -> None:
        # A weak reference: the LLM holds this runner, and a strong one back would make the
        # pair a reference cycle that only the garbage collector frees. The runner's graph pool
        # then stayed on the card after the engine let go of the model (12 MB on an H100).
        self._llm = weakref.ref(llm)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.cache_id: int | None = None
        self.token: Tensor | None = None
        self.position: Tensor | None = None
        self.out: Tensor | None = None
        self.reason = "" if llm.device.type == "cuda" else "CPU: CUDA graphs need a GPU"
        self.captures = 0
        # One side stream for every capture: each new stream gets its own cuBLAS workspace,
        # which torch keeps until the process ends (or the engine clears them at unload).
        self.stream = torch.cuda.Stream(llm.device) if not self.reason else None

    @property
    def llm(self) -> Any:
        llm = self._llm()
        if llm is None:
            raise RuntimeError("the LLM of this decode graph is gone")
        return llm

    def release(self) -> None:
        """Drop the captured graph and its static tensors (their memory returns at once)."""
        self.graph = self.token = self.position = self.out = None
        self.cache_id = None

    @property
    def usable(self) -> bool:
        return not self.reason

    def _capture(self, token: int, position: int) -> None:
        device = self.llm.device
        self.token = torch.full((1, 1), token, dtype=torch.long, device=device)
        self.position = torch.full((1,), position, dtype=torch.long, device=device)
        side = self.stream
        assert side is not None
        side.wait_stream(torch.cuda.current_stream(device))
        # Warm-up runs write the same cache slot the real step writes, so they are harmless.
        with torch.cuda.stream(side):
            for _ in range(2):
                self.llm.step(self.token, self.position)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side):
            self.out = self.llm.step(self.token, self.position)
        self.graph = graph
        self.cache_id = id(self.llm._cache)
        self.captures += 1

    @torch.inference_mode()
    def __call__(self, token: int, position: int) -> Tensor | None:
        """[1, V] log-probs of the step, valid until the next call; None when not graphable."""
        if not self.usable:
            return None
        if self.graph is None or self.cache_id != id(self.llm._cache):
            try:
                self._capture(token, position)
            except Exception as exc:  # capture fails in backend-specific ways
                self.reason = f"capture failed ({type(exc).__name__}: {exc})"
                log.warning("decode step cannot be captured, using the eager step: %s", exc)
                self.graph = None
                torch.cuda.synchronize()
                return None
        assert self.token is not None and self.position is not None
        self.token.fill_(token)
        self.position.fill_(position)
        assert self.graph is not None
        self.graph.replay()
        return self.out
