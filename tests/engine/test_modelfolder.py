"""Model-folder validation: good folders open, and every fault names its file and a remedy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.modelfolder import (
    MODEL_ID,
    MODEL_NAME,
    REQUIRED_FILES,
    describe_expected,
    open_model_folder,
)
from tests.fuzz.mutators import linked_copy
from tests.fuzz.mutators import replace_file as replace


@pytest.fixture
def built(tiny_model: Path) -> Path:
    """The suite's tiny model folder (tests/conftest.py); tests change only copies of it."""
    assert tiny_model.name == MODEL_NAME
    return tiny_model


@pytest.fixture
def folder(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built folder made of links, so a test can break any one file."""
    return linked_copy(built, tmp_path / MODEL_NAME)


def message_of(path: Path, *, deep: bool = False) -> str:
    with pytest.raises(ModelFolderError) as caught:
        open_model_folder(path, deep=deep)
    return str(caught.value)


def test_built_folder_opens_with_its_settings(folder: Path) -> None:
    model = open_model_folder(folder, deep=True)

    assert model.root == folder
    assert model.llm_pt == folder / "llm.pt"
    assert model.speech_tokenizer == folder / "speech_tokenizer_v3.onnx"
    assert model.blank_en == folder / "CosyVoice-BlankEN"
    assert model.sample_rate == 24000
    assert (model.chunk_size, model.token_mel_ratio, model.token_frame_rate) == (25, 2, 25)
    assert model.speech_token_size == 6561
    assert model.feat_params["n_fft"] == 1920 and model.feat_params["hop_size"] == 480
    assert model.feat_params["fmax"] is None
    assert model.cfm_params["inference_cfg_rate"] == 0.7
    assert model.tokenizer_params == {"skip_special_tokens": True, "version": "cosyvoice3"}
    assert model.allowed_special == "all"
    assert model.llm_node.short_name == "CosyVoice3LM"
    assert model.flow_node.short_name == "CausalMaskedDiffWithDiT"
    assert model.hift_node.short_name == "CausalHiFTGenerator"
    assert model.estimator_node["static_chunk_size"] == 50
    assert model.qwen_config["hidden_size"] == model.llm_node["llm_input_size"]


def test_parity_fixture_folder_opens(parity_dir: Path) -> None:
    model = open_model_folder(parity_dir / "model", deep=True)
    assert model.qwen_config["hidden_size"] == 56
    assert model.estimator_node["dim"] == 64


@pytest.mark.parametrize(
    "name",
    [
        *REQUIRED_FILES,
        "CosyVoice-BlankEN/config.json",
        "CosyVoice-BlankEN/vocab.json",
        "CosyVoice-BlankEN/merges.txt",
    ],
)
def test_each_missing_file_is_named(folder: Path, name: str) -> None:
    (folder / name).unlink()
    message = message_of(folder)
    assert f"{folder} lacks {name}" in message
    assert f"choose the folder that holds cosyvoice3.yaml ({MODEL_NAME})" in message


def test_several_missing_files_are_listed_together(folder: Path) -> None:
    (folder / "flow.pt").unlink()
    (folder / "hift.pt").unlink()
    assert "lacks flow.pt and hift.pt" in message_of(folder)


def test_missing_tokenizer_folder(folder: Path) -> None:
    shutil.rmtree(folder / "CosyVoice-BlankEN")
    assert "lacks CosyVoice-BlankEN/config.json" in message_of(folder)


@pytest.mark.parametrize(
    ("older", "family"), [("cosyvoice2.yaml", "CosyVoice2"), ("cosyvoice.yaml", "CosyVoice 1")]
)
def test_older_model_folders_are_recognised(folder: Path, older: str, family: str) -> None:
    (folder / "cosyvoice3.yaml").rename(folder / older)
    message = message_of(folder)
    assert f"holds a {family} model ({older})" in message
    assert MODEL_ID in message


def test_parent_folder_points_to_the_model_inside(folder: Path) -> None:
    message = message_of(folder.parent)
    assert f"its subfolder {MODEL_NAME} holds one: choose {folder}" in message


def test_folder_without_any_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi", encoding="utf-8")
    assert f"{tmp_path} lacks cosyvoice3.yaml" in message_of(tmp_path)


def test_nonexistent_folder(tmp_path: Path) -> None:
    assert "does not exist" in message_of(tmp_path / "nowhere")


def test_a_file_instead_of_a_folder(folder: Path) -> None:
    message = message_of(folder / "cosyvoice3.yaml")
    assert "is a file, not a folder" in message and str(folder) in message


def test_empty_file(folder: Path) -> None:
    replace(folder / "hift.pt", b"")
    assert "hift.pt in the model folder" in message_of(folder)
    assert "is empty" in message_of(folder)


def _edit_yaml(folder: Path, old: str, new: str) -> None:
    text = (folder / "cosyvoice3.yaml").read_text(encoding="utf-8")
    assert old in text
    replace(folder / "cosyvoice3.yaml", text.replace(old, new))


def test_yaml_of_a_cosyvoice2_model(folder: Path) -> None:
    _edit_yaml(folder, "cosyvoice.llm.llm.CosyVoice3LM", "cosyvoice.llm.llm.Qwen2LM")
    message = message_of(folder)
    assert "describes a CosyVoice2 model for 'llm'" in message
    assert "CosyVoice3LM" in message


def test_yaml_with_an_unknown_model_class(folder: Path) -> None:
    _edit_yaml(folder, "cosyvoice.hifigan.generator.CausalHiFTGenerator", "cosyvoice.hifigan.Other")
    assert "'cosyvoice.hifigan.Other' for 'hift'" in message_of(folder)


def test_yaml_without_flow(folder: Path) -> None:
    _edit_yaml(folder, "\nflow: !new:", "\nflow_old: !new:")
    assert "does not define the 'flow' model" in message_of(folder)


def test_yaml_with_a_forbidden_tag(folder: Path) -> None:
    marker = folder.parent / "X"
    _edit_yaml(folder, "lsm_weight: 0", f'lsm_weight: !apply:os.system ["touch {marker}"]')
    message = message_of(folder)
    assert "!apply:os.system" in message and "cosyvoice3.yaml" in message
    assert not marker.exists()


def test_unreadable_qwen_config(folder: Path) -> None:
    replace(folder / "CosyVoice-BlankEN" / "config.json", "{not json")
    assert "CosyVoice-BlankEN/config.json" in message_of(folder)


def test_qwen_config_of_another_model(folder: Path) -> None:
    path = folder / "CosyVoice-BlankEN" / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["hidden_size"] = 896
    replace(path, json.dumps(config))
    message = message_of(folder)
    assert "width 32" in message and "gives 896" in message


@pytest.mark.parametrize("name", ["campplus.onnx", "speech_tokenizer_v3.onnx"])
def test_deep_check_finds_a_damaged_onnx_model(folder: Path, name: str) -> None:
    replace(folder / name, b"\x08\x07garbage" * 100)
    open_model_folder(folder)  # the quick check does not open it
    message = message_of(folder, deep=True)
    assert f"{name} in {folder} cannot be loaded as an ONNX model" in message


def test_deep_check_finds_swapped_onnx_models(folder: Path, built: Path) -> None:
    replace(folder / "campplus.onnx", (built / "speech_tokenizer_v3.onnx").read_bytes())
    message = message_of(folder, deep=True)
    assert "campplus.onnx" in message and "takes 2 input(s)" in message


def test_deep_check_finds_a_truncated_weight_file(folder: Path, built: Path) -> None:
    data = (built / "flow.pt").read_bytes()
    replace(folder / "flow.pt", data[: len(data) - 100])
    open_model_folder(folder)
    assert "flow.pt" in message_of(folder, deep=True)
    assert "is incomplete" in message_of(folder, deep=True)


def test_description_for_the_first_run_dialog() -> None:
    text = describe_expected()
    assert MODEL_ID in text and MODEL_NAME in text
    assert "huggingface.co" in text and "modelscope" in text.lower()
    for name in [*REQUIRED_FILES, "CosyVoice-BlankEN"]:
        assert name in text
