"""Read a CosyVoice `cosyvoice3.yaml` as plain data, never executing anything it names.

The official file is written for hyperpyyaml: `!new:pkg.Class` and `!name:pkg.func` tags build
objects, `!apply:pkg.func` calls functions at load time and `!ref <key>` points at other keys
(sometimes inside a little arithmetic, `!ref <chunk_size> * <token_mel_ratio>`). Here a tag becomes
a `Tagged` record holding the dotted name and its arguments; references are resolved to values;
arithmetic is evaluated by a tiny evaluator that knows numbers and + - * / // % only.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cosydesk.engine.errors import ModelFolderError

# The packages whose names the official file uses, plus the seed calls at its top. Anything else
# in a tag means the file was not written for CosyVoice3 (or was tampered with): refuse it.
ALLOWED_PACKAGES = ("cosyvoice.", "matcha.", "omegaconf.")
ALLOWED_CALLS = frozenset(
    {"random.seed", "numpy.random.seed", "torch.manual_seed", "torch.cuda.manual_seed_all"}
)

_REF = re.compile(r"<([^<>]+)>")
_PENDING = object()


@dataclass
class Tagged:
    """A `!new:`, `!name:` or `!apply:` node: `kind` is new/name/apply, `target` the dotted name."""

    kind: str
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.kwargs.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.kwargs[key]

    @property
    def short_name(self) -> str:
        return self.target.rsplit(".", 1)[-1]


@dataclass
class _Ref:
    expr: str


class _Loader(yaml.SafeLoader):
    """SafeLoader that knows the hyperpyyaml tags as data."""


def _tagged(kind: str):
    def construct(loader: _Loader, suffix: str, node: yaml.Node) -> Tagged:
        if isinstance(node, yaml.MappingNode):
            mapping = loader.construct_mapping(node, deep=True)
            return Tagged(kind, suffix, kwargs={str(k): v for k, v in mapping.items()})
        if isinstance(node, yaml.SequenceNode):
            return Tagged(kind, suffix, args=loader.construct_sequence(node, deep=True))
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
        return Tagged(kind, suffix, args=[] if value in ("", None) else [value])

    return construct


def _ref(loader: _Loader, node: yaml.Node) -> _Ref:
    return _Ref(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


for _kind in ("new", "name", "apply"):
    _Loader.add_multi_constructor(f"!{_kind}:", _tagged(_kind))
_Loader.add_constructor("!ref", _ref)
# hyperpyyaml reads YAML 1.2, where `1e-06` is a float; PyYAML's 1.1 rules need a dot and would
# leave such values (sigma_min, learning rates) as strings.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def _arith(expr: str) -> Any:
    """Evaluate `expr` if it is arithmetic on numbers; anything else is an error."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = ev(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        raise ValueError(expr)

    return ev(ast.parse(expr, mode="eval"))


class _Resolver:
    def __init__(self, root: dict[str, Any], path: Path) -> None:
        self.root = root
        self.path = path
        self.active: set[str] = set()
        # YAML anchors share one node between many places; resolving each node once keeps a file
        # of nested aliases (a "billion laughs") from taking exponential time and memory.
        # Each entry keeps the original node alive too, so that its id cannot be reused.
        self.done: dict[int, tuple[Any, Any]] = {}

    def fail(self, what: str) -> ModelFolderError:
        return ModelFolderError(
            f"{self.path.name} in {self.path.parent} {what}. The file is damaged or is not a "
            "CosyVoice3 configuration: download the model folder again."
        )

    def lookup(self, key: str) -> Any:
        if key not in self.root:
            raise self.fail(f"refers to '{key}', which it does not define")
        if key in self.active:
            raise self.fail(f"refers to '{key}' in a loop")
        self.active.add(key)
        try:
            value = self.resolve(self.root[key])
        finally:
            self.active.discard(key)
        self.root[key] = value
        return value

    def ref(self, expr: str) -> Any:
        whole = _REF.fullmatch(expr.strip())
        if whole:
            return self.lookup(whole.group(1).strip())
        values = {m: self.lookup(m.strip()) for m in _REF.findall(expr)}
        try:
            # repr of an integer of thousands of digits is a ValueError too.
            text = _REF.sub(lambda m: repr(values[m.group(1)]), expr)
            return _arith(text)
        except (ValueError, SyntaxError, TypeError, ZeroDivisionError, OverflowError):
            raise self.fail(f"has a reference expression it cannot evaluate: '{expr}'") from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, _Ref):
            return self.ref(value.expr)
        if isinstance(value, (Tagged, dict, list)):
            key = id(value)
            if key in self.done:
                resolved = self.done[key][1]
                if resolved is _PENDING:
                    raise self.fail("contains a node that holds itself (a loop of YAML anchors)")
                return resolved
            self.done[key] = (value, _PENDING)
            self.done[key] = (value, self._resolve_container(value))
            return self.done[key][1]
        return value

    def _resolve_container(self, value: Any) -> Any:
        if isinstance(value, Tagged):
            allowed = value.target.startswith(ALLOWED_PACKAGES) or (
                value.kind == "apply" and value.target in ALLOWED_CALLS
            )
            if not allowed:
                raise self.fail(
                    f"uses the tag '!{value.kind}:{value.target}', which names code outside "
                    "CosyVoice"
                )
            value.kwargs = {k: self.resolve(v) for k, v in value.kwargs.items()}
            value.args = [self.resolve(v) for v in value.args]
            return value
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return [self.resolve(v) for v in value]


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong, where, and the line it is on, as one line (its own text quotes
    the lines around the fault over several lines)."""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return str(problem)
    where = f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    text = mark.buffer if isinstance(mark.buffer, str) else ""
    start = text.rfind("\n", 0, mark.pointer) + 1
    end = text.find("\n", mark.pointer)
    line = text[start : end if end >= 0 else len(text)].strip().rstrip("\0")
    return f"{where}: {line[:80]!r}" if line else where


def load_yaml(path: Path) -> dict[str, Any]:
    """Read `path` into a dict of plain values and `Tagged` records, with references resolved.

    Raises ModelFolderError when the file cannot be read, is not YAML, or names code outside the
    CosyVoice packages. Nothing named in the file is imported or called.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFolderError(
            f"Cannot read {path.name} in {path.parent} ({exc}). Check the file's permissions or "
            "download the model folder again."
        ) from None
    try:
        # _Loader derives from SafeLoader: no Python object tags, nothing imported.
        data = yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise ModelFolderError(
            f"{path.name} in {path.parent} is nested too deeply to be a CosyVoice3 "
            "configuration. Download the model folder again."
        ) from None
    except yaml.YAMLError as exc:
        raise ModelFolderError(
            f"{path.name} in {path.parent} is not valid YAML ({_yaml_problem(exc)}). Download "
            "the model folder again."
        ) from None
    except (ValueError, OverflowError, TypeError) as exc:
        # Raised by the scalar constructors: a date such as 2001-02-30, an integer of
        # thousands of digits, `!!float 'x'`.
        reason = str(exc).split(";")[0][:120]
        raise ModelFolderError(
            f"{path.name} in {path.parent} holds a value that cannot be read ({reason}). "
            "Download the model folder again."
        ) from None
    if not isinstance(data, dict):
        raise ModelFolderError(
            f"{path.name} in {path.parent} does not hold a configuration mapping. Download the "
            "model folder again."
        )
    resolver = _Resolver(data, path)
    try:
        for key in list(data):
            resolver.lookup(key)
    except RecursionError:
        raise resolver.fail("is nested too deeply") from None
    return data
