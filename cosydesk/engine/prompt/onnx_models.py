"""The two ONNX networks of a CosyVoice3 model folder: speaker encoder and speech tokenizer.

`campplus.onnx` turns a prompt's Kaldi fbank into a 192-dim speaker embedding;
`speech_tokenizer_v3.onnx` turns its Whisper log-mel into 25 Hz speech tokens. Both are fed by
input position, not by name, so renamed inputs in a re-exported file still work. onnxruntime is
imported only when a model is opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cosydesk.engine.errors import ModelFolderError

SPEAKER_ENCODER_FILE = "campplus.onnx"
SPEECH_TOKENIZER_FILE = "speech_tokenizer_v3.onnx"

EMBEDDING_DIM = 192
FBANK_BINS = 80
WHISPER_BINS = 128


def default_threads() -> int:
    """Intra-op threads for a session: half the cores, at most 4 (the LLM needs the rest)."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _providers(device: str) -> list[str]:
    import onnxruntime

    if device.startswith("cuda") and "CUDAExecutionProvider" in (
        onnxruntime.get_available_providers()
    ):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(path: Path, device: str = "cpu", threads: int | None = None) -> Any:
    """An onnxruntime InferenceSession for `path`.

    Raises ModelFolderError naming the file when it is missing or onnxruntime cannot load it.
    """
    import onnxruntime

    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(
            f"The model folder lacks {path.name} (looked for {path}): "
            "choose the folder that holds cosyvoice3.yaml, or download the model again."
        )
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    # onnxruntime prints its own warnings to stderr; keep only errors out of the user's console.
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=_providers(device)
        )
    except Exception as exc:  # onnxruntime raises its own, unexported exception types
        raise ModelFolderError(
            f"{path.name} in the model folder is damaged or not an ONNX model ({exc}). "
            "Download the model folder again."
        ) from exc


def _check_inputs(session: Any, path: Path, expected: int) -> list[str]:
    names = [node.name for node in session.get_inputs()]
    if len(names) != expected:
        raise ModelFolderError(
            f"{path.name} takes {len(names)} input(s) where {expected} were expected: it does not "
            "belong to a CosyVoice3 model. Download the model folder again."
        )
    return names


class SpeakerEncoder:
    """CAM++ speaker-embedding network: mean-normalised fbank [1, T, 80] -> embedding [1, 192]."""

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        self.path = Path(path)
        self._session = open_session(self.path, device, threads)
        (self._input,) = _check_inputs(self._session, self.path, 1)

    def embed(self, feat: np.ndarray) -> np.ndarray:
        """Speaker embedding float32 [1, 192] of a [1, T, 80] fbank (T >= 1)."""
        if feat.ndim != 3 or feat.shape[0] != 1 or feat.shape[2] != FBANK_BINS:
            raise ValueError(f"expected fbank of shape [1, T, {FBANK_BINS}], got {feat.shape}")
        feed = {self._input: np.ascontiguousarray(feat, dtype=np.float32)}
        out = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        return out.reshape(1, -1)


class SpeechTokenizer:
    """S3 speech tokenizer: Whisper log-mel [1, 128, T] -> speech token ids int64 [1, n]."""

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        self.path = Path(path)
        self._session = open_session(self.path, device, threads)
        self._feats, self._length = _check_inputs(self._session, self.path, 2)

    def tokenize(self, logmel: np.ndarray) -> np.ndarray:
        """Speech token ids int64 [1, n] (25 per second of audio) of a [1, 128, T] log-mel."""
        if logmel.ndim != 3 or logmel.shape[0] != 1 or logmel.shape[1] != WHISPER_BINS:
            raise ValueError(
                f"expected log-mel of shape [1, {WHISPER_BINS}, T], got {logmel.shape}"
            )
        feed = {
            self._feats: np.ascontiguousarray(logmel, dtype=np.float32),
            self._length: np.array([logmel.shape[2]], dtype=np.int32),
        }
        out = self._session.run(None, feed)[0]
        return np.asarray(out, dtype=np.int64).reshape(1, -1)
