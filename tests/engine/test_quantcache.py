"""The quantised-LLM cache: a second load reuses what the first quantised, and a cache that is
stale, damaged or not ours is ignored (with a log line) and written again, atomically."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from cosydesk.engine.engine import Engine
from cosydesk.engine.types import EngineOptions

bnb = pytest.importorskip("bitsandbytes")

IDS = torch.tensor([[11, 12, 13, 151646, 15, 16, 17]])
EMPTY = torch.zeros(1, 0, dtype=torch.long)


@pytest.fixture
def model(tiny_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model folder: tests here change its llm.pt."""
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _load(model: Path, cache: Path, mode: str, threshold: float = 0.0) -> Engine:
    options = EngineOptions(
        device="cpu", quantization=mode, int8_threshold=threshold, quant_cache_dir=str(cache)
    )
    return Engine.load(model, options)


def _logprobs(engine: Engine) -> torch.Tensor:
    """What the LLM makes of a fixed input: log-probs after the prefix and three tokens."""
    try:
        prefix = engine.llm.build_prefix(IDS, EMPTY, EMPTY)
        return engine.llm.teacher_force(prefix, torch.tensor([1, 2, 3]))[0]
    finally:
        engine.unload()


def _entries(cache: Path, mode: str) -> list[Path]:
    return sorted(cache.glob(f"llm-{mode}-*.safetensors"))


@pytest.mark.parametrize("mode", ["4bit", "8bit"])
def test_a_second_load_reuses_what_the_first_quantised(model, cache, mode) -> None:
    first = _load(model, cache, mode)
    assert first.quant.cache == "stored" and first.quant.mode == mode
    fresh = _logprobs(first)
    (entry,) = _entries(cache, mode)
    # safetensors: an 8-byte header length, then a JSON header; no pickle anywhere.
    header = entry.read_bytes()[8:9]
    assert header == b"{"
    second = _load(model, cache, mode)
    assert second.quant.cache == "reused" and second.quant.layers == first.quant.layers
    assert torch.equal(_logprobs(second), fresh)
    assert not list(model.glob("*.safetensors")), "nothing is written into the model folder"


def test_a_new_8bit_threshold_reuses_the_entry(model, cache) -> None:
    """The stored codes and scales do not depend on the threshold: switching it loads fast."""
    _load(model, cache, "8bit", threshold=0.0).unload()
    engine = _load(model, cache, "8bit", threshold=6.0)
    try:
        assert engine.quant.cache == "reused"
        thresholds = {
            float(m.state.threshold)
            for m in engine.llm.modules()
            if isinstance(m, bnb.nn.Linear8bitLt)
        }
        assert thresholds == {6.0}
    finally:
        engine.unload()


def _touch_weights(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = (model / "llm.pt").stat()
    os.utime(model / "llm.pt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _new_bitsandbytes(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bnb, "__version__", "99.0.0")


def _other_weights(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other weights of the same size, with the old mtime put back: only the hash tells."""
    path = model / "llm.pt"
    st = path.stat()
    state = torch.load(path, weights_only=True)
    name = next(n for n in state if n.endswith("self_attn.q_proj.weight"))
    state[name] = state[name] * 2
    torch.save(state, path.with_name("llm.new"))
    os.replace(path.with_name("llm.new"), path)  # a new inode, as a download writes it
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("change", [_touch_weights, _new_bitsandbytes, _other_weights])
def test_a_stale_entry_is_ignored_with_a_log_line_and_replaced(
    model, cache, change, monkeypatch, caplog
) -> None:
    _load(model, cache, "4bit").unload()
    (old,) = _entries(cache, "4bit")
    change(model, monkeypatch)
    with caplog.at_level(logging.INFO, logger="cosydesk.engine.quantcache"):
        engine = _load(model, cache, "4bit")
    assert engine.quant.cache == "stored"
    engine.unload()
    assert "no longer fits" in caplog.text
    (new,) = _entries(cache, "4bit")  # the stale entry is gone, one entry is left
    assert new != old
    assert _load(model, cache, "4bit").quant.cache == "reused"


def test_a_damaged_entry_is_ignored_and_rebuilt(model, cache, caplog) -> None:
    fresh = _logprobs(_load(model, cache, "4bit"))
    (entry,) = _entries(cache, "4bit")
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])  # cut short, as a full disk leaves it
    with caplog.at_level(logging.WARNING, logger="cosydesk.engine.quantcache"):
        engine = _load(model, cache, "4bit")
    assert engine.quant.cache == "stored" and "damaged" in caplog.text
    assert torch.equal(_logprobs(engine), fresh)
    assert entry.stat().st_size == len(data)


def test_an_entry_made_for_another_key_is_not_used(model, cache, caplog) -> None:
    _load(model, cache, "4bit").unload()
    _load(model, cache, "8bit").unload()
    (four,), (eight,) = _entries(cache, "4bit"), _entries(cache, "8bit")
    shutil.copyfile(eight, four)  # the right name, someone else's tensors
    with caplog.at_level(logging.WARNING, logger="cosydesk.engine.quantcache"):
        engine = _load(model, cache, "4bit")
    assert engine.quant.cache == "stored" and "another key" in caplog.text
    assert engine.quant.mode == "4bit"
    engine.unload()


class _Planted:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_planted_as_an_entry_is_never_run(model, cache, tmp_path, caplog) -> None:
    _load(model, cache, "4bit").unload()
    (entry,) = _entries(cache, "4bit")
    marker = tmp_path / "ran"
    entry.write_bytes(pickle.dumps(_Planted(marker)))
    with caplog.at_level(logging.WARNING, logger="cosydesk.engine.quantcache"):
        engine = _load(model, cache, "4bit")
    engine.unload()
    assert not marker.exists()
    assert engine.quant.cache == "stored" and "damaged" in caplog.text


def test_a_write_that_fails_half_way_leaves_no_entry(model, cache, monkeypatch, caplog) -> None:
    import safetensors.torch

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 1000)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    with caplog.at_level(logging.WARNING, logger="cosydesk.engine.quantcache"):
        engine = _load(model, cache, "4bit")
    engine.unload()
    assert engine.quant.mode == "4bit" and engine.quant.cache == ""
    assert "could not write" in caplog.text
    assert [p.name for p in cache.iterdir()] == ["digests.json"]  # no entry, no temp file
    monkeypatch.undo()
    assert _load(model, cache, "4bit").quant.cache == "stored"


def test_without_a_cache_folder_nothing_is_kept(model, tmp_path) -> None:
    engine = Engine.load(model, EngineOptions(device="cpu", quantization="4bit"))
    engine.unload()
    assert engine.quant.cache == ""
    assert not any(p.suffix == ".safetensors" for p in tmp_path.rglob("*"))
