"""What ships is what runs: the app, runner, server and engine never import the developer
tooling, and the Qt-free parts never import Qt. Read from the source, so that an import hidden
in a function that no test calls is found too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cosydesk"
# Commands for developers, which import the tooling when they run and only then.
LAZY_USERS = {"cli.py", "bench.py"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Each module `path` imports, with whether the import sits at the module's top level."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


def _runtime_modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "devtools" not in p.relative_to(PACKAGE).parts
    )


@pytest.mark.parametrize("path", _runtime_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_runtime_never_imports_the_developer_tooling(path: Path) -> None:
    for name, at_top in _imports(path):
        if not name.startswith("cosydesk.devtools"):
            continue
        assert path.name in LAZY_USERS, f"{path} imports {name}"
        assert not at_top, f"{path} imports {name} when it is imported, not when a command runs"


@pytest.mark.parametrize("package", ["engine", "runner", "devtools"])
def test_qt_free_packages_never_import_qt(package: str) -> None:
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name, _ in _imports(path):
            assert not name.startswith(("PySide6", "cosydesk.gui")), f"{path} imports {name}"
