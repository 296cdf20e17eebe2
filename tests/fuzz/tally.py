"""How many cases each fuzz group ran, for the one summary line at the end of the run.

Each fuzz test module names its group in a module-level `GROUP` and counts its cases with the
`cases` fixture (tests/fuzz/conftest.py) as they finish, so a run stopped by a failure still
reports what it covered. `PLANNED` holds what each module means to run, checked against the
issue's floor of 10,000 cases by test_plan.py.
"""

from __future__ import annotations

from collections import Counter

# Cases run, by group.
RAN: Counter[str] = Counter()
# Seconds spent in the tests of each group (setup, call and teardown), by group.
SECONDS: Counter[str] = Counter()
# The issue asks for at least this many cases in the whole fuzz suite.
FLOOR = 10_000


def record(group: str, cases: int = 1) -> None:
    """Count `cases` more cases of `group` as done."""
    RAN[group] += cases


def summary() -> str:
    """One line: the cases per group with their seconds, then the total and its seconds."""
    groups = sorted(RAN, key=lambda g: -RAN[g])
    parts = [f"{g} {RAN[g]:,} ({SECONDS[g]:.1f} s)" for g in groups]
    total = sum(RAN.values())
    seconds = sum(SECONDS.values())
    return f"fuzz: {total:,} cases in {seconds:.1f} s: " + "; ".join(parts)
