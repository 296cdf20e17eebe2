"""Fuzz: every voice clip is added as a voice or refused with one sentence, in bounded memory.

The cases (tests/fuzz/clips.py: every rate from 8 kHz to 384 kHz, co-prime ones included, every
shape, sample format and container, damaged and lying files) run in two child processes
(tests/fuzz/clip_child.py), each through `VoiceLibrary.add` with the tiny model: the clip check,
the resampler and the features, as the app's "Add voice" runs them. The children run under an
address-space limit, so that a clip that asks for tens of gigabytes fails there instead of
taking this machine down, and they report the growth of their peak resident memory case by
case. Fixed seeds: a failure names its case, which `clip_case(random.Random(case))` replays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.fuzz.sentence import Findings

GROUP = "clips"
CHILDREN = 2
CASES_PER_CHILD = 500
PLANNED = CHILDREN * CASES_PER_CHILD
# The bound is 2 GB for any process; one case may grow a child's peak by this much
# (a 30 s clip at 384 kHz is 46 MB as float32, and the resampler adds a few MB).
MAX_GROWTH = 256 << 20
MAX_PROCESS = 2 << 30
# What a child may map in all (torch and the model map far more than they touch); a clip
# that decodes to gigabytes meets this limit instead of the machine's memory.
ADDRESS_SPACE = 8 << 30


def _limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for memory")
def test_every_clip_is_a_voice_or_a_sentence_in_bounded_memory(
    tiny_model: Path, tmp_path: Path, cases: Any
) -> None:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    children = []
    for child in range(CHILDREN):
        work = tmp_path / str(child)
        args = [str(tiny_model), str(work), str(child * CASES_PER_CHILD), str(CASES_PER_CHILD)]
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.fuzz.clip_child", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=REPO,
                preexec_fn=_limit,
            )
        )
    findings = Findings()
    records: list[dict[str, Any]] = []
    try:
        for process in children:
            out, err = process.communicate(timeout=600)
            lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            records += lines
            cases(len(lines))
            code = process.returncode
            assert code == 0, f"a clip child ended with {code} after {len(lines)} cases: {err}"
            # Refusals are logged as warnings (one line each); a traceback is a finding.
            findings.add("stderr", f"a traceback: {err[-2000:]}" if "Traceback" in err else None)
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert len(records) == PLANNED
    outcomes = {"added": 0, "refused": 0}
    for record in records:
        label = f"case {record['case']} ({record['description']})"
        outcome = record["outcome"]
        if outcome == "escaped":
            findings.add(label, f"escaped as {record['message']}\n{record.get('traceback')}")
            continue
        outcomes[outcome] += 1
        if outcome == "refused":
            findings.sentence(label, record["message"].replace(str(tmp_path), "WORK"))
        for problem in record["problems"]:
            findings.add(label, problem)
        if record["peak_growth"] > MAX_GROWTH:
            findings.add(label, f"the peak memory grew by {record['peak_growth'] >> 20} MB")
        if record["peak"] > MAX_PROCESS:
            findings.add(label, f"the process held {record['peak'] >> 20} MB")
    findings.assert_none()
    # Both ends are well represented: usable clips of every rate, and every kind of refusal.
    assert outcomes["added"] > PLANNED // 5 and outcomes["refused"] > PLANNED // 3, outcomes
