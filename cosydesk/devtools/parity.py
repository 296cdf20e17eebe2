"""Stage-by-stage parity of the engine with upstream CosyVoice3, on a parity fixture folder.

A fixture folder holds `model/` (a model folder in the official format), the prompt clip, and
`golden/`: `*.npz` arrays that the upstream implementation produced stage by stage from recorded
inputs and noises, with `*.json` texts. `run_parity` runs our engine on the same inputs and writes
OUT/<golden name>.npz holding our value of every golden array under the same name (outputs
recomputed, recorded inputs echoed back), prints one line per stage with the largest errors, and
returns 0 when every array is within the tolerances of the fixture's README, else 1.

The printed relative error of an array is its largest absolute error over the golden's largest
magnitude. Nothing about a particular fixture is assumed: dimensions come from the model folder,
texts from the json files, ids, tokens and noises from the npz files. This module compares and
reports; parity_stages.py and parity_e2e.py run the engine. `python -m cosydesk.devtools.parity
FIXTURE --out OUT [--verbose] [--stage NAME]` is the command-line form.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from cosydesk.engine.errors import EngineError

if TYPE_CHECKING:
    from cosydesk.devtools.parity_stages import ParityFixture, StageOutput

Arrays = dict[str, np.ndarray]


# --------------------------------------------------------------------------- tolerances


@dataclass(frozen=True)
class Tolerance:
    """How closely one array must match its golden.

    exact: equal; abs: max |d| <= value; scaled: max |d| <= value * max(1, max |ref|);
    feature: max |d| <= value * max |ref|; relative: |d| <= value * max(|ref|, 1) element-wise;
    snr: signal-to-noise ratio of ours against the golden >= value dB (a whole waveform is
    judged, since phase accumulated over an utterance moves single samples by ~1e-3).
    """

    kind: str
    value: float = 0.0

    def accepts(self, diff: np.ndarray, ref: np.ndarray) -> bool:
        worst = float(diff.max(initial=0.0))
        scale = _scale(ref)
        if self.kind == "exact":
            return worst == 0.0
        if self.kind == "abs":
            return worst <= self.value
        if self.kind == "scaled":
            return worst <= self.value * max(1.0, scale)
        if self.kind == "feature":
            return worst <= self.value * scale
        if self.kind == "snr":
            return snr_db(diff, ref) >= self.value
        return bool(np.all(diff <= self.value * np.maximum(np.abs(ref), 1.0)))

    def __str__(self) -> str:
        if self.kind == "exact":
            return "exact"
        if self.kind == "snr":
            return f"snr >= {self.value:g} dB"
        return f"{self.kind} {self.value:g}"


def snr_db(diff: np.ndarray, ref: np.ndarray) -> float:
    """10 log10 of the golden's energy over the error's; inf when there is no error."""
    noise = float(np.sum(np.square(diff, dtype=np.float64)))
    signal = float(np.sum(np.square(ref, dtype=np.float64)))
    if noise == 0.0:
        return math.inf
    if not math.isfinite(noise) or signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def tolerance_for(stage: str, name: str, ref: np.ndarray) -> Tolerance:
    """The fixture README's tolerance for golden array `name` of golden file `stage`."""
    if ref.dtype.kind in "biu" or name.endswith("uv"):
        return Tolerance("exact")  # ids, lengths, stop ids, chunk sizes, voiced decisions
    if name == "tf_logprobs" or name.endswith("_scores"):
        return Tolerance("abs", 1e-4)  # LM log-probabilities
    if stage in ("e2e", "e2e_stream") and name in ("tts_speech", "source"):
        return Tolerance("snr", 40.0)  # waveform and NSF source, end to end
    if name.endswith("speech"):
        return Tolerance("abs", 1e-4)  # waveform of one vocoder stage
    if name.endswith("f0"):
        return Tolerance("relative", 1e-4)
    if stage != "hift" and re.search(r"(^|_)mel$", name):
        return Tolerance("abs", 1e-3)  # flow output after all Euler steps
    if (stage == "frontend" or name.endswith("_feat")) and not name.endswith("embedding"):
        return Tolerance("feature", 1e-4)  # audio, fbank, log-mels, filter banks
    return Tolerance("scaled", 1e-4)


def _scale(ref: np.ndarray) -> float:
    """Largest finite magnitude of `ref` (0 for an empty array)."""
    return float(np.abs(ref[np.isfinite(ref)]).max(initial=0.0))


@dataclass
class Check:
    """One golden array (or json text) compared with ours."""

    name: str
    shape: str
    abs_err: float
    rel_err: float
    rule: str
    passed: bool
    note: str = ""


def compare(stage: str, name: str, ours: np.ndarray | None, ref: np.ndarray) -> Check:
    """Compare our array with the golden one under the README tolerance for it."""
    tol = tolerance_for(stage, name, ref)
    shape = "x".join(str(n) for n in ref.shape) or "scalar"
    if ours is None:
        return Check(name, shape, math.inf, math.inf, str(tol), False, "not produced")
    if ours.shape != ref.shape:
        got = "x".join(str(n) for n in ours.shape) or "scalar"
        return Check(name, shape, math.inf, math.inf, str(tol), False, f"our shape is {got}")
    a, r = ours.astype(np.float64), ref.astype(np.float64)
    with np.errstate(invalid="ignore"):
        # Equal infinities (masked log-probs) count as equal; NaN never does.
        diff = np.nan_to_num(np.where(a == r, 0.0, np.abs(a - r)), nan=math.inf)
    worst = float(diff.max(initial=0.0))
    scale = _scale(r)
    rel = worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)
    note = f"SNR {snr_db(diff, r):.1f} dB" if tol.kind == "snr" else ""
    return Check(name, shape, worst, rel, str(tol), tol.accepts(diff, r), note)


def compare_text(name: str, ours: object, ref: object) -> Check:
    """An exact comparison of json-level values (normalised texts, id lists, counts)."""
    same = ours == ref
    note = "" if same else f"ours {ours!r} != golden {ref!r}"
    err = 0.0 if same else math.inf
    return Check(name, "json", err, err, "exact", same, note)


# --------------------------------------------------------------------------- running

# Golden files in the order they are checked (cheap, model by model, then end to end).
STAGE_ORDER = ("tokens", "frontend", "llm", "flow", "hift", "noise", "e2e", "e2e_stream")


def _runner(name: str) -> Callable[[ParityFixture, Arrays], StageOutput] | None:
    # Imported here: torch and the models load only once a stage runs.
    from cosydesk.devtools import parity_e2e, parity_stages

    if name not in STAGE_ORDER:
        return None
    module = parity_e2e if name.startswith("e2e") else parity_stages
    runner: Callable[[ParityFixture, Arrays], StageOutput] = getattr(module, f"stage_{name}")
    return runner


@dataclass
class StageReport:
    """The verdict on one golden file."""

    name: str
    checks: list[Check]
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and all(check.passed for check in self.checks)


def _as_array(value: Any) -> np.ndarray:
    """Our value as the golden files store it: float32 or int64."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    return array.astype(np.int64 if array.dtype.kind in "biu" else np.float32)


def run_stage(fixture: ParityFixture, name: str, out: Path) -> StageReport:
    """Run one stage, write OUT/<name>.npz, and compare every golden array with ours."""
    golden = fixture.golden(name)
    runner = _runner(name)
    if runner is None:
        return StageReport(name, [], f"cosydesk has no parity stage for golden/{name}.npz")
    try:
        produced = runner(fixture, golden)
    except Exception as exc:  # one broken stage must not hide the verdict on the others
        missing = [compare(name, key, None, ref) for key, ref in golden.items()]
        return StageReport(name, missing, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    ours = {key: _as_array(value) for key, value in produced.arrays.items() if key in golden}
    np.savez(out / f"{name}.npz", **ours)  # type: ignore[arg-type]
    checks = [compare(name, key, ours.get(key), ref) for key, ref in golden.items()]
    checks += [compare_text(f"{name}.json:{k}", *pair) for k, pair in produced.texts.items()]
    return StageReport(name, checks)


def _number(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "inf"


def _worst(checks: list[Check], attr: str) -> str:
    worst = max(checks, key=lambda c: getattr(c, attr), default=None)
    value = getattr(worst, attr, 0.0)
    where = f" ({worst.name})" if worst is not None and value > 0 else ""
    return f"{_number(value)}{where}"


def print_report(report: StageReport, verbose: bool, stream: TextIO) -> None:
    """One line for the stage (largest abs and rel error); with `verbose` one per array."""
    checks = report.checks
    passed = sum(c.passed for c in checks)
    line = f"{report.name:<11} {'PASS' if report.passed else 'FAIL'}  {passed:>3}/{len(checks):<3}"
    line += f" checks  max abs {_worst(checks, 'abs_err'):<34} max rel {_worst(checks, 'rel_err')}"
    if report.error:
        line += f"  error: {report.error.splitlines()[0]}"
    print(line.rstrip(), file=stream)
    if verbose and report.error:
        print(report.error.rstrip(), file=stream)
    for check in checks if verbose else []:
        verdict = "PASS" if check.passed else "FAIL"
        print(
            f"  {report.name + '/' + check.name:<46} {check.shape:<13}"
            f" abs {_number(check.abs_err):>8}  rel {_number(check.rel_err):>8}"
            f"  {check.rule:<15} {verdict}  {check.note}".rstrip(),
            file=stream,
        )


def _fixture_problem(fixture: Path, stages: Sequence[str], names: list[str]) -> str:
    """Why `fixture` cannot be checked, as a sentence; empty when it can."""
    if not names:
        return (
            f"{fixture} is not a parity fixture folder: it needs golden/*.npz beside model/. "
            "Point the command at the folder that holds model/ and golden/."
        )
    if not (fixture / "model").is_dir():
        return f"The parity fixture {fixture} lacks its model/ folder: copy the whole fixture."
    unknown = sorted(set(stages) - set(names))
    if unknown:
        return (
            f"{fixture} has no golden file for {', '.join(unknown)}: choose among "
            f"{', '.join(names)}."
        )
    return ""


def run_parity(
    fixture: Path,
    out: Path,
    *,
    verbose: bool = False,
    stages: Sequence[str] | None = None,
    stream: TextIO | None = None,
    threads: int | None = 1,
) -> int:
    """Run the engine on `fixture`, write our arrays under `out` and compare with the goldens.

    Prints (to `stream`, default stdout) one line per golden file ("stage") with its largest
    absolute and relative errors, one line per array with `verbose`, then a PASS/FAIL summary.
    `stages` limits the run to those golden files. `threads` torch threads are used meanwhile
    (the goldens were recorded with one; None keeps the current setting). Returns 0 when every
    check is within the tolerance, 1 otherwise; an unusable fixture folder gives 1 and a
    sentence on stderr.
    """
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(Path(fixture), Path(out), verbose, stages, stream or sys.stdout)
    finally:
        torch.set_num_threads(before)


def _run(
    fixture: Path, out: Path, verbose: bool, stages: Sequence[str] | None, stream: TextIO
) -> int:
    from cosydesk.devtools.parity_stages import ParityFixture

    golden_dir = fixture / "golden"
    found = [p.stem for p in golden_dir.glob("*.npz")] if golden_dir.is_dir() else []
    names = sorted(found, key=_stage_order)
    problem = _fixture_problem(fixture, stages or (), names)
    checked = ParityFixture(fixture)
    if not problem:
        try:
            checked.folder  # noqa: B018 - checks model/ once, before any stage runs
        except EngineError as exc:
            problem = f"The fixture's model folder cannot be used: {exc}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for name in [n for n in names if not stages or n in stages]:
        reports.append(run_stage(checked, name, out))
        print_report(reports[-1], verbose, stream)
    failed = [r for r in reports if not r.passed]
    if failed:
        listed = "; ".join(f"{r.name} ({_failed_names(r)})" for r in failed)
        print(
            f"FAIL: {len(failed)} of {len(reports)} stages out of tolerance: {listed}", file=stream
        )
        return 1
    total = sum(len(r.checks) for r in reports)
    print(f"PASS: {len(reports)} stages, {total} checks within tolerance", file=stream)
    return 0


def _failed_names(report: StageReport) -> str:
    if report.error:
        return report.error.splitlines()[0]
    names = [c.name for c in report.checks if not c.passed]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _stage_order(name: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER), name)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: `python -m cosydesk.devtools.parity FIXTURE --out OUT`."""
    parser = argparse.ArgumentParser(
        prog="python -m cosydesk.devtools.parity",
        description="Run the engine on a parity fixture folder and compare it with the goldens. "
        "Exit status 0: every stage within the fixture's tolerances; 1: not.",
    )
    parser.add_argument("fixture", type=Path, help="folder holding model/, golden/ and the clip")
    parser.add_argument("--out", type=Path, required=True, help="folder for our .npz outputs")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per array")
    parser.add_argument(
        "--stage", action="append", help="check only this golden file (repeatable), e.g. flow"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1, as the goldens were made)"
    )
    args = parser.parse_args(argv)
    return run_parity(
        args.fixture, args.out, verbose=args.verbose, stages=args.stage, threads=args.threads
    )


if __name__ == "__main__":
    raise SystemExit(main())
