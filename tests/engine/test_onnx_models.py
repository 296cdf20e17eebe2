"""ONNX speaker encoder and speech tokenizer: parity on the fixture, clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.prompt.onnx_models import SpeakerEncoder, SpeechTokenizer


@pytest.fixture(scope="module")
def golden(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "golden" / "frontend.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_speaker_embedding_matches(parity_dir: Path, golden) -> None:
    encoder = SpeakerEncoder(parity_dir / "model" / "campplus.onnx")
    embedding = encoder.embed(golden["campplus_input"])
    ref = golden["campplus_embedding"]
    assert embedding.shape == (1, 192)
    assert embedding.dtype == np.float32
    assert np.abs(embedding - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max()))


def test_speech_tokens_match_exactly(parity_dir: Path, golden) -> None:
    tokenizer = SpeechTokenizer(parity_dir / "model" / "speech_tokenizer_v3.onnx")
    tokens = tokenizer.tokenize(golden["whisper_logmel"])
    assert tokens.dtype == np.int64
    np.testing.assert_array_equal(tokens, golden["speech_token_raw"])


def test_wrong_feature_shape_is_refused(parity_dir: Path) -> None:
    encoder = SpeakerEncoder(parity_dir / "model" / "campplus.onnx")
    with pytest.raises(ValueError, match=r"\[1, T, 80\]"):
        encoder.embed(np.zeros((1, 10, 128), dtype=np.float32))


def test_corrupt_onnx_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "campplus.onnx"
    path.write_bytes(b"\x08\x07garbage that is not a protobuf" * 20)
    with pytest.raises(ModelFolderError, match=r"campplus\.onnx.*Download the model folder again"):
        SpeakerEncoder(path)


def test_truncated_onnx_file_is_a_model_folder_error(parity_dir: Path, tmp_path: Path) -> None:
    data = (parity_dir / "model" / "speech_tokenizer_v3.onnx").read_bytes()
    path = tmp_path / "speech_tokenizer_v3.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match=r"speech_tokenizer_v3\.onnx"):
        SpeechTokenizer(path)


def test_missing_onnx_file_is_a_model_folder_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match=r"lacks speech_tokenizer_v3\.onnx"):
        SpeechTokenizer(tmp_path / "speech_tokenizer_v3.onnx")


def test_swapped_models_are_refused(parity_dir: Path) -> None:
    with pytest.raises(ModelFolderError, match=r"takes 1 input\(s\) where 2"):
        SpeechTokenizer(parity_dir / "model" / "campplus.onnx")
