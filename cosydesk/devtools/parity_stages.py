"""The per-model parity stages: each runs one engine module on a golden file's recorded inputs.

`ParityFixture` opens one fixture folder and builds what a stage needs on first use (tokenizer,
LM, flow, vocoder, prompt features, recorded noises). Each `stage_*` function takes the fixture and
the arrays of its golden file and returns our value for every golden name: outputs recomputed by
the engine, recorded inputs echoed back. Every size comes from the model folder or the goldens.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cosydesk.engine.folder.checkpoint import load_into
from cosydesk.engine.folder.modelfolder import ModelFolder, open_model_folder
from cosydesk.engine.model.flow import FlowModel
from cosydesk.engine.model.hift import HiFTGenerator
from cosydesk.engine.model.llm import CosyVoice3LM, decode_length_limits
from cosydesk.engine.model.nsf import NsfNoise
from cosydesk.engine.model.sampling import GreedySampler
from cosydesk.engine.prompt import audio_features as af
from cosydesk.engine.prompt.frontend import TOKENIZER_RATE, PromptFeatures, PromptFrontend
from cosydesk.engine.prompt.onnx_models import FBANK_BINS, WHISPER_BINS
from cosydesk.engine.text.textnorm import normalize
from cosydesk.engine.text.tokenizer import CosyTokenizer

Arrays = dict[str, np.ndarray]


class ParityFixture:
    """One fixture folder; the models and features are built on first use only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.golden_dir = root / "golden"
        self._golden: dict[str, Arrays] = {}

    def golden(self, name: str) -> Arrays:
        """The arrays of golden/<name>.npz ({} when the fixture has no such file)."""
        if name not in self._golden:
            path = self.golden_dir / f"{name}.npz"
            arrays: Arrays = {}
            if path.is_file():
                with np.load(path, allow_pickle=False) as data:
                    arrays = {key: data[key] for key in data.files}
            self._golden[name] = arrays
        return self._golden[name]

    def json(self, name: str) -> dict[str, Any]:
        """The content of golden/<name>.json ({} when absent)."""
        path = self.golden_dir / f"{name}.json"
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return data if isinstance(data, dict) else {}

    @cached_property
    def folder(self) -> ModelFolder:
        return open_model_folder(self.root / "model")

    @cached_property
    def tokenizer(self) -> CosyTokenizer:
        return CosyTokenizer.from_folder(self.folder.blank_en)

    @cached_property
    def lm(self) -> CosyVoice3LM:
        lm = CosyVoice3LM.from_config(
            self.folder.llm_node, self.folder.qwen_config, init_weights=False
        )
        load_into(lm, self.folder.llm_pt)
        return lm.eval()

    @cached_property
    def flow(self) -> FlowModel:
        flow = FlowModel.from_config(self.folder.flow_node)
        load_into(flow, self.folder.flow_pt)
        return flow.eval()

    @cached_property
    def hift(self) -> HiFTGenerator:
        hift = HiFTGenerator.from_config(self.folder.hift_node)
        load_into(hift, self.folder.hift_pt)
        hift.remove_weight_norm()  # as the engine runs it
        return hift.eval()

    @cached_property
    def frontend(self) -> PromptFrontend:
        folder = self.folder
        return PromptFrontend.from_model_dir(folder.root, folder.feat_params, folder.sample_rate)

    @cached_property
    def request(self) -> dict[str, Any]:
        """The end-to-end call: texts, prompt clip and speed (e2e.json)."""
        return self.json("e2e")

    @cached_property
    def prompt_wav(self) -> Path:
        return self.root / str(self.request.get("prompt_wav", "prompt.wav"))

    @cached_property
    def features(self) -> PromptFeatures:
        return self.frontend.extract(self.prompt_wav)

    @cached_property
    def segments(self) -> list[str]:
        return normalize(str(self.request["tts_text"]), self.tokenizer, split=True)

    @cached_property
    def prompt_text(self) -> str:
        parts = normalize(str(self.request["prompt_text"]), self.tokenizer, split=False)
        return parts[0] if parts else ""

    def ids(self, text: str) -> Tensor:
        """Token ids [1, n] of `text`, as the engine tokenises it."""
        return torch.tensor([self.tokenizer.encode(text)], dtype=torch.long)

    @cached_property
    def cfm_noise(self) -> Tensor | None:
        """The longest recorded prefix of upstream's CFM noise buffer, if any was recorded."""
        found = [self.golden("noise").get("cfm_noise"), self.golden("flow").get("offline_noise")]
        arrays = [a for a in found if a is not None]
        return torch.from_numpy(max(arrays, key=lambda a: a.shape[-1])) if arrays else None

    def noise_for(self, tokens: int) -> Tensor | None:
        """Recorded CFM noise when it covers `tokens` (prompt + target); else the built-in one."""
        noise = self.cfm_noise
        enough = noise is not None and noise.shape[-1] >= tokens * self.flow.token_mel_ratio
        return noise if enough else None

    @cached_property
    def nsf_noise(self) -> NsfNoise | None:
        noise = self.golden("noise")
        if "nsf_sine_noise" not in noise:
            return None
        rand_ini = noise.get("nsf_rand_ini", np.zeros((1, noise["nsf_sine_noise"].shape[-1])))
        return NsfNoise(torch.from_numpy(rand_ini), torch.from_numpy(noise["nsf_sine_noise"]))


@dataclass
class StageOutput:
    """What a stage produced: arrays under golden names, plus json-level values to compare."""

    arrays: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, tuple[object, object]] = field(default_factory=dict)

    def echo(self, golden: Arrays, *names: str) -> None:
        """Hand recorded inputs back unchanged, so that OUT holds every golden name."""
        for name in names:
            if name in golden:
                self.arrays[name] = golden[name]


def _ids_of(golden: Arrays, key: str) -> Tensor:
    return torch.from_numpy(golden[key]).reshape(1, -1)


# --------------------------------------------------------------------------- stages


def stage_tokens(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """Raw tokenisation of the tokens.json cases, their normalised splits, the special ids."""
    spec, tok, out = fx.json("tokens"), fx.tokenizer, StageOutput()
    cases = {int(case["index"]): case for case in spec.get("cases", [])}
    for name in golden:
        found = re.fullmatch(r"ids_(\d+)", name)
        if found and int(found.group(1)) in cases:
            out.arrays[name] = tok.encode(cases[int(found.group(1))]["text"])
    if "special_ids" in golden:
        out.arrays["special_ids"] = [_token_id(tok, s) for s in spec.get("special_ids_for", [])]
    if "tokenizer_len" in spec:
        out.texts["tokenizer_len"] = (len(tok), spec["tokenizer_len"])
    for index, case in sorted(cases.items()):
        if "normalized_split" in case:
            split = normalize(case["text"], tok, split=True)
            out.texts[f"normalized_split_{index:02d}"] = (split, case["normalized_split"])
            ids = [tok.encode(part) for part in split]
            out.texts[f"normalized_ids_{index:02d}"] = (ids, case.get("normalized_ids", ids))
    return out


def _token_id(tok: Any, text: str) -> int:
    try:
        return int(tok.token_id(text))
    except KeyError:
        return -1


def stage_frontend(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """Every feature of the prompt clip, and the zero-shot frontend's outputs for e2e.json."""
    wav, rate = af.read_audio(fx.prompt_wav)
    wav_model = af.resample(wav, rate, fx.folder.sample_rate)
    wav_16k = af.resample(wav, rate, TOKENIZER_RATE)
    fbank = af.kaldi_fbank(wav_16k, sample_rate=TOKENIZER_RATE, num_mel_bins=FBANK_BINS)
    logmel = af.whisper_log_mel(wav_16k, n_mels=WHISPER_BINS)
    feats, prompt, text = fx.features, fx.ids(fx.prompt_text), text_ids(fx)
    mel = fx.folder.feat_params
    out = StageOutput(
        {
            "wav_24k": wav_model,
            "wav_16k": wav_16k,
            "fbank": fbank,
            "campplus_input": (fbank - fbank.mean(dim=0, keepdim=True)).unsqueeze(0),
            "campplus_embedding": fx.frontend.speaker_embedding(wav_16k),
            "whisper_logmel": logmel,
            "whisper_logmel_len": [logmel.shape[-1]],
            "speech_token_raw": fx.frontend.speech_tokens(wav_16k),
            "speech_feat_raw": fx.frontend.speech_feat(wav_model),
            "matcha_mel_basis": af.slaney_mel_filters(
                int(mel["sampling_rate"]),
                int(mel["n_fft"]),
                int(mel["num_mels"]),
                float(mel.get("fmin") or 0.0),
                None if mel.get("fmax") is None else float(mel["fmax"]),
            ),
            "zs_prompt_text": prompt,
            "zs_prompt_text_len": [prompt.shape[1]],
            "zs_prompt_speech_feat": feats.speech_feat,
            "zs_prompt_speech_feat_len": [feats.speech_feat.shape[1]],
            "zs_llm_embedding": feats.embedding,
            "zs_flow_embedding": feats.embedding,
            "zs_text": text,
            "zs_text_len": [text.shape[1]],
        }
    )
    for use in ("llm", "flow"):
        out.arrays[f"zs_{use}_prompt_speech_token"] = feats.speech_token
        out.arrays[f"zs_{use}_prompt_speech_token_len"] = [feats.speech_token.shape[1]]
    if "whisper_mel_filters" in golden:
        # A reference bank: its width fixes the FFT size it was made for.
        n_fft = 2 * (golden["whisper_mel_filters"].shape[1] - 1)
        out.arrays["whisper_mel_filters"] = af.slaney_mel_filters(
            af.WHISPER_SAMPLE_RATE, n_fft, WHISPER_BINS
        )
    return out


def text_ids(fx: ParityFixture) -> Tensor:
    """Ids [1, n] of the normalised e2e text (its segments one after another)."""
    return torch.cat([fx.ids(part) for part in fx.segments], dim=1)


class _RecordingGreedy:
    """Greedy choice that keeps every score vector it was handed and every id it picked."""

    def __init__(self) -> None:
        self._greedy = GreedySampler()
        self.scores: list[Tensor] = []
        self.picks: list[int] = []

    def __call__(self, logp: Tensor, decoded: Any) -> int:
        self.scores.append(logp.detach().float().clone())
        self.picks.append(self._greedy(logp, decoded))
        return self.picks[-1]


def _length_limits(lm: Any, text_tokens: int) -> tuple[int, int]:
    """(min_len, max_len) with the ratios the engine's LM applies when none are passed."""
    params = inspect.signature(lm.generate).parameters
    ratios = (params["min_token_text_ratio"].default, params["max_token_text_ratio"].default)
    return decode_length_limits(text_tokens, *ratios)


def stage_llm(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """Prefix layout, teacher forcing and the greedy decoding cases of llm.npz."""
    lm, out = fx.lm, StageOutput()
    out.echo(golden, "text", "prompt_text", "prompt_speech_token", "llm_embedding_unused")
    out.echo(golden, "tf_target", *(k for k in golden if re.fullmatch(r"greedy\w+_text", k)))
    text, prompt = _ids_of(golden, "text"), _ids_of(golden, "prompt_text")
    speech = _ids_of(golden, "prompt_speech_token")
    prefix = lm.build_prefix(text, prompt, speech)
    segments = [1, prompt.shape[1], text.shape[1], 1, speech.shape[1]]
    speech_ids = speech.tolist()[0]
    out.arrays |= {
        "lm_input": prefix,
        "lm_input_ids": [lm.sos, *prompt.tolist()[0], *text.tolist()[0], lm.task_id, *speech_ids],
        "lm_input_table": [0] + [1] * (segments[1] + segments[2]) + [0] * (1 + segments[4]),
        "lm_input_segments": segments,
        "special_ids": [lm.sos, lm.eos, lm.task_id, lm.fill],
    }
    out.arrays["min_len"], out.arrays["max_len"] = _length_limits(lm, text.shape[1])
    if "tf_target" in golden:
        logp, hidden = lm.teacher_force(prefix, torch.from_numpy(golden["tf_target"]))
        out.arrays |= {"tf_logprobs": logp, "tf_hidden": hidden}
    for key in golden:
        case = re.fullmatch(r"greedy(\w+?)_text", key)
        if case is None:
            continue
        name = f"greedy{case.group(1)}"
        sampler = _RecordingGreedy()
        tokens = list(lm.generate(_ids_of(golden, key), prompt, speech, sampler=sampler))
        stopped = len(sampler.picks) > len(tokens)
        top = golden.get(f"{name}_top5_ids", np.zeros((0, 5)))
        scores = torch.stack(sampler.scores) if sampler.scores else torch.zeros(0, lm.vocab_size)
        top_scores, top_ids = scores.topk(min(top.shape[-1], scores.shape[-1]), dim=-1)
        out.arrays |= {
            f"{name}_ids": tokens,
            f"{name}_stop_id": sampler.picks[-1] if stopped else -1,
            f"{name}_top5_ids": top_ids,
            f"{name}_top5_scores": top_scores,
        }
        limits = _length_limits(lm, golden[key].size)
        out.arrays[f"{name}_min_len"], out.arrays[f"{name}_max_len"] = limits
    return out


# Settings of the three recorded flow calls, by golden prefix: (streaming, finalize).
_FLOW_CASES = {"offline": (False, True), "chunk": (True, False), "streamfinal": (True, True)}


def stage_flow(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """The recorded flow calls (offline, streaming chunk, streaming final) with their traces."""
    flow, out = fx.flow, StageOutput()
    out.echo(golden, "token", "prompt_token", "prompt_feat", "embedding", "n_timesteps")
    out.echo(golden, "stream_chunk_tokens")
    out.arrays["inference_cfg_rate"] = np.float32(flow.decoder.cfg_rate)
    out.arrays["static_chunk_size"] = flow.decoder.estimator.static_chunk_size
    token = torch.from_numpy(golden["token"])
    prompt = [torch.from_numpy(golden[k]) for k in ("prompt_token", "prompt_feat", "embedding")]
    options: dict[str, Any] = {}
    if "n_timesteps" in golden:
        options["n_timesteps"] = int(golden["n_timesteps"])
    for case, (streaming, finalize) in _FLOW_CASES.items():
        names = [k for k in golden if k.startswith(f"{case}_")]
        if not names:
            continue
        tokens = token[:, : int(golden["stream_chunk_tokens"])] if case == "chunk" else token
        trace: dict[str, Tensor] = {}
        noise = fx.noise_for(prompt[0].shape[1] + tokens.shape[1])
        trace["mel"] = flow.inference(
            tokens,
            *prompt,
            streaming=streaming,
            finalize=finalize,
            noise=noise,
            trace=trace,
            **options,
        )
        out.arrays.setdefault("spk_normed", trace["spk_normed"])
        out.arrays.setdefault("spk_proj", trace["spks"])
        for key in names:
            if key[len(case) + 1 :] in trace:
                out.arrays[key] = trace[key[len(case) + 1 :]]
    return out


def stage_hift(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """The vocoder on the recorded mel, final and streaming, with the recorded NSF noise."""
    hift, out = fx.hift, StageOutput()
    out.echo(golden, "mel", "stream_mel_frames")
    source = hift.m_source
    # The noise scales as our source applies them, in float32 like the waveform.
    out.arrays["nsf_noise_amp_voiced"] = np.float32(source.noise_std)
    out.arrays["nsf_noise_amp_unvoiced"] = np.float32(source.sine_amp / 3)
    mel = torch.from_numpy(golden["mel"])
    for mode, finalize in (("final", True), ("stream", False)):
        if not any(k.startswith(f"{mode}_") for k in golden):
            continue
        frames = mel.shape[-1] if finalize else int(golden["stream_mel_frames"])
        result = hift.run(mel[:, :, :frames], finalize=finalize, noise=fx.nsf_noise)
        out.arrays |= {
            f"{mode}_speech": result.speech,
            f"{mode}_f0": result.f0,
            f"{mode}_source": result.source,
            f"{mode}_uv": result.uv,
        }
    return out


def stage_noise(fx: ParityFixture, golden: Arrays) -> StageOutput:
    """Our built-in CFM noise buffer against upstream's; the NSF buffers are echoed."""
    out = StageOutput()
    # Upstream draws the NSF buffers from its global RNG mid-construction: not reproducible.
    out.echo(golden, "nsf_rand_ini", "nsf_sine_noise")
    if "cfm_noise" in golden:
        columns = golden["cfm_noise"].shape[-1]
        out.arrays["cfm_noise"] = fx.flow.decoder.noise(columns, torch.device("cpu"))
    return out
