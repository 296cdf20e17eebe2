"""The yaml reader: official and fixture files read as data; anything executable is refused."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.yamlconf import Tagged, load_yaml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cosyvoice3.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_fixture_yaml_reads_with_references_and_arithmetic(parity_dir: Path) -> None:
    config = load_yaml(parity_dir / "model" / "cosyvoice3.yaml")

    llm = config["llm"]
    assert isinstance(llm, Tagged)
    assert (llm.kind, llm.short_name) == ("new", "CosyVoice3LM")
    assert llm["llm_input_size"] == 56
    assert llm["llm"].target == "cosyvoice.llm.llm.Qwen2Encoder"
    estimator = config["flow"]["decoder"]["estimator"]
    assert estimator["static_chunk_size"] == 50  # !ref <chunk_size> * <token_mel_ratio>
    assert estimator["num_decoding_left_chunks"] == -1
    assert config["hift"]["sampling_rate"] == 24000
    assert config["feat_extractor"].kind == "name"
    assert config["feat_extractor"]["fmax"] is None
    assert config["__set_seed3"].args == [1986]


def test_official_yaml_reads_and_keeps_training_parts_as_data(official_yaml: Path) -> None:
    config = load_yaml(official_yaml)

    assert config["llm"]["llm_input_size"] == 896
    assert config["flow"]["decoder"]["estimator"]["depth"] == 22
    # A reference to a whole node is that node, not a copy.
    assert config["hifigan"]["generator"] is config["hift"]
    assert all(isinstance(step, Tagged) for step in config["data_pipeline"])
    assert config["data_pipeline"][0].short_name == "parquet_opener"
    # YAML 1.2 exponent floats (no dot) are numbers, as hyperpyyaml reads them.
    assert config["flow"]["decoder"]["cfm_params"]["content"]["sigma_min"] == 1e-06
    assert config["train_conf"]["optim_conf"]["lr"] == 1e-05


def test_reading_imports_nothing_it_names(tmp_path: Path) -> None:
    path = write(tmp_path, "llm: !new:cosyvoice.llm.llm.CosyVoice3LM\n  size: 1\n")
    load_yaml(path)
    assert "cosyvoice" not in sys.modules


@pytest.mark.parametrize(
    ("tag_line", "named"),
    [
        ('!apply:os.system ["touch {marker}"]', "!apply:os.system"),
        ('!new:subprocess.Popen [["touch", "{marker}"]]', "!new:subprocess.Popen"),
        ('!apply:builtins.open ["{marker}", "w"]', "!apply:builtins.open"),
        ("!name:builtins.eval", "!name:builtins.eval"),
        ("!apply:torch.load ['{marker}']", "!apply:torch.load"),
        # A seed function is only accepted as the call it is in the official file.
        ("!name:random.seed", "!name:random.seed"),
        ('!!python/object/apply:os.system ["touch {marker}"]', "python/object/apply:os.system"),
    ],
)
def test_tags_outside_cosyvoice_are_refused_and_never_run(
    tmp_path: Path, tag_line: str, named: str
) -> None:
    marker = tmp_path / "X"
    body = tag_line.format(marker=marker)
    path = write(tmp_path, f"sample_rate: 24000\nflow:\n  opts: [1, {{deep: {body}}}]\n")

    with pytest.raises(ModelFolderError) as caught:
        load_yaml(path)

    assert named in str(caught.value)
    assert "cosyvoice3.yaml" in str(caught.value)
    assert not marker.exists()


def test_the_four_seed_calls_are_accepted_as_data(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a: !apply:random.seed [1986]\nb: !apply:numpy.random.seed [1986]\n"
        "c: !apply:torch.manual_seed [1986]\nd: !apply:torch.cuda.manual_seed_all [1986]\n",
    )
    config = load_yaml(path)
    assert [config[k].target for k in "abcd"] == [
        "random.seed",
        "numpy.random.seed",
        "torch.manual_seed",
        "torch.cuda.manual_seed_all",
    ]


def test_reference_arithmetic(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a: 3\nb: !ref <a> * 2 + 1\nc: !ref <a> // 2\nd: !ref -<a> + <b>\ne: !ref <a> / 2\n"
        "f: !ref <b>\ng: !ref (<a> + 1) % 3\n",
    )
    config = load_yaml(path)
    assert (config["b"], config["c"], config["d"], config["e"]) == (7, 1, 4, 1.5)
    assert (config["f"], config["g"]) == (7, 1)


@pytest.mark.parametrize(
    "expression",
    ["<s> * 2", "__import__('os').system('touch {marker}')", "<a>.__class__", "<a> ** 99999"],
)
def test_reference_expressions_beyond_arithmetic_are_refused(
    tmp_path: Path, expression: str
) -> None:
    marker = tmp_path / "X"
    path = write(tmp_path, f"a: 3\ns: text\nb: !ref {expression.format(marker=marker)}\n")
    with pytest.raises(ModelFolderError, match="cannot evaluate"):
        load_yaml(path)
    assert not marker.exists()


def test_unknown_reference_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: !ref <no_such_key>\n")
    with pytest.raises(ModelFolderError, match="'no_such_key', which it does not define"):
        load_yaml(path)


@pytest.mark.parametrize(
    "text", ["a: !ref <b>\nb: !ref <a>\n", "a: !ref <a>\n", "a: [1, !ref <c>]\nc: {x: !ref <a>}\n"]
)
def test_reference_loops_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ModelFolderError, match="in a loop"):
        load_yaml(write(tmp_path, text))


def test_self_containing_anchor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="holds itself"):
        load_yaml(write(tmp_path, "a: &x [1, *x]\n"))


def test_nested_aliases_do_not_explode(tmp_path: Path) -> None:
    # Ten aliases at each of 30 levels would be 10**30 items if every alias were expanded.
    lines = ["l0: &l0 [1, 2]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 30)]
    start = time.monotonic()
    config = load_yaml(write(tmp_path, "\n".join(lines) + "\n"))
    assert time.monotonic() - start < 5
    assert config["l29"][0][0] is config["l27"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a: [1, 2\n", "not valid YAML"),
        (b"- just\n- a list\n", "does not hold a configuration mapping"),
        (b"a: \xff\xfe\n", "Cannot read"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    ],
)
def test_unreadable_files_give_a_message(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "cosyvoice3.yaml"
    path.write_bytes(content)
    with pytest.raises(ModelFolderError, match=expected):
        load_yaml(path)


def test_missing_file_gives_a_message(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match=r"Cannot read cosyvoice3\.yaml"):
        load_yaml(tmp_path / "cosyvoice3.yaml")


def test_plain_scalars_keep_their_yaml_types(tmp_path: Path) -> None:
    config = load_yaml(write(tmp_path, "a: 1e5\nb: 12\nc: 1e5x\nd: '1e-06'\ne: 2.5\nf: True\n"))
    assert config == {"a": 1e5, "b": 12, "c": "1e5x", "d": "1e-06", "e": 2.5, "f": True}


def test_yaml_that_does_not_parse_is_one_line_saying_where(tmp_path: Path) -> None:
    path = tmp_path / "cosyvoice3.yaml"
    path.write_text("sample_rate: 24000\nllm: [1, 2\nflow: 3\n", encoding="utf-8")
    with pytest.raises(ModelFolderError) as caught:
        load_yaml(path)
    assert str(caught.value) == (
        f"cosyvoice3.yaml in {tmp_path} is not valid YAML (expected ',' or ']', but got ':' at "
        "line 3, column 5: 'flow: 3'). Download the model folder again."
    )
