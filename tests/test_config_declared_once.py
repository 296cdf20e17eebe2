"""Each setting's choices and range are written in one place, its declaration in config.py.

A search of the package's source: every literal list, tuple, set or dict that names all of a
setting's choices, every call, comparison or tuple that holds both ends of its range, and every
text that says "<minimum> to <maximum>" is reported with its file and line. The dialog, the
command line, the server and the engine build theirs from the declaration, so only it is found.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosydesk.config import OPTIONS

PACKAGE = Path(__file__).resolve().parent.parent / "cosydesk"
CHOICES = [o for o in OPTIONS if o.choices is not None]
RANGES = [o for o in OPTIONS if o.minimum is not None and o.maximum is not None]


def _trees() -> Iterator[tuple[str, ast.AST]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE.parent).as_posix()
        yield name, ast.parse(path.read_text(encoding="utf-8"), name)


TREES = list(_trees())


def _listed(node: ast.AST) -> set[str]:
    """The strings a literal container lists (dict keys; the first of each pair it holds)."""
    if isinstance(node, ast.Dict):
        items: list[ast.expr | None] = list(node.keys)
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = list(node.elts)
    else:
        return set()
    found = set()
    for item in items:
        if isinstance(item, ast.Tuple) and item.elts:
            item = item.elts[0]
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            found.add(item.value)
    return found


def _numbers(node: ast.AST) -> list[float]:
    """The numbers written directly in a call's arguments, a comparison or a tuple."""
    if isinstance(node, ast.Call):
        parts = [*node.args, *(k.value for k in node.keywords)]
    elif isinstance(node, ast.Compare):
        parts = [node.left, *node.comparators]
    elif isinstance(node, ast.Tuple | ast.List):
        parts = list(node.elts)
    else:
        return []
    return [
        p.value
        for p in parts
        if isinstance(p, ast.Constant)
        and isinstance(p.value, int | float)
        and not isinstance(p.value, bool)
    ]


def _written(number: float) -> str:
    """A pattern for `number` as text: 2.0 also as 2, 1024 also as 1024.0."""
    whole = float(number).is_integer()
    text = str(int(number)) if whole else repr(float(number))
    return re.escape(text) + (r"(?:\.0)?" if whole else "")


def _texts(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    return []


def choice_lists(choices: tuple[str, ...], trees=TREES) -> list[str]:
    return [
        f"{name}:{node.lineno}"  # type: ignore[attr-defined]
        for name, tree in trees
        for node in ast.walk(tree)
        if set(choices) <= _listed(node)
    ]


def ranges(low: float, high: float, trees=TREES) -> list[str]:
    said = re.compile(
        rf"(?<![\d.]){_written(low)}\s*(?:to|and|-|\.\.)\s*{_written(high)}(?![\d.]*\d)"
    )
    found = []
    for name, tree in trees:
        for node in ast.walk(tree):
            numbers = _numbers(node)
            in_code = low in numbers and high in numbers
            if in_code or any(said.search(text) for text in _texts(node)):
                found.append(f"{name}:{node.lineno}")  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("option", CHOICES, ids=lambda o: o.name)
def test_each_choice_list_is_written_once_in_its_declaration(option) -> None:
    places = choice_lists(option.choices)  # each other place: a copy to build from the option
    assert len(places) == 1 and places[0].startswith("cosydesk/config.py:"), places


@pytest.mark.parametrize("option", RANGES, ids=lambda o: o.name)
def test_each_range_is_written_once_in_its_declaration(option) -> None:
    places = ranges(option.minimum, option.maximum)
    assert len(places) == 1 and places[0].startswith("cosydesk/config.py:"), places


def test_the_search_finds_what_it_looks_for() -> None:
    """The search is not blind: written the ways the old code wrote them, it finds them."""
    code = (
        'CHOICES = ("auto", "none", "8bit", "4bit")\n'
        'LABELS = {"fp32": "safest", "bf16": "half", "fp16": "risky"}\n'
        "box.setRange(0.5, 2.0)\n"
        "ok = 0.5 <= speed <= 2.0\n"
        'raise Error("Port 1 does not exist: choose one from 1024 to 65535.")\n'
    )
    example = [("example.py", ast.parse(code))]
    assert choice_lists(("auto", "4bit", "8bit", "none"), example) == ["example.py:1"]
    assert choice_lists(("fp32", "bf16", "fp16"), example) == ["example.py:2"]
    assert ranges(0.5, 2.0, example) == ["example.py:3", "example.py:4"]
    assert ranges(1024, 65535, example) == ["example.py:5"]


def test_the_engine_reads_no_setting_from_the_environment() -> None:
    """Settings reach the engine as arguments. Its one touch of the environment sets cuBLAS's
    workspace size (a knob of the CUDA library, which only the engine knows is about to start),
    and leaves a value someone set alone."""
    touches = []
    for name, tree in TREES:
        if not name.startswith("cosydesk/engine/"):
            continue
        for node in ast.walk(tree):
            word = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
            if word in ("environ", "getenv", "putenv"):
                touches.append((name, node.lineno))  # type: ignore[attr-defined]
    assert len(touches) == 1, touches
    [(name, line)] = touches
    source = (PACKAGE.parent / name).read_text(encoding="utf-8").splitlines()[line - 1]
    assert 'os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG"' in source


def test_the_engine_options_default_to_the_declared_defaults(redeclare) -> None:
    from cosydesk.engine.types import EngineOptions

    redeclare("flow_precision", default="bf16")
    redeclare("int8_threshold", default=4.5)  # not the declared default, 0
    options = EngineOptions()
    assert (options.flow_precision, options.int8_threshold) == ("bf16", 4.5)
