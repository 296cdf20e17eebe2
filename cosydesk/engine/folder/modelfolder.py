"""Find, check and describe an official CosyVoice3 model folder (Fun-CosyVoice3-0.5B-2512).

`open_model_folder` answers one question before any weight is loaded: is this the folder a user
should have chosen? Its errors say which file is wrong and what to do about it, because they end
up in the first-run dialog. Reading the yaml executes nothing (see yamlconf), and the quick check
opens no weight file; `deep=True` also opens the ONNX models and the `.pt` archives' directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.hparams import check_numbers
from cosydesk.engine.folder.yamlconf import Tagged, load_yaml

MODEL_NAME = "Fun-CosyVoice3-0.5B-2512"
MODEL_ID = "FunAudioLLM/Fun-CosyVoice3-0.5B-2512"
YAML_NAME = "cosyvoice3.yaml"
TOKENIZER_DIR = "CosyVoice-BlankEN"

# Files every CosyVoice3 folder holds, with what each is for (shown in describe_expected).
REQUIRED_FILES: dict[str, str] = {
    YAML_NAME: "the model's hyper-parameters",
    "llm.pt": "the language model (about 2 GB)",
    "flow.pt": "the flow-matching decoder (about 1.3 GB)",
    "hift.pt": "the HiFT vocoder",
    "campplus.onnx": "the speaker-embedding model",
    "speech_tokenizer_v3.onnx": "the speech tokenizer",
}
TOKENIZER_FILES = ("config.json", "vocab.json", "merges.txt")

# What the three model nodes of the yaml must build, by class name.
EXPECTED_CLASSES = {
    "llm": "CosyVoice3LM",
    "flow": "CausalMaskedDiffWithDiT",
    "hift": "CausalHiFTGenerator",
}
# Older CosyVoice releases, recognised so that their folders get a precise message.
_OLDER_YAMLS = {"cosyvoice2.yaml": "CosyVoice2", "cosyvoice.yaml": "CosyVoice 1"}
_OLDER_CLASSES = {
    "Qwen2LM": "CosyVoice2",
    "CausalMaskedDiffWithXvec": "CosyVoice2",
    "TransformerLM": "CosyVoice 1",
    "MaskedDiffWithXvec": "CosyVoice 1",
}

_CHOOSE = f"choose the folder that holds {YAML_NAME} ({MODEL_NAME})"
_AGAIN = f"download {MODEL_NAME} again"


@dataclass
class ModelFolder:
    """A model folder that passed validation: its file paths and its parsed configuration."""

    root: Path
    yaml: Path
    llm_pt: Path
    flow_pt: Path
    hift_pt: Path
    campplus: Path
    speech_tokenizer: Path
    blank_en: Path
    config: dict[str, Any]
    qwen_config: dict[str, Any]
    sample_rate: int

    @property
    def llm_node(self) -> Tagged:
        """The yaml's `llm` node (CosyVoice3LM); its `llm` kwarg is the Qwen2 encoder node."""
        node: Tagged = self.config["llm"]
        return node

    @property
    def flow_node(self) -> Tagged:
        """The yaml's `flow` node (CausalMaskedDiffWithDiT) with its lookahead and decoder nodes."""
        node: Tagged = self.config["flow"]
        return node

    @property
    def hift_node(self) -> Tagged:
        """The yaml's `hift` node (CausalHiFTGenerator) with its F0 predictor node."""
        node: Tagged = self.config["hift"]
        return node

    @property
    def estimator_node(self) -> Tagged:
        """The DiT estimator inside the flow decoder."""
        node: Tagged = self.flow_node["decoder"]["estimator"]
        return node

    @property
    def cfm_params(self) -> dict[str, Any]:
        """Solver settings of the flow decoder (inference_cfg_rate, t_scheduler, ...)."""
        params = self.flow_node["decoder"].get("cfm_params")
        if isinstance(params, Tagged):
            content = params.get("content", params.kwargs)
            return dict(content) if isinstance(content, dict) else {}
        return dict(params) if isinstance(params, dict) else {}

    @property
    def feat_params(self) -> dict[str, Any]:
        """Keyword arguments of the 24 kHz mel feature extractor (n_fft, hop_size, fmax, ...)."""
        return dict(self.config["feat_extractor"].kwargs)

    @property
    def tokenizer_params(self) -> dict[str, Any]:
        """Keyword arguments of get_tokenizer (skip_special_tokens, version), path excluded."""
        node = self.config.get("get_tokenizer")
        params = dict(node.kwargs) if isinstance(node, Tagged) else {}
        params.pop("token_path", None)
        return params

    @property
    def allowed_special(self) -> str:
        return str(self.config.get("allowed_special", "all"))

    @property
    def chunk_size(self) -> int:
        """Streaming chunk size in speech tokens."""
        return int(self.config.get("chunk_size", 25))

    @property
    def token_mel_ratio(self) -> int:
        """Mel frames per speech token."""
        return int(self.flow_node.get("token_mel_ratio", self.config.get("token_mel_ratio", 2)))

    @property
    def token_frame_rate(self) -> int:
        """Speech tokens per second."""
        return int(self.flow_node.get("input_frame_rate", self.config.get("token_frame_rate", 25)))

    @property
    def speech_token_size(self) -> int:
        """Size of the speech-token vocabulary (6561); the LM tables have 200 extra rows."""
        return int(self.llm_node.get("speech_token_size", 6561))


def _find_below(path: Path) -> Path | None:
    """A direct subfolder holding cosyvoice3.yaml, for people who chose the parent folder."""
    try:
        for child in sorted(path.iterdir()):
            if child.is_dir() and (child / YAML_NAME).is_file():
                return child
    except OSError:
        return None
    return None


def _check_root(root: Path) -> None:
    if not root.exists():
        raise ModelFolderError(f"The model folder {root} does not exist: {_CHOOSE}.")
    if not root.is_dir():
        raise ModelFolderError(
            f"{root} is a file, not a folder: {_CHOOSE} (perhaps {root.parent})."
        )
    if (root / YAML_NAME).is_file():
        return
    for name, family in _OLDER_YAMLS.items():
        if (root / name).is_file():
            raise ModelFolderError(
                f"The model folder {root} holds a {family} model ({name}), but cosydesk speaks "
                f"with CosyVoice3: {_CHOOSE}; if you do not have it, download {MODEL_ID}."
            )
    below = _find_below(root)
    if below is not None:
        raise ModelFolderError(
            f"The model folder {root} lacks {YAML_NAME}, but its subfolder {below.name} holds "
            f"one: choose {below}."
        )
    raise ModelFolderError(f"The model folder {root} lacks {YAML_NAME}: {_CHOOSE}.")


def _check_files(root: Path) -> None:
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    tok = root / TOKENIZER_DIR
    missing += [f"{TOKENIZER_DIR}/{n}" for n in TOKENIZER_FILES if not (tok / n).is_file()]
    if missing:
        listed = (
            missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + f" and {missing[-1]}"
        )
        raise ModelFolderError(
            f"The model folder {root} lacks {listed}: {_CHOOSE}, or {_AGAIN} if the download "
            f"was interrupted."
        )
    for name in [*REQUIRED_FILES, *(f"{TOKENIZER_DIR}/{n}" for n in TOKENIZER_FILES)]:
        if (root / name).stat().st_size == 0:
            raise ModelFolderError(f"{name} in the model folder {root} is empty: {_AGAIN}.")


def _check_nodes(config: dict[str, Any], yaml_path: Path) -> None:
    where = f"{YAML_NAME} in {yaml_path.parent}"
    for key, wanted in EXPECTED_CLASSES.items():
        node = config.get(key)
        if not isinstance(node, Tagged) or node.kind != "new":
            raise ModelFolderError(f"{where} does not define the '{key}' model: {_AGAIN}.")
        if node.short_name != wanted:
            family = _OLDER_CLASSES.get(node.short_name)
            what = f"a {family} model" if family else f"'{node.target}'"
            raise ModelFolderError(
                f"{where} describes {what} for '{key}', where CosyVoice3 has {wanted}: the file "
                f"does not belong to {MODEL_NAME}; {_CHOOSE}."
            )
    feat = config.get("feat_extractor")
    if not isinstance(feat, Tagged):
        raise ModelFolderError(f"{where} does not define 'feat_extractor': {_AGAIN}.")
    rate = config.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        raise ModelFolderError(f"{where} has no valid 'sample_rate' ({rate!r}): {_AGAIN}.")


def _read_qwen_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        # ValueError covers undecodable text, broken JSON and integers of thousands of digits.
        what = "is nested too deeply" if isinstance(exc, RecursionError) else f"({exc})"
        raise ModelFolderError(
            f"{TOKENIZER_DIR}/{path.name} in {path.parent.parent} cannot be read {what}: {_AGAIN}."
        ) from None
    # Only the presence of the sizes here; check_numbers judges each value and names it.
    needed = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    if not isinstance(data, dict) or not all(k in data for k in needed):
        raise ModelFolderError(
            f"{TOKENIZER_DIR}/{path.name} in {path.parent.parent} is not a Qwen2 model "
            f"configuration (it needs {', '.join(needed)}): {_AGAIN}."
        )
    return data


def _check_consistent(config: dict[str, Any], qwen: dict[str, Any], root: Path) -> None:
    size = config["llm"].get("llm_input_size")
    if isinstance(size, int) and size != qwen["hidden_size"]:
        raise ModelFolderError(
            f"In the model folder {root}, {YAML_NAME} gives the language model width {size} but "
            f"{TOKENIZER_DIR}/config.json gives {qwen['hidden_size']}: the files come from "
            f"different models; {_AGAIN}."
        )


def _check_onnx(path: Path, inputs: int, purpose: str) -> None:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's errors derive from Exception only
        raise ModelFolderError(
            f"{path.name} in {path.parent} cannot be loaded as an ONNX model ({exc}); the file "
            f"is damaged: {_AGAIN}."
        ) from None
    found = len(session.get_inputs())
    if found != inputs or not session.get_outputs():
        raise ModelFolderError(
            f"{path.name} in {path.parent} takes {found} input(s), where {purpose} takes "
            f"{inputs}: it is not the file of {MODEL_NAME}; {_AGAIN}."
        )


def _check_deep(folder: ModelFolder) -> None:
    from cosydesk.engine.folder.checkpoint import check_archive

    for pt in (folder.llm_pt, folder.flow_pt, folder.hift_pt):
        check_archive(pt)
    _check_onnx(folder.campplus, 1, "the speaker-embedding model")
    _check_onnx(folder.speech_tokenizer, 2, "the speech tokenizer")


def open_model_folder(path: Path | str, *, deep: bool = False) -> ModelFolder:
    """Check that `path` is an official CosyVoice3 model folder and return its description.

    The quick check reads only cosyvoice3.yaml and CosyVoice-BlankEN/config.json and looks at
    the other files' presence and size. `deep=True` also loads both ONNX models and checks that
    each `.pt` file is a complete archive. Raises ModelFolderError with a sentence naming the
    file at fault and what to do.
    """
    root = Path(path).expanduser()
    _check_root(root)
    _check_files(root)
    yaml_path = root / YAML_NAME
    config = load_yaml(yaml_path)
    _check_nodes(config, yaml_path)
    blank_en = root / TOKENIZER_DIR
    qwen = _read_qwen_config(blank_en / "config.json")
    _check_consistent(config, qwen, root)
    check_numbers(config, qwen, root)  # before anything is sized from them
    folder = ModelFolder(
        root=root,
        yaml=yaml_path,
        llm_pt=root / "llm.pt",
        flow_pt=root / "flow.pt",
        hift_pt=root / "hift.pt",
        campplus=root / "campplus.onnx",
        speech_tokenizer=root / "speech_tokenizer_v3.onnx",
        blank_en=blank_en,
        config=config,
        qwen_config=qwen,
        sample_rate=config["sample_rate"],
    )
    if deep:
        _check_deep(folder)
    return folder


def describe_expected() -> str:
    """A few paragraphs for the first-run dialog: which model to get, where, and what it holds."""
    files = "\n".join(f"  {name}: {what}" for name, what in REQUIRED_FILES.items())
    tokenizer = ", ".join(TOKENIZER_FILES)
    return (
        f"cosydesk speaks with the official CosyVoice3 model, {MODEL_NAME} (about 5 GB).\n\n"
        f"Download it from Hugging Face (https://huggingface.co/{MODEL_ID}) or ModelScope "
        f"(https://www.modelscope.cn/models/{MODEL_ID}); the model id is {MODEL_ID}. "
        f"For example:\n"
        f"  hf download {MODEL_ID} --local-dir {MODEL_NAME}\n"
        f"  modelscope download --model {MODEL_ID} --local_dir {MODEL_NAME}\n\n"
        f"Then choose the downloaded folder. It holds:\n{files}\n"
        f"  {TOKENIZER_DIR}/: the text tokenizer ({tokenizer})\n\n"
        f"CosyVoice2 and CosyVoice 1 folders (cosyvoice2.yaml, cosyvoice.yaml) do not work with "
        f"cosydesk."
    )
