"""Prompt-audio frontend: from a voice clip to the three things the model conditions on.

For a reference clip, CosyVoice3 needs its speech tokens (LM prompt and flow prompt), its
24 kHz mel (flow prompt) and a speaker embedding. `PromptFrontend.extract` computes all three
the way upstream's zero-shot frontend does, including the 2:1 frame/token alignment, and
`PromptFeatures` stores them so a voice is analysed once and then cached on disk.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cosydesk.engine.errors import VoiceError
from cosydesk.engine.prompt import audio_features
from cosydesk.engine.prompt.onnx_models import (
    EMBEDDING_DIM,
    SPEAKER_ENCODER_FILE,
    SPEECH_TOKENIZER_FILE,
    SpeakerEncoder,
    SpeechTokenizer,
)

if TYPE_CHECKING:
    import torch

# The speech tokenizer was trained on clips of at most 30 s; upstream refuses longer ones.
MAX_PROMPT_SECONDS = 30.0
# Below this there is too little speech for a usable voice (and too few frames to align).
MIN_PROMPT_SECONDS = 0.5
# Upstream refuses to upsample prompts recorded below 16 kHz.
MIN_PROMPT_RATE = 16000
# A peak below -60 dBFS is silence for any practical recording.
SILENCE_PEAK = 1e-3

TOKENIZER_RATE = 16000
MEL_BINS = 80
_FORMAT_VERSION = 1
# The speech tokenizer's vocabulary and rate: a 30 s clip gives 750 tokens.
SPEECH_TOKENS = 6561
TOKENS_PER_SECOND = 25
MAX_PROMPT_TOKENS = int(MAX_PROMPT_SECONDS * TOKENS_PER_SECOND) + 1
# No array of a saved voice comes near this (its mel is 2 x 751 x 80 float32, 481 kB); a file
# that claims more is damaged and is refused before anything is read into memory.
_MAX_ARRAY_BYTES = 4 << 20


def _check_rate(sample_rate: int, name: str) -> None:
    if sample_rate < MIN_PROMPT_RATE:
        raise VoiceError(
            f"{name} is sampled at {sample_rate} Hz; voices need at least {MIN_PROMPT_RATE} Hz. "
            "Record or export it at 16 kHz or more."
        )


def _too_long(name: str, seconds: float | None) -> VoiceError:
    lasts = f"lasts {seconds:.1f} s" if seconds is not None else "lasts longer than its header says"
    return VoiceError(
        f"{name} {lasts}; voice clips may last at most {MAX_PROMPT_SECONDS:.0f} s. Trim it to a "
        "few sentences (5-15 s works best)."
    )


def check_clip(wav: torch.Tensor, sample_rate: int, name: str = "The voice clip") -> None:
    """Raise VoiceError unless mono [1, N] audio can serve as a voice prompt.

    Usable means: sampled at 16 kHz or more, between MIN_PROMPT_SECONDS and MAX_PROMPT_SECONDS
    long, finite (no NaN or infinite samples) and not silent. `name` starts each message (e.g.
    the file name).
    """
    _check_rate(sample_rate, name)
    samples = int(wav.shape[-1])
    if samples == 0:
        raise VoiceError(f"{name} holds no sound: record a few seconds of speech.")
    seconds = samples / sample_rate
    if seconds > MAX_PROMPT_SECONDS:
        raise _too_long(name, seconds)
    if seconds < MIN_PROMPT_SECONDS:
        raise VoiceError(
            f"{name} lasts only {seconds:.2f} s, too short to capture a voice: "
            "record a few seconds of speech."
        )
    if not bool(wav.isfinite().all()):
        # NaN compares false with everything, so it would pass the silence test below.
        raise VoiceError(
            f"{name} holds invalid samples (NaN or infinity), not sound: export it again as a "
            "plain WAV or FLAC recording."
        )
    if float(wav.abs().max()) < SILENCE_PEAK:
        raise VoiceError(f"{name} is silent: record it again with the microphone switched on.")


def read_prompt_clip(path: str | Path) -> tuple[torch.Tensor, int]:
    """Read a voice clip as mono float32 [1, N] at its own rate, after `check_clip` passed.

    No more than MAX_PROMPT_SECONDS of the file is decoded, so a long file costs no more
    memory than a clip that is just short enough.
    """
    name = f"The voice clip {Path(path).name}"
    try:
        wav, sample_rate = audio_features.read_audio(path, max_seconds=MAX_PROMPT_SECONDS)
    except audio_features.AudioTooLong as long:
        _check_rate(long.sample_rate, name)  # judged first, as check_clip does
        raise _too_long(name, long.seconds) from None
    check_clip(wav, sample_rate, name=name)
    return wav, sample_rate


@dataclass
class PromptFeatures:
    """What the model needs from a voice clip, aligned so that speech_feat has 2 frames per token.

    speech_token: int64 [1, n]; speech_feat: float32 [1, 2n, 80] (24 kHz log-mel, frames first);
    embedding: float32 [1, 192] (speaker embedding).
    """

    speech_token: torch.Tensor
    speech_feat: torch.Tensor
    embedding: torch.Tensor

    def to(self, device: str | torch.device) -> PromptFeatures:
        """The same features on `device`."""
        return PromptFeatures(
            self.speech_token.to(device), self.speech_feat.to(device), self.embedding.to(device)
        )

    def save(self, path: str | Path) -> None:
        """Write the features to an .npz file (plain arrays), replacing it atomically."""
        path = Path(path)
        arrays = {
            "format_version": np.array(_FORMAT_VERSION, dtype=np.int64),
            "speech_token": self.speech_token.detach().cpu().numpy().astype(np.int64),
            "speech_feat": self.speech_feat.detach().cpu().numpy().astype(np.float32),
            "embedding": self.embedding.detach().cpu().numpy().astype(np.float32),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> PromptFeatures:
        """Read features written by `save`; VoiceError when the file is missing or damaged.

        Damaged includes values no clip can give: shapes that do not fit together, more tokens
        than a 30 s clip has, ids outside the speech vocabulary, NaN or infinite numbers.
        """
        import torch

        path = Path(path)
        damaged = (
            f"The saved voice features {path} are damaged or from another version: "
            "add the voice again from its audio clip."
        )
        try:
            # Opened here so the handle is closed even when numpy rejects the content.
            with open(path, "rb") as handle:
                data = np.load(handle, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise VoiceError(damaged)
                with data:
                    members = data.zip.infolist() if data.zip is not None else []
                    if any(member.file_size > _MAX_ARRAY_BYTES for member in members):
                        raise VoiceError(damaged)
                    arrays = {key: np.array(data[key]) for key in data.files}
        except FileNotFoundError as exc:
            raise VoiceError(
                f"The saved voice features {path} are missing: add the voice again."
            ) from exc
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise VoiceError(damaged) from exc
        try:
            version = int(arrays["format_version"])
            token, feat, embedding = (
                arrays[k] for k in ("speech_token", "speech_feat", "embedding")
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VoiceError(damaged) from exc
        consistent = (
            version == _FORMAT_VERSION
            and token.ndim == 2
            and token.shape[0] == 1
            and 0 < token.shape[1] <= MAX_PROMPT_TOKENS
            and np.issubdtype(token.dtype, np.integer)
            and feat.shape == (1, 2 * token.shape[1], MEL_BINS)
            and embedding.shape == (1, EMBEDDING_DIM)
            and np.issubdtype(feat.dtype, np.floating)
            and np.issubdtype(embedding.dtype, np.floating)
        )
        # Values too: an id outside the speech vocabulary or a NaN would fail every request.
        if not (
            consistent
            and int(token.min()) >= 0
            and int(token.max()) < SPEECH_TOKENS
            and bool(np.isfinite(feat).all())
            and bool(np.isfinite(embedding).all())
        ):
            raise VoiceError(damaged)
        return cls(
            torch.from_numpy(token.astype(np.int64)),
            torch.from_numpy(feat.astype(np.float32)),
            torch.from_numpy(embedding.astype(np.float32)),
        )


class PromptFrontend:
    """Turns a voice clip into `PromptFeatures` exactly as upstream's zero-shot frontend does.

    `feat_params` are the yaml `feat_extractor` arguments (a mapping, or the yaml's tagged node);
    `sample_rate` is the model's output rate (24000 for CosyVoice3).
    """

    def __init__(
        self,
        speaker_encoder: SpeakerEncoder,
        speech_tokenizer: SpeechTokenizer,
        feat_params: Mapping[str, Any] | Any,
        sample_rate: int = 24000,
        token_mel_ratio: int = 2,
    ) -> None:
        self.speaker_encoder = speaker_encoder
        self.speech_tokenizer = speech_tokenizer
        self.feat_params = dict(getattr(feat_params, "kwargs", feat_params))
        self.sample_rate = int(sample_rate)
        self.token_mel_ratio = int(token_mel_ratio)

    @classmethod
    def from_model_dir(
        cls,
        model_dir: str | Path,
        feat_params: Mapping[str, Any] | Any,
        sample_rate: int = 24000,
        device: str = "cpu",
    ) -> PromptFrontend:
        """A frontend using the model folder's campplus.onnx and speech_tokenizer_v3.onnx."""
        model_dir = Path(model_dir)
        return cls(
            SpeakerEncoder(model_dir / SPEAKER_ENCODER_FILE, device),
            SpeechTokenizer(model_dir / SPEECH_TOKENIZER_FILE, device),
            feat_params,
            sample_rate,
        )

    def speech_tokens(self, wav_16k: torch.Tensor) -> torch.Tensor:
        """Unaligned speech tokens int64 [1, n] of 16 kHz mono [1, N] audio."""
        import torch

        logmel = audio_features.whisper_log_mel(wav_16k, n_mels=128)
        return torch.from_numpy(self.speech_tokenizer.tokenize(logmel.detach().cpu().numpy()))

    def speaker_embedding(self, wav_16k: torch.Tensor) -> torch.Tensor:
        """Speaker embedding float32 [1, 192] of 16 kHz mono [1, N] audio."""
        import torch

        fbank = audio_features.kaldi_fbank(wav_16k, sample_rate=TOKENIZER_RATE, num_mel_bins=80)
        # The speaker network expects each mel bin centred over the clip.
        centred = (fbank - fbank.mean(dim=0, keepdim=True)).unsqueeze(0)
        return torch.from_numpy(self.speaker_encoder.embed(centred.detach().cpu().numpy()))

    def speech_feat(self, wav: torch.Tensor) -> torch.Tensor:
        """Unaligned log-mel float32 [1, frames, 80] of mono [1, N] audio at the model rate."""
        mel = audio_features.mel_spectrogram(wav, **self.feat_params)
        return mel.squeeze(0).transpose(0, 1).unsqueeze(0).contiguous()

    def extract(
        self, source: str | Path | torch.Tensor, sample_rate: int | None = None
    ) -> PromptFeatures:
        """Features of a voice clip: a file path, or mono [1, N] audio at `sample_rate` Hz
        (default: the model rate).

        Raises VoiceError when the clip is unreadable, silent, too short or longer than 30 s.
        Tokens and mel are cut to n = min(mel frames // 2, tokens) tokens and 2n frames.
        """
        if isinstance(source, (str, Path)):
            wav, rate = read_prompt_clip(source)
        else:
            wav = source.reshape(1, -1) if source.dim() == 1 else source
            if wav.shape[0] != 1:
                wav = wav.mean(dim=0, keepdim=True)
            rate = self.sample_rate if sample_rate is None else int(sample_rate)
            check_clip(wav, rate)
        # Both rates come straight from the clip's own rate, never one from the other.
        wav_16k = audio_features.resample(wav, rate, TOKENIZER_RATE)
        wav_model = audio_features.resample(wav, rate, self.sample_rate)
        feat = self.speech_feat(wav_model)
        token = self.speech_tokens(wav_16k)
        embedding = self.speaker_embedding(wav_16k)
        n = min(feat.shape[1] // self.token_mel_ratio, token.shape[1])
        if n == 0:
            raise VoiceError("The voice clip is too short to analyse: record a few seconds.")
        if not (bool(feat.isfinite().all()) and bool(embedding.isfinite().all())):
            # Samples of absurd size (1e18 and more: a damaged float file) overflow the
            # spectra; a voice stored with such features would fail every request.
            raise VoiceError(
                "The voice clip cannot be analysed: its samples are far beyond full scale, so it "
                "is damaged or not a recording. Export it again as a plain WAV or FLAC recording."
            )
        return PromptFeatures(
            speech_token=token[:, :n].contiguous(),
            speech_feat=feat[:, : self.token_mel_ratio * n].contiguous(),
            embedding=embedding,
        )
