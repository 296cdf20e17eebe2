"""The fuzz suite's shared parts: case counting, the summary line, a loaded tiny engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fuzz import tally

_GROUP_OF_FILE: dict[str, str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = getattr(getattr(item, "module", None), "GROUP", None)
        if group is not None:
            _GROUP_OF_FILE[item.nodeid.split("::")[0]] = group


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    group = _GROUP_OF_FILE.get(report.nodeid.split("::")[0])
    if group is not None:
        tally.SECONDS[group] += report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if tally.RAN:
        terminalreporter.section("fuzz")
        terminalreporter.write_line(tally.summary())


@pytest.fixture
def cases(request: pytest.FixtureRequest) -> Callable[[int], None]:
    """cases(n=1): count n more finished cases of this module's GROUP."""
    group = request.module.GROUP
    return lambda n=1: tally.record(group, n)


@pytest.fixture(scope="session")
def engine(cpu_engine: Any) -> Any:
    """The suite's CPU engine (tests/conftest.py), shared by the fuzz groups that speak."""
    return cpu_engine
