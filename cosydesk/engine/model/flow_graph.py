"""The flow's whole ODE solve (10 guided DiT evaluations) captured in one CUDA graph per shape.

Streaming renders a voice's chunks at frame counts that repeat (prompt and hops are multiples of
25 tokens), so a handful of graphs serve every chunk of every request with that voice. A streaming
shape is recorded the first time it is seen (warm-up at load records the common ones) and kept in
a small least-recently-used table. The last chunk of each part, and whole renders, have lengths
that follow the text: recording one costs two or three eager solves, and most are never seen
again, so such a shape is recorded only when it comes a second time and solved eagerly before.
The CPU uses the eager solver.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)


class _Captured:
    def __init__(self, graph: torch.cuda.CUDAGraph, inputs: tuple[Tensor, ...], out: Tensor):
        self.graph = graph
        self.inputs = inputs
        self.out = out


class GraphedSolver:
    """Calls `cfm(noise, mu, spks, cond, steps=, streaming=)` through captured graphs."""

    def __init__(self, cfm: torch.nn.Module, max_graphs: int = 12) -> None:
        self.cfm = cfm
        self.max_graphs = max_graphs
        self.graphs: OrderedDict[tuple, _Captured] = OrderedDict()
        self.pool: Any = None
        self.reason = ""
        self.stream: torch.cuda.Stream | None = None  # one for all captures (see decode_graph)
        # Shapes of final (non-streaming) solves seen once and not recorded; bounded.
        self.seen_once: OrderedDict[tuple, None] = OrderedDict()
        self.captures = 0  # graphs recorded so far

    def release(self) -> None:
        """Drop every captured graph and their shared memory pool."""
        self.graphs.clear()
        self.seen_once.clear()
        self.pool = None

    def _capture(self, key: tuple, args: tuple[Tensor, ...], steps: int, streaming: bool):
        inputs = tuple(a.clone() for a in args)
        device = inputs[0].device
        if self.stream is None:
            self.stream = torch.cuda.Stream(device)
        side = self.stream
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            self.cfm(*inputs, steps=steps, streaming=streaming)
        torch.cuda.current_stream(device).wait_stream(side)
        # One memory pool for all graphs: their scratch memory overlaps, which is safe because
        # graphs replay one at a time and each output is cloned before the next replay.
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool, stream=side):
            out = self.cfm(*inputs, steps=steps, streaming=streaming)
        captured = _Captured(graph, inputs, out)
        self.captures += 1
        self.graphs[key] = captured
        while len(self.graphs) > self.max_graphs:
            self.graphs.popitem(last=False)
        return captured

    @torch.inference_mode()
    def __call__(
        self, noise: Tensor, mu: Tensor, spks: Tensor, cond: Tensor, *, steps: int, streaming: bool
    ) -> Tensor | None:
        """The solved mel (a fresh tensor), or None when this call must run eagerly."""
        if self.reason or noise.device.type != "cuda":
            return None
        args = (noise.contiguous(), mu.contiguous(), spks.contiguous(), cond.contiguous())
        key = (tuple(noise.shape), mu.dtype, steps, streaming)
        captured = self.graphs.get(key)
        if captured is None and not streaming and key not in self.seen_once:
            self.seen_once[key] = None
            while len(self.seen_once) > 64:
                self.seen_once.popitem(last=False)
            return None
        try:
            if captured is None:
                captured = self._capture(key, args, steps, streaming)
            else:
                self.graphs.move_to_end(key)
        except Exception as exc:  # capture fails in backend-specific ways
            self.reason = f"capture failed ({type(exc).__name__}: {exc})"
            log.warning("flow solver cannot be captured, staying eager: %s", exc)
            torch.cuda.synchronize()
            return None
        for static, value in zip(captured.inputs, args, strict=True):
            static.copy_(value)
        captured.graph.replay()
        return captured.out.clone()
