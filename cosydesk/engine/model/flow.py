"""The flow-matching stage of CosyVoice3: speech tokens (25 Hz) -> mel spectrogram (50 Hz).

Tokens of the prompt and of the target are embedded, refined by a small look-ahead convolution,
repeated to the mel rate and used, with the speaker vector and the prompt mel, to condition a DiT.
An ODE from fixed noise to mel is integrated with Euler steps on a cosine time grid, each step
evaluating the DiT twice (with and without conditions) for classifier-free guidance.

Module and parameter names follow the official `flow.pt`, so its state dict loads with
`strict=True`. Everything here is numerically aligned with the reference implementation; the
parity tests hold it to that.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cosydesk.engine.errors import EngineError, ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged
from cosydesk.engine.model.dit import DiT

NOISE_SEED = 0
# The reference draws one noise buffer of this many mel frames (300 s at 50 Hz) and always
# starts the ODE from its first columns, so a given input renders the same mel every time.
NOISE_FRAMES = 15000
LEAKY_SLOPE = 0.01


class PreLookaheadLayer(nn.Module):
    """Token refinement that peeks `lookahead` tokens into the future, with a residual path."""

    def __init__(self, in_channels: int, channels: int, lookahead: int) -> None:
        super().__init__()
        self.lookahead = lookahead
        self.conv1 = nn.Conv1d(in_channels, channels, kernel_size=lookahead + 1)
        self.conv2 = nn.Conv1d(channels, in_channels, kernel_size=3)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x [B, L, C] -> [B, L, C]. `context` [B, <=lookahead, C] holds the real tokens after x;
        without it the future is zeros (the end of the utterance)."""
        h = x.transpose(1, 2)
        if context is not None and context.shape[1] > 0:
            h = torch.cat((h, context.transpose(1, 2)), dim=2)
            missing = self.lookahead - context.shape[1]
        else:
            missing = self.lookahead
        h = F.leaky_relu(self.conv1(F.pad(h, (0, missing))), LEAKY_SLOPE)
        h = self.conv2(F.pad(h, (self.conv2.kernel_size[0] - 1, 0)))
        return h.transpose(1, 2) + x


class CausalCFM(nn.Module):
    """Holds the estimator and integrates the guided flow ODE (the checkpoint's `decoder`)."""

    def __init__(self, estimator: DiT, cfg_rate: float, cosine_schedule: bool) -> None:
        super().__init__()
        self.estimator = estimator
        self.cfg_rate = cfg_rate
        self.cosine_schedule = cosine_schedule
        self._noise: Tensor | None = None

    def noise(self, frames: int, device: torch.device) -> Tensor:
        """The first `frames` columns of the fixed float32 noise buffer [1, 80, NOISE_FRAMES].

        It equals `torch.manual_seed(0); torch.randn(1, 80, 15000)` but comes from a private
        generator, so the caller's random state is left alone. Made once, on first use.
        """
        if self._noise is None or self._noise.device != device:
            if self._noise is None:
                generator = torch.Generator(device="cpu").manual_seed(NOISE_SEED)
                self._noise = torch.randn(1, 80, NOISE_FRAMES, generator=generator)
            self._noise = self._noise.to(device)
        return self._noise[:, :, :frames]

    def time_grid(self, steps: int, device: torch.device) -> Tensor:
        grid = torch.linspace(0, 1, steps + 1, device=device, dtype=torch.float32)
        if self.cosine_schedule:
            grid = 1 - torch.cos(grid * 0.5 * math.pi)
        return grid

    def forward(
        self,
        noise: Tensor,
        mu: Tensor,
        spks: Tensor,
        cond: Tensor,
        *,
        steps: int,
        streaming: bool,
        trace: dict[str, Tensor] | None = None,
    ) -> Tensor:
        """Euler-integrate from `noise` [1, 80, M] (float32) to a mel [1, 80, M] (float32).

        The state and time stay float32 whatever the estimator's dtype. No step reads a value
        back to the host, so the loop can be captured or compiled for fixed shapes.
        """
        grid = self.time_grid(steps, noise.device)
        # Row 0 is conditional, row 1 unconditional (no tokens, speaker or prompt mel).
        mu_pair = torch.cat((mu, torch.zeros_like(mu)))
        spks_pair = torch.cat((spks, torch.zeros_like(spks)))
        cond_pair = torch.cat((cond, torch.zeros_like(cond)))
        x = noise.float()
        t = grid[0:1]
        dt = grid[1] - grid[0]
        times, states = [], []
        for step in range(1, steps + 1):
            if trace is not None:
                times.append(t)
                states.append(x)
            v_pair = self.estimator(
                x.expand(2, -1, -1), None, mu_pair, t.expand(2), spks_pair, cond_pair, streaming
            ).float()
            if trace is not None and step == 1:
                trace["est0_out"] = v_pair
            v_cond, v_uncond = v_pair[0:1], v_pair[1:2]
            v = (1.0 + self.cfg_rate) * v_cond - self.cfg_rate * v_uncond
            x = x + dt * v
            # The reference accumulates t and derives each dt from it; kept for bit parity.
            t = t + dt
            if step < steps:
                dt = grid[step + 1] - t
        if trace is not None:
            trace["est_t"] = torch.cat(times)
            trace["euler_x"] = torch.cat(states)
        return x


class FlowModel(nn.Module):
    """CosyVoice3's token-to-mel model (`CausalMaskedDiffWithDiT` in the official yaml)."""

    def __init__(
        self,
        *,
        vocab_size: int,
        input_size: int,
        output_size: int,
        spk_embed_dim: int,
        token_mel_ratio: int,
        pre_lookahead_layer: PreLookaheadLayer,
        decoder: CausalCFM,
    ) -> None:
        super().__init__()
        # Set by `enable_cuda_graphs`; None runs the solver eagerly.
        self.graphed: Any = None
        self.token_mel_ratio = token_mel_ratio
        self.output_size = output_size
        self.input_embedding = nn.Embedding(vocab_size, input_size)
        self.spk_embed_affine_layer = nn.Linear(spk_embed_dim, output_size)
        self.pre_lookahead_layer = pre_lookahead_layer
        self.decoder = decoder

    @property
    def lookahead(self) -> int:
        """Tokens at the end of a non-final call that are context only and produce no mel."""
        return self.pre_lookahead_layer.lookahead

    @classmethod
    def from_config(cls, flow_node: Tagged) -> FlowModel:
        """Build an (untrained) flow model from `load_yaml(...)["flow"]`; load weights after."""
        if not isinstance(flow_node, Tagged) or flow_node.short_name != "CausalMaskedDiffWithDiT":
            found = flow_node.target if isinstance(flow_node, Tagged) else type(flow_node).__name__
            raise ModelFolderError(
                f"The flow model in cosyvoice3.yaml is '{found}', not CosyVoice3's "
                "CausalMaskedDiffWithDiT. Choose a Fun-CosyVoice3 model folder."
            )
        try:
            lookahead_node: Tagged = flow_node["pre_lookahead_layer"]
            decoder_node: Tagged = flow_node["decoder"]
            # cfm_params is an omegaconf.DictConfig node whose settings sit under `content`.
            cfm_node = decoder_node.get("cfm_params")
            cfm: dict[str, Any] = cfm_node.get("content", {}) if cfm_node is not None else {}
            lookahead = PreLookaheadLayer(
                int(lookahead_node["in_channels"]),
                int(lookahead_node["channels"]),
                int(flow_node.get("pre_lookahead_len", lookahead_node.get("pre_lookahead_len"))),
            )
            decoder = CausalCFM(
                DiT.from_config(decoder_node["estimator"]),
                cfg_rate=float(cfm.get("inference_cfg_rate", 0.7)),
                cosine_schedule=cfm.get("t_scheduler", "cosine") == "cosine",
            )
            return cls(
                vocab_size=int(flow_node["vocab_size"]),
                input_size=int(flow_node["input_size"]),
                output_size=int(flow_node["output_size"]),
                spk_embed_dim=int(flow_node["spk_embed_dim"]),
                token_mel_ratio=int(flow_node.get("token_mel_ratio", 2)),
                pre_lookahead_layer=lookahead,
                decoder=decoder,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFolderError(
                f"The flow settings in cosyvoice3.yaml are incomplete or malformed ({exc!r}). "
                "Download the model folder again."
            ) from None

    @torch.inference_mode()
    def enable_cuda_graphs(self, enabled: bool = True) -> None:
        """Replay the ODE solve from CUDA graphs, one per input shape (GPU only)."""
        from cosydesk.engine.model.flow_graph import GraphedSolver

        self.graphed = GraphedSolver(self.decoder) if enabled else None

    def inference(
        self,
        token: Tensor,
        prompt_token: Tensor,
        prompt_feat: Tensor,
        embedding: Tensor,
        *,
        streaming: bool,
        finalize: bool,
        noise: Tensor | None = None,
        n_timesteps: int = 10,
        trace: dict[str, Tensor] | None = None,
    ) -> Tensor:
        """Render target tokens [1, N] as a float32 mel [1, 80, 2 * N_out] (prompt frames cut).

        prompt_token [1, P] and prompt_feat [1, 2P, 80] are the voice prompt, embedding [1, 192]
        the speaker vector. With finalize=False the last `lookahead` tokens only inform the ones
        before them (N_out = N - lookahead); with finalize=True N_out = N. streaming=True limits
        attention to blocks of the estimator's chunk size, so earlier frames match later calls.
        `noise` [1, 80, >=M] replaces the fixed noise buffer (M = prompt + generated frames).
        `trace`, when given, is filled with the intermediate tensors that parity tests check.
        """
        dtype = self.spk_embed_affine_layer.weight.dtype
        device = self.spk_embed_affine_layer.weight.device
        tokens = torch.cat((prompt_token, token), dim=1).to(device)
        rendered = tokens.shape[1] - (0 if finalize else self.lookahead)
        frames = rendered * self.token_mel_ratio
        prompt_frames = prompt_feat.shape[1]
        if not finalize and token.shape[1] < self.lookahead:
            raise EngineError(
                f"A non-final flow call needs at least {self.lookahead} new speech tokens (it "
                f"got {token.shape[1]}): wait for more tokens or finish with finalize=True."
            )
        if frames > NOISE_FRAMES:
            raise EngineError(
                f"This sentence and its voice prompt need {frames} mel frames, more than the "
                f"{NOISE_FRAMES} (300 s) the model renders at once. Split the text into shorter "
                "sentences or use a shorter voice prompt."
            )
        if noise is None:
            noise = self.decoder.noise(frames, device)
        elif noise.shape[-1] < frames:
            raise EngineError(
                f"The noise given to the flow model covers {noise.shape[-1]} frames but "
                f"{frames} are needed: pass at least that many columns."
            )

        spk_normed = F.normalize(embedding.to(device=device, dtype=dtype), dim=1)
        spks = self.spk_embed_affine_layer(spk_normed)

        embedded = self.input_embedding(tokens.clamp(min=0))
        body, context = embedded[:, :rendered], embedded[:, rendered:]
        lookahead_out = self.pre_lookahead_layer(body, context)
        mu = lookahead_out.repeat_interleave(self.token_mel_ratio, dim=1).transpose(1, 2)

        cond = torch.zeros(1, self.output_size, frames, device=device, dtype=dtype)
        cond[:, :, :prompt_frames] = prompt_feat.to(device=device, dtype=dtype).transpose(1, 2)

        noise = noise[:, :, :frames].to(device)
        mel_full = None
        if self.graphed is not None and trace is None:
            mel_full = self.graphed(noise, mu, spks, cond, steps=n_timesteps, streaming=streaming)
        if mel_full is None:
            mel_full = self.decoder(
                noise,
                mu.contiguous(),
                spks,
                cond,
                steps=n_timesteps,
                streaming=streaming,
                trace=trace,
            )
        if trace is not None:
            trace.update(
                spk_normed=spk_normed,
                spks=spks,
                lookahead_in=body,
                lookahead_context=context,
                lookahead_out=lookahead_out,
                mu=mu,
                cond=cond,
                mask=torch.ones(1, 1, frames, device=device, dtype=dtype),
                noise=noise,
                cfm_out_full=mel_full,
            )
        return mel_full[:, :, prompt_frames:].float()
