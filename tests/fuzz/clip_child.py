"""Clip cases in a process of their own, so that its memory can be measured and bounded.

    python -m tests.fuzz.clip_child MODEL_DIR WORK_DIR FIRST COUNT

loads the tiny model, then for each case number puts `clip_case(Random(number))` on disk and
adds it as a voice (the clip check, the resampler, the features; `VoiceLibrary.add` with the
engine, as the app's "Add voice" does). Where the clip can be read at all, its first seconds are
also resampled to 16 and 24 kHz whatever its rate. One JSON line per case on stdout: the
outcome ("added", "refused" with the message, "escaped" with the exception), what went wrong
besides ("problems"), and the growth of the peak resident memory during the case, in bytes.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from tests.fuzz.clips import ClipCase, clip_case

TRANSCRIPT = "Hello there, this is a test of my voice."
# Only this much of a clip goes through the extra resampling (a 30 s clip already does in add).
RESAMPLE_SECONDS = 0.5


def _status(field: str) -> int:
    """A memory figure of this process from /proc (VmRSS, VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> None:
    """Start VmHWM again from the current resident size (Linux 4.0 and later)."""
    Path("/proc/self/clear_refs").write_text("5")


def place(case: ClipCase, folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / case.name
    if case.node == "folder":
        path.mkdir()
    elif case.node == "fifo":
        os.mkfifo(path)
    elif case.node == "file":
        assert case.content is not None
        path.write_bytes(case.content)
        if case.sparse_size:
            os.truncate(path, case.sparse_size)
    return path


def _fingerprint(path: Path) -> tuple[Any, ...]:
    """What must not change about the clip: its kind, size and (when small) its bytes."""
    if not path.exists() and not path.is_symlink():
        return ("missing",)
    stat = path.lstat()
    small = path.is_file() and stat.st_size < 64 << 20
    return (stat.st_mode, stat.st_size, stat.st_mtime_ns, path.read_bytes() if small else None)


def _resample_problem(path: Path) -> str | None:
    """Resample the clip's first seconds to 16 and 24 kHz; what is wrong with the result."""
    import soundfile
    import torch

    from cosydesk.engine.prompt import audio_features

    try:
        with soundfile.SoundFile(str(path)) as sound:
            rate = int(sound.samplerate)
            samples = sound.read(int(RESAMPLE_SECONDS * rate), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None  # unreadable: add said so already
    wav = torch.from_numpy(samples.T.copy()).mean(0, True)
    for target in (16000, 24000):
        out = audio_features.resample(wav, rate, target)
        expected = math.ceil(wav.shape[-1] * target / rate)
        if out.shape != (1, expected):
            return f"{rate} -> {target} Hz gave {tuple(out.shape)}, not (1, {expected})"
        if bool(wav.isfinite().all()) and not bool(out.isfinite().all()):
            return f"{rate} -> {target} Hz made finite samples infinite or NaN"
        if out.numel() and float(out.abs().max()) > 4 * max(float(wav.abs().max()), 1e-6) + 1:
            return f"{rate} -> {target} Hz amplified the clip"
    return None


def run_case(number: int, engine: Any, library: Any, work: Path) -> dict[str, Any]:
    from cosydesk.engine.errors import EngineError

    started = time.perf_counter()
    case = clip_case(random.Random(number))
    made = time.perf_counter()
    folder = work / "in" / str(number)
    path = place(case, folder)
    before = _fingerprint(path)
    name = f"Clip {number}"
    problems: list[str] = []
    _reset_peak()
    start = _status("VmRSS")
    record: dict[str, Any] = {"case": number, "description": case.description}
    try:
        info = library.add(name, path, TRANSCRIPT, engine)
    except EngineError as exc:
        record.update(outcome="refused", message=str(exc))
        if name in library:
            problems.append("a refused clip left a voice behind")
    except Exception as exc:  # the point of the run: nothing else may come out
        record.update(outcome="escaped", message=f"{type(exc).__name__}: {exc}")
        record["traceback"] = traceback.format_exc(limit=-4)
    else:
        record["outcome"] = "added"
        features = library.get(name, engine).features
        if not all(bool(t.isfinite().all()) for t in (features.speech_feat, features.embedding)):
            problems.append("the voice's features hold NaN or infinity")
        if info.duration_s > 30.0 or info.duration_s < 0.5:
            problems.append(f"a clip of {info.duration_s} s was taken")
        library.delete(name)
    if case.node == "file":
        try:
            problem = _resample_problem(path)
        except Exception as exc:
            problem = f"resampling escaped as {type(exc).__name__}: {exc}"
        if problem is not None:
            problems.append(problem)
    record["peak"] = _status("VmHWM")
    record["peak_growth"] = record["peak"] - start
    if _fingerprint(path) != before:
        problems.append("the clip file changed")
    leftovers = [p.name for p in library.root.glob(".*")]
    if leftovers:
        problems.append(f"the library holds {leftovers}")
    record["problems"] = problems
    record["seconds"] = [round(made - started, 3), round(time.perf_counter() - made, 3)]
    shutil.rmtree(folder, ignore_errors=True)
    return record


def main(argv: list[str]) -> int:
    import torch

    from cosydesk.engine.engine import Engine
    from cosydesk.engine.types import EngineOptions
    from cosydesk.engine.voices import VoiceLibrary

    model, work = Path(argv[0]), Path(argv[1])
    first, count = int(argv[2]), int(argv[3])
    torch.set_num_threads(1)
    engine = Engine.load(model, EngineOptions(device="cpu", quantization="none"))
    library = VoiceLibrary(work / "voices")
    for number in range(first, first + count):
        print(json.dumps(run_case(number, engine, library, work)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
