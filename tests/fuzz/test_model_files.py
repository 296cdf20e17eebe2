"""Fuzz: damaged model files end in a loaded model or one sentence naming the file.

Seeded mutation runs (tests/fuzz/mutators.py) over the tiny model: byte flips, cuts and altered
pickles in llm.pt, flow.pt and hift.pt; pickles that ask to run code; hostile values, damaged
bytes and hostile documents in cosyvoice3.yaml and CosyVoice-BlankEN/config.json. No other
exception may come out of the loaders (issue 11, item 9), no code from a file may run, and the
model folder the damaged copies link to stays as it was.

Each case is cheap: a configuration goes through the quick folder check (which reads no
weights and builds nothing) and only one that passes it is built and filled, each distinct
configuration once (the loaders are deterministic). A failure names its case; the same seed
replays it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
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
    calling_pickle,
    damage_text,
    hostile_json,
    hostile_yaml,
    linked_copy,
    mutate_archive,
    mutate_json,
    mutate_yaml,
    replace_file,
)
from tests.fuzz.sentence import Findings, sentence_problem

GROUP = "model files"
SEED = 11
YAML = "cosyvoice3.yaml"
QWEN = "CosyVoice-BlankEN/config.json"
WEIGHT_CASES = {"hift.pt": 200, "flow.pt": 300, "llm.pt": 50}
CALLING_CASES = 80
CONFIG_CASES = {YAML: 450, QWEN: 250}
PLANNED = sum(WEIGHT_CASES.values()) + CALLING_CASES + sum(CONFIG_CASES.values())


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


def _sentence(exc: EngineError, name: str, root: Path) -> str | None:
    """Why the error is not one sentence naming the file `name`; None when it is."""
    message = str(exc)
    if Path(name).name not in message:
        return f"the message does not name {Path(name).name}: {message!r}"
    return sentence_problem(message.replace(str(root), "FOLDER"))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def untouched(tiny_model: Path) -> Iterator[None]:
    """The tiny model folder, which every damaged copy links to, is the same afterwards."""
    before = _digest(tiny_model)
    yield
    assert _digest(tiny_model) == before, "a loader changed a file of the model folder"


@pytest.fixture(scope="module")
def models(tiny_model: Path, untouched: None) -> dict[str, Any]:
    """The tiny model's three modules, built once; a loadable damaged file fills them again."""
    folder = open_model_folder(tiny_model)
    return {f"{key}.pt": build(folder) for key, (build, _) in BUILDERS.items()}


@pytest.mark.parametrize("name", list(WEIGHT_CASES))
def test_damaged_weight_files_load_or_name_the_file(
    name: str, models: dict[str, Any], tiny_model: Path, tmp_path: Path, cases: Any
) -> None:
    original = (tiny_model / name).read_bytes()
    rng = random.Random(f"{SEED}-{name}")
    outcomes: Counter[str] = Counter()
    findings = Findings()
    path = tmp_path / name
    for case in range(WEIGHT_CASES[name]):
        label = f"case {case} of {name}"
        path.write_bytes(mutate_archive(original, rng))
        try:
            checkpoint.load_into(models[name], path)
        except EngineError as exc:
            findings.add(label, _sentence(exc, name, tmp_path))
            outcomes["sentence"] += 1
        except Exception as exc:  # the point of the test: nothing else may come out
            findings.add(label, f"escaped as {type(exc).__name__}: {exc}")
        else:
            outcomes["loaded"] += 1
        cases()
    findings.assert_none()
    # The mutators damage the structure most of the time; flips in tensor data still load.
    assert outcomes["sentence"] > WEIGHT_CASES[name] // 2, outcomes


def test_pickles_that_ask_to_run_code_run_nothing(
    models: dict[str, Any], tiny_model: Path, tmp_path: Path, cases: Any
) -> None:
    rng = random.Random(f"{SEED}-calls")
    marker = tmp_path / "ran"
    findings = Findings()
    # The pickle is read before any tensor, so the two smaller files serve as well as llm.pt.
    originals = {name: (tiny_model / name).read_bytes() for name in ("hift.pt", "flow.pt")}
    for case in range(CALLING_CASES):
        name = rng.choice(list(originals))
        path = tmp_path / name
        path.write_bytes(calling_pickle(originals[name], rng, marker))
        label = f"case {case} (calling pickle in {name})"
        try:
            checkpoint.load_into(models[name], path)
        except EngineError as exc:
            findings.add(label, _sentence(exc, name, tmp_path))
        except Exception as exc:
            findings.add(label, f"escaped as {type(exc).__name__}: {exc}")
        else:
            findings.add(label, "loaded")
        assert not marker.exists(), f"{label}: code from the file ran"
        cases()
    findings.assert_none()


def _damaged_config(name: str, text: str, rng: random.Random) -> str | bytes:
    roll = rng.random()
    if roll < 0.7:
        if name == YAML:
            return mutate_yaml(text, rng)
        return json.dumps(mutate_json(json.loads(text), rng))
    if roll < 0.85:
        return damage_text(text, rng)
    return hostile_yaml(text, rng) if name == YAML else hostile_json(rng)


@pytest.mark.parametrize("name", list(CONFIG_CASES))
def test_damaged_configurations_load_or_name_the_file(
    name: str, tiny_model: Path, tmp_path: Path, untouched: None, cases: Any
) -> None:
    text = (tiny_model / name).read_text(encoding="utf-8")
    rng = random.Random(f"{SEED}-{name}")
    built: set[str] = set()
    outcomes: Counter[str] = Counter()
    findings = Findings()
    folder = linked_copy(tiny_model, tmp_path / "model")
    for case in range(CONFIG_CASES[name]):
        label = f"case {case} of {name}"
        replace_file(folder / name, _damaged_config(name, text, rng))
        try:
            opened = open_model_folder(folder)
            # Build and fill what the changed configuration describes (each distinct one once),
            # as Engine.load does, and read what it reads.
            for build, part in BUILDERS.values():
                if part(opened) not in built:
                    build(opened)
                    built.add(part(opened))
            _ = (opened.sample_rate, opened.chunk_size, opened.token_mel_ratio, opened.feat_params)
        except EngineError as exc:
            findings.add(label, _sentence(exc, name, folder))
            outcomes["sentence"] += 1
        except Exception as exc:  # the point of the test: nothing else may come out
            findings.add(label, f"escaped as {type(exc).__name__}: {exc}")
        else:
            outcomes["loaded"] += 1
        cases()
    findings.assert_none()
    assert outcomes["sentence"] > CONFIG_CASES[name] // 2 and outcomes["loaded"] > 0, outcomes
