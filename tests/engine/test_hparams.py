"""Numbers in cosyvoice3.yaml and config.json are checked before anything is sized from them.

Every case of the hardening report (issue 11, item 2) is reproduced on a copy of the tiny model:
each ends in one ModelFolderError sentence naming the file and the key, raised by the quick
folder check, which reads no weights and builds nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cosydesk import cli
from cosydesk.devtools.tinymodel import OFFICIAL, TINY, Dims, weight_shapes
from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder import hparams
from cosydesk.engine.folder.modelfolder import open_model_folder
from tests.fuzz.mutators import linked_copy, replace_file
from tests.helpers import write_clip

YAML = "cosyvoice3.yaml"
QWEN = "CosyVoice-BlankEN/config.json"
# The sizes of the parity fixture, which upstream's own code wrote.
FIXTURE_DIMS = Dims(56, 112, 2, 4, 2, 64, 64, 2, 2, 32, 2, 32, 32)


@pytest.fixture
def folder(tiny_model: Path, tmp_path: Path) -> Path:
    return linked_copy(tiny_model, tmp_path / "model")


def edit(folder: Path, name: str, old: str, new: str) -> None:
    text = (folder / name).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    replace_file(folder / name, text.replace(old, new))


def refusal(folder: Path) -> str:
    with pytest.raises(ModelFolderError) as caught:
        open_model_folder(folder)
    message = str(caught.value)
    assert "\n" not in message and str(folder) in message
    return message


# (file, text in the tiny model's file, what the report put there, the key the sentence names)
REPORTED = [
    (YAML, "sample_rate: 24000", "sample_rate: 1000000000000", "sample_rate = 1000000000000"),
    (YAML, "sample_rate: 24000", "sample_rate: 48000", "sample_rate = 48000"),
    (YAML, "depth: 2\n", "depth: 100000\n", "flow.decoder.estimator.depth = 100000"),
    (YAML, " dim: 48\n", " dim: 10000000\n", "flow.decoder.estimator.dim = 10000000"),
    (YAML, "chunk_size: 25", "chunk_size: 0", "chunk_size = 0"),
    (YAML, "hop_size: 480", "hop_size: 0", "feat_extractor.hop_size = 0"),
    (YAML, "n_fft: 1920", "n_fft: 0", "feat_extractor.n_fft = 0"),
    (YAML, "n_fft: 16", "n_fft: 0", "hift.istft_params.n_fft = 0"),
    (YAML, "num_mels: 80", "num_mels: 40", "feat_extractor.num_mels = 40"),
    (YAML, "token_mel_ratio: 2", "token_mel_ratio: 0", "token_mel_ratio = 0"),
    (YAML, "upsample_rates: [8, 5, 3]", "upsample_rates: []", "hift.upsample_rates = []"),
    (YAML, "heads: 3\n", "heads: 0\n", "flow.decoder.estimator.heads = 0"),
    (QWEN, '"num_attention_heads": 4', '"num_attention_heads": 0', "num_attention_heads = 0"),
    (QWEN, '"vocab_size": 151936', '"vocab_size": 1e12', "vocab_size = 1000000000000.0"),
    (QWEN, '"rms_norm_eps": 1e-06', '"rms_norm_eps": "tiny"', "rms_norm_eps = 'tiny'"),
    (QWEN, '"rope_theta": 1000000.0', '"rope_theta": -1', "rope_theta = -1"),
    (QWEN, '"num_hidden_layers": 2', '"num_hidden_layers": 100000', "num_hidden_layers = 100000"),
    (QWEN, '"intermediate_size": 64', '"intermediate_size": 0', "intermediate_size = 0"),
]


@pytest.mark.parametrize(("name", "old", "new", "key"), REPORTED, ids=[r[3] for r in REPORTED])
def test_each_reported_value_is_refused_with_the_file_and_key(
    folder: Path, name: str, old: str, new: str, key: str
) -> None:
    edit(folder, name, old, new)
    message = refusal(folder)
    assert message.startswith(f"{name} in the model folder {folder} gives {key}, but ")
    assert "download the model folder again" in message


def test_sizes_beyond_the_weight_file_say_how_much_they_would_need(folder: Path) -> None:
    edit(folder, YAML, " dim: 48\n", " dim: 10000000\n")
    message = refusal(folder)
    assert "needs at least" in message and "TB of weights and flow.pt holds 2.74 MB" in message


def test_a_rate_other_than_24000_never_reaches_the_wav_header(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = write_clip(tmp_path / "clip.wav", 2, freq=140, tremolo=False)
    edit(folder, YAML, "sample_rate: 24000", "sample_rate: 48000")
    out = tmp_path / "out.wav"
    args = ["say", "Hi.", "-o", str(out), "--model", str(folder), "--device", "cpu"]
    code = cli.main([*args, "--prompt-wav", str(clip), "--prompt-text", "Hello."])
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"cosydesk: {YAML} in the model folder {folder} gives sample_rate = 48000" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2001-02-30", "day is out of range for month"),
        ("1" * 5000, "Exceeds the limit (4300 digits)"),
        ("!!float 'x'", "could not convert string to float"),
    ],
)
def test_yaml_values_python_cannot_hold_are_a_sentence(
    folder: Path, text: str, reason: str
) -> None:
    edit(folder, YAML, "lsm_weight: 0", f"lsm_weight: {text}")
    message = refusal(folder)
    assert f"{YAML} in {folder} holds a value that cannot be read ({reason}" in message


@pytest.mark.parametrize(
    "text", ['{"hidden_size": ' + "1" * 5000 + "}", "[" * 100_000 + "]" * 100_000]
)
def test_config_json_that_python_cannot_hold_is_a_sentence(folder: Path, text: str) -> None:
    replace_file(folder / QWEN, text)
    assert f"{QWEN} in {folder} cannot be read" in refusal(folder)


def test_references_that_grow_beyond_what_python_prints_are_a_sentence(folder: Path) -> None:
    # Each level squares the one before: big14 = 2 ** 2 ** 14 has 4,933 digits.
    chain = "".join(f"big{i + 1}: !ref <big{i}> * <big{i}>\n" for i in range(14))
    edit(
        folder,
        YAML,
        "num_decoding_left_chunks: -1\n",
        f"num_decoding_left_chunks: !ref <big14>\nbig0: 2\n{chain}",
    )
    assert "gives num_decoding_left_chunks = an integer of about 4933 digits, but" in refusal(
        folder
    )
    edit(folder, YAML, "<big14>\nbig0", "<big14> * <big14>\nbig0")
    assert "has a reference expression it cannot evaluate" in refusal(folder)


def test_the_official_yaml_and_the_fixtures_pass(
    official_yaml: Path, parity_dir: Path, tmp_path: Path
) -> None:
    from cosydesk.engine.folder.yamlconf import load_yaml

    fixture = parity_dir / "model"
    qwen = json.loads((fixture / QWEN).read_text(encoding="utf-8"))
    hparams.check_numbers(load_yaml(fixture / YAML), qwen, fixture)
    # The full official file at the 0.5B sizes, weighed against (sparse) weight files of the
    # official sizes: fp32, 4 bytes per weight.
    official = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24}
    official |= {"num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936}
    sizes = {"llm.pt": 506_148_480, "flow.pt": 332_257_120, "hift.pt": 20_779_887}
    for name, weights in sizes.items():
        with (tmp_path / name).open("wb") as handle:
            handle.truncate(4 * weights + 100_000)
    hparams.check_numbers(load_yaml(official_yaml), official, tmp_path)


@pytest.mark.parametrize(
    "dims", [TINY, OFFICIAL, FIXTURE_DIMS], ids=["tiny", "official", "fixture"]
)
def test_weight_counts_match_the_checkpoint_layout(dims: Dims) -> None:
    counted = {
        name: sum(math.prod(spec.shape) for spec in specs if spec.tied_to is None)
        for name, specs in weight_shapes(dims).items()
    }
    inner = dims.dit_heads * dims.dit_dim_head
    assert counted == {
        "llm.pt": hparams.llm_weights(
            dims.hidden, dims.intermediate, dims.layers, dims.heads, dims.kv_heads
        ),
        "flow.pt": hparams.flow_weights(
            dims.dit_dim,
            inner,
            dims.dit_ff_mult,
            dims.dit_depth,
            dims.lookahead_channels,
            dims.dit_dim_head,
        ),
        "hift.pt": hparams.hift_weights(dims.hift_channels, dims.f0_channels),
    }
