"""Weight files: loaded without running code, and every damaged or foreign file explained."""

from __future__ import annotations

import builtins
import os
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.checkpoint import check_state_dict, load_into, load_state_dict


class _Runs:
    """Pickles as a call of `func(*args)`: what a hostile checkpoint would carry."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


class _TinyLM(nn.Module):
    """The names of the LM's tied pair: text embedding and output head."""

    def __init__(self, tied_head: bool = True) -> None:
        super().__init__()
        self.llm = nn.Module()
        self.llm.model = nn.Module()
        self.llm.model.model = nn.Module()
        self.llm.model.model.embed_tokens = nn.Embedding(10, 4)
        if tied_head:
            self.llm.model.lm_head = nn.Linear(4, 10, bias=False)
            self.llm.model.lm_head.weight = self.llm.model.model.embed_tokens.weight
        self.llm_decoder = nn.Linear(4, 6, bias=False)


def _two_layers() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = {k: v.clone() for k, v in _two_layers().state_dict().items()}
    path = tmp_path / "flow.pt"
    torch.save(state, path)
    return path, state


def test_round_trip(saved: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, state = saved
    loaded = load_state_dict(path)
    assert list(loaded) == list(state)
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor)


def test_tied_tensors_stay_shared(tmp_path: Path) -> None:
    path = tmp_path / "llm.pt"
    torch.save(_TinyLM().state_dict(), path)
    loaded = load_state_dict(path)
    head, embed = loaded["llm.model.lm_head.weight"], loaded["llm.model.model.embed_tokens.weight"]
    assert head.data_ptr() == embed.data_ptr()


def _assert_explains(path: Path, expected: str) -> None:
    with pytest.raises(ModelFolderError) as caught:
        load_state_dict(path)
    message = str(caught.value)
    assert path.name in message
    assert expected in message
    assert "download the model folder again" in message.lower()


def test_missing_file(tmp_path: Path) -> None:
    _assert_explains(tmp_path / "llm.pt", "lacks llm.pt")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "llm.pt"
    path.write_bytes(b"")
    _assert_explains(path, "is empty")


def test_truncated_file(saved: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_explains(path, "is incomplete")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "hift.pt"
    path.write_bytes(bytes(range(256)) * 40)
    _assert_explains(path, "is not a PyTorch weight archive")


def test_legacy_pickle_format_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "hift.pt"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    _assert_explains(path, "is not a PyTorch weight archive")


def test_zip_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "flow.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    _assert_explains(path, "is damaged or is not a PyTorch weight file")


def test_cut_off_weight_table_inside_a_whole_archive(
    saved: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    source, _ = saved
    path = tmp_path / "llm.pt"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as damaged:
        for name in original.namelist():
            data = original.read(name)
            damaged.writestr(name, data[: len(data) // 2] if name.endswith("data.pkl") else data)
    _assert_explains(path, "is damaged")


@pytest.mark.parametrize("how", ["system", "open"])
def test_pickled_callable_is_refused_and_never_runs(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "X"
    payload = (
        _Runs(os.system, f"touch '{marker}'")
        if how == "system"
        else _Runs(builtins.open, str(marker), "w")
    )
    path = tmp_path / "llm.pt"
    torch.save({"w": torch.zeros(2), "payload": payload}, path)

    with pytest.raises(ModelFolderError) as caught:
        load_state_dict(path)

    assert not marker.exists()
    message = str(caught.value)
    assert "llm.pt" in message and "holds Python code" in message
    assert ("system" if how == "system" else "open") in message


def test_the_hostile_file_really_is_live(tmp_path: Path) -> None:
    # Control for the test above: an unrestricted unpickler does create the file.
    marker = tmp_path / "X"
    path = tmp_path / "llm.pt"
    torch.save({"payload": _Runs(builtins.open, str(marker), "w")}, path)
    loaded = torch.load(path, weights_only=False)
    loaded["payload"].close()
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([torch.zeros(2)], "holds a list"),
        ({"w": 3}, "holds 'w' (int)"),
        ({"state_dict": {"w": torch.zeros(2)}}, "holds 'state_dict' (dict)"),
        ({3: torch.zeros(2)}, "holds '3'"),
    ],
)
def test_contents_other_than_named_tensors(tmp_path: Path, content: object, expected: str) -> None:
    path = tmp_path / "flow.pt"
    torch.save(content, path)
    _assert_explains(path, expected)


def test_check_lists_unknown_missing_and_misshaped(tmp_path: Path) -> None:
    state = dict(_two_layers().state_dict())
    state["0.weight"] = torch.zeros(4, 3)
    del state["1.bias"]
    state["extra.weight"] = torch.zeros(5)

    with pytest.raises(ModelFolderError) as caught:
        check_state_dict(_two_layers(), state, tmp_path / "flow.pt")

    message = str(caught.value)
    assert "flow.pt" in message and "does not belong" in message
    assert "0.weight should be [3, 4] but is [4, 3]" in message
    assert "1.bias [2] is missing" in message
    assert "extra.weight [5] is not part of this model" in message


def test_check_summarises_many_problems(tmp_path: Path) -> None:
    state = {f"stray.{i}": torch.zeros(1) for i in range(9)}
    with pytest.raises(ModelFolderError, match="and 8 more problems"):
        check_state_dict(_two_layers(), state, tmp_path / "flow.pt")


def test_check_refuses_integer_tensors_for_float_weights(tmp_path: Path) -> None:
    state = {k: v.to(torch.int64) for k, v in _two_layers().state_dict().items()}
    with pytest.raises(ModelFolderError, match=r"0\.weight should be torch\.float32"):
        check_state_dict(_two_layers(), state, tmp_path / "flow.pt")


@pytest.mark.parametrize("file_has_head", [True, False])
@pytest.mark.parametrize("module_has_head", [True, False])
def test_tied_head_may_be_present_or_absent(
    tmp_path: Path, file_has_head: bool, module_has_head: bool
) -> None:
    source = _TinyLM()
    state = dict(source.state_dict())
    if not file_has_head:
        del state["llm.model.lm_head.weight"]
    path = tmp_path / "llm.pt"
    torch.save(state, path)

    target = _TinyLM(tied_head=module_has_head)
    load_into(target, path)

    embed = source.llm.model.model.embed_tokens.weight
    assert torch.equal(target.llm.model.model.embed_tokens.weight, embed)
    if module_has_head:
        assert torch.equal(target.llm.model.lm_head.weight, embed)


def test_load_into_fills_the_module(saved: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, state = saved
    module = _two_layers()
    load_into(module, path)
    assert torch.equal(module[0].weight, state["0.weight"])
    assert torch.equal(module[1].bias, state["1.bias"])


def test_load_into_strips_a_wrapper_prefix(tmp_path: Path) -> None:
    state = {f"generator.{k}": v for k, v in _two_layers().state_dict().items()}
    path = tmp_path / "hift.pt"
    torch.save(state, path)
    module = _two_layers()
    load_into(module, path, strip_prefix="generator.")
    assert torch.equal(module[0].weight, state["generator.0.weight"])


def test_load_into_a_meta_module_assigns_real_tensors(
    saved: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    path, state = saved
    with torch.device("meta"):
        module = _two_layers()
    load_into(module, path)
    assert not any(p.is_meta for p in module.parameters())
    assert torch.equal(module[0].weight, state["0.weight"])


def test_load_into_leaves_the_module_alone_when_the_file_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "flow.pt"
    torch.save({"0.weight": torch.ones(3, 4)}, path)
    module = _two_layers()
    before = module[0].weight.detach().clone()
    with pytest.raises(ModelFolderError, match=r"1\.weight \[2, 3\] is missing"):
        load_into(module, path)
    assert torch.equal(module[0].weight, before)


def test_load_into_lets_go_of_the_file_without_a_garbage_collection(
    saved: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    """The weights file is mapped while its tensors live; once copied they go at once, with the
    collector off (a full collection per file held the GIL long enough to freeze the window)."""
    import gc

    path, state = saved
    module = _two_layers()
    gc.disable()
    try:
        load_into(module, path)
        maps = Path("/proc/self/maps").read_text().splitlines()
    finally:
        gc.enable()
    assert [line for line in maps if str(path) in line] == []
    assert torch.equal(module[0].weight, state["0.weight"])


def _two_tensors_with_pickle(tmp_path: Path, old: bytes, new: bytes) -> Path:
    """A weight file of two tensors whose pickle has `old` replaced by `new` (zip kept valid)."""
    from tests.fuzz.mutators import replace_member

    path = tmp_path / "flow.pt"
    torch.save({"a": torch.zeros(2), "b": torch.zeros(2)}, path)
    name = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith("data.pkl"))
    pickle = zipfile.ZipFile(path).read(name)
    assert pickle.count(old) == 1
    path.write_bytes(replace_member(path.read_bytes(), name, pickle.replace(old, new)))
    return path


def test_a_damaged_weight_table_is_a_sentence_without_exception_names(tmp_path: Path) -> None:
    # The second tensor asks for memo 250, which the pickle never stored: torch's unpickler
    # fails with a KeyError, which means nothing to the person reading the message.
    path = _two_tensors_with_pickle(tmp_path, b"h\n)R", b"h\xfa)R")
    with pytest.raises(ModelFolderError) as caught:
        load_state_dict(path)
    assert str(caught.value) == (
        f"flow.pt in {tmp_path} is damaged: its weight table cannot be read. "
        "Download the model folder again."
    )


def test_what_torch_warns_about_a_damaged_pickle_stays_out_of_sight(tmp_path: Path) -> None:
    import warnings

    # The second tensor's rebuild calls the first tensor instead of OrderedDict: torch warns
    # about its own internals ("Defining your `__torch_function__` as a plain method ...")
    # before it fails. The sentence says all a person can act on; the warning went to stderr.
    path = _two_tensors_with_pickle(tmp_path, b"h\n)R", b"h\r)R")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ModelFolderError, match=r"flow\.pt in .* is damaged"):
            load_state_dict(path)
    assert [str(warning.message) for warning in caught] == []
