"""The fuzz suite as a whole: at least 10,000 cases (issue 11), every group with its share."""

from __future__ import annotations

import importlib
from pathlib import Path

from tests.fuzz import tally

GROUPS = sorted(p.stem for p in Path(__file__).parent.glob("test_*.py") if p.stem != "test_plan")


def test_the_suite_plans_ten_thousand_cases_in_named_groups() -> None:
    planned = {}
    for name in GROUPS:
        module = importlib.import_module(f"tests.fuzz.{name}")
        planned[module.GROUP] = module.PLANNED
    assert len(planned) == len(GROUPS), "two modules share a group name"
    assert sum(planned.values()) >= tally.FLOOR, planned
