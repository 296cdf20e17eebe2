"""Damaged model files end in a loaded model or one EngineError sentence naming the file.

Seeded mutation runs (tests/fuzz/mutators.py) over the tiny model: byte flips, cuts and altered
pickles in llm.pt, flow.pt and hift.pt, and hostile values in cosyvoice3.yaml and
CosyVoice-BlankEN/config.json. No other exception may come out of the loaders (issue 11,
item 9). A failure names its case number; the same seed replays it.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cosydesk.engine.errors import EngineError
from cosydesk.engine.folder import checkpoint
from cosydesk.engine.folder.modelfolder import ModelFolder, open_model_folder
from cosydesk.engine.model import sampling
from cosydesk.engine.model.flow import FlowModel
from cosydesk.engine.model.hift import HiFTGenerator
from cosydesk.engine.model.llm import CosyVoice3LM
from tests.fuzz.mutators import (
    linked_copy,
    mutate_archive,
    mutate_json,
    mutate_yaml,
    replace_file,
)

SEED = 11
YAML = "cosyvoice3.yaml"
QWEN = "CosyVoice-BlankEN/config.json"


def _llm(folder: ModelFolder) -> Any:
    llm = CosyVoice3LM.from_config(folder.llm_node, folder.qwen_config, init_weights=False)
    checkpoint.load_into(llm, folder.llm_pt)
    sampling.from_config(folder.llm_node)
    return llm


def _flow(folder: ModelFolder) -> Any:
    flow = FlowModel.from_config(folder.flow_node)
    checkpoint.load_into(flow, folder.flow_pt)
    return flow


def _hift(folder: ModelFolder) -> Any:
    hift = HiFTGenerator.from_config(folder.hift_node)
    checkpoint.load_into(hift, folder.hift_pt)
    return hift


# What Engine.load builds from a folder, and the part of the configuration each one reads.
BUILDERS: dict[str, tuple[Callable[[ModelFolder], Any], Callable[[ModelFolder], str]]] = {
    "llm": (_llm, lambda f: repr((f.llm_node, f.qwen_config))),
    "flow": (_flow, lambda f: repr(f.flow_node)),
    "hift": (_hift, lambda f: repr(f.hift_node)),
}


def _sentence(exc: EngineError, name: str, case: int) -> None:
    message = str(exc)
    assert "\n" not in message and "Traceback" not in message, (case, message)
    assert Path(name).name in message, (case, message)


@pytest.fixture(scope="module")
def models(tiny_model: Path) -> dict[str, Any]:
    """The tiny model's three modules, built once; a loadable damaged file fills them again."""
    folder = open_model_folder(tiny_model)
    return {f"{key}.pt": build(folder) for key, (build, _) in BUILDERS.items()}


@pytest.mark.parametrize(("name", "cases"), [("hift.pt", 150), ("flow.pt", 100), ("llm.pt", 40)])
def test_damaged_weight_files_load_or_name_the_file(
    name: str, cases: int, models: dict[str, Any], tiny_model: Path, tmp_path: Path
) -> None:
    original = (tiny_model / name).read_bytes()
    rng = random.Random(f"{SEED}-{name}")
    outcomes: Counter[str] = Counter()
    path = tmp_path / name
    for case in range(cases):
        path.write_bytes(mutate_archive(original, rng))
        try:
            checkpoint.load_into(models[name], path)
        except EngineError as exc:
            _sentence(exc, name, case)
            outcomes["sentence"] += 1
        except Exception as exc:  # the point of the test: nothing else may come out
            pytest.fail(f"case {case} of {name} escaped as {type(exc).__name__}: {exc}")
        else:
            outcomes["loaded"] += 1
    # The mutators damage the structure most of the time; flips in tensor data still load.
    assert outcomes["sentence"] > cases // 2, outcomes


@pytest.mark.parametrize(("name", "cases"), [(YAML, 200), (QWEN, 120)])
def test_damaged_configurations_load_or_name_the_file(
    name: str, cases: int, tiny_model: Path, tmp_path: Path
) -> None:
    text = (tiny_model / name).read_text(encoding="utf-8")
    rng = random.Random(f"{SEED}-{name}")
    built: set[str] = set()
    outcomes: Counter[str] = Counter()
    for case in range(cases):
        if name == YAML:
            damaged = mutate_yaml(text, rng)
        else:
            damaged = json.dumps(mutate_json(json.loads(text), rng))
        folder = linked_copy(tiny_model, tmp_path / str(case))
        replace_file(folder / name, damaged)
        try:
            opened = open_model_folder(folder)
            # Build and fill what the changed configuration describes (each distinct one once:
            # the loaders are deterministic), as Engine.load does, and read what it reads.
            for build, part in BUILDERS.values():
                if part(opened) not in built:
                    build(opened)
                    built.add(part(opened))
            _ = (opened.sample_rate, opened.chunk_size, opened.token_mel_ratio, opened.feat_params)
        except EngineError as exc:
            _sentence(exc, name, case)
            outcomes["sentence"] += 1
        except Exception as exc:  # the point of the test: nothing else may come out
            pytest.fail(f"case {case} of {name} escaped as {type(exc).__name__}: {exc}")
        else:
            outcomes["loaded"] += 1
    assert outcomes["sentence"] > cases // 2 and outcomes["loaded"] > 0, outcomes
