"""The parity command: every stage of the dev fixture within its README's tolerances, every
stage running on a fixture of other dimensions, and tampered goldens caught."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from cosydesk.devtools.parity import compare, run_parity, run_stage
from cosydesk.devtools.parity_stages import ParityFixture
from cosydesk.devtools.tinymodel import build_tiny_model
from cosydesk.engine.prompt.audio_features import resample

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ParityRun:
    code: int
    text: str
    out: Path


@pytest.fixture(scope="module")
def parity_run(parity_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ParityRun:
    """One verbose run over the whole dev fixture, shared by the tests below."""
    out = tmp_path_factory.mktemp("parity-out")
    text = io.StringIO()
    code = run_parity(parity_dir, out, verbose=True, stream=text)
    return ParityRun(code, text.getvalue(), out)


def golden_files(parity_dir: Path) -> list[Path]:
    return sorted((parity_dir / "golden").glob("*.npz"))


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def readme_limit(stage: str, name: str, ref: np.ndarray) -> tuple[str, float]:
    """The fixture README's tolerance, written out again independently of the tool's table."""
    if ref.dtype.kind in "iu" or name.endswith("uv"):
        return "exact", 0.0  # token ids, lengths, stop ids, chunk sizes, voiced flags
    if name == "tf_logprobs" or name.endswith("top5_scores"):
        return "abs", 1e-4
    if stage in ("e2e", "e2e_stream") and name in ("tts_speech", "source"):
        return "snr", 40.0  # judged as a whole waveform, not sample by sample
    if name in ("final_speech", "stream_speech"):
        return "abs", 1e-4
    if name.endswith("f0"):
        return "rel", 1e-4
    if stage in ("flow", "e2e", "e2e_stream") and name.endswith("mel"):
        return "abs", 1e-3
    if (stage == "frontend" and not name.endswith("embedding")) or name == "prompt_speech_feat":
        return "abs", 1e-4 * float(np.abs(ref).max())
    return "abs", 1e-4 * max(1.0, float(np.abs(ref).max(initial=0.0)))


# ------------------------------------------------------------------ the dev fixture


def test_every_stage_passes_on_the_dev_fixture(parity_run: ParityRun, parity_dir: Path) -> None:
    lines = parity_run.text.splitlines()
    stage_lines = [line for line in lines if not line.startswith(" ")]
    stages = [path.stem for path in golden_files(parity_dir)]
    for stage in stages:
        (line,) = [x for x in stage_lines if x.split()[0] == stage]
        assert line.split()[1] == "PASS", line
        assert "max abs" in line and "max rel" in line
    assert stage_lines[-1].startswith(f"PASS: {len(stages)} stages"), stage_lines[-1]
    assert parity_run.code == 0


def test_outputs_mirror_every_golden_array(parity_run: ParityRun, parity_dir: Path) -> None:
    for path in golden_files(parity_dir):
        golden, ours = load(path), load(parity_run.out / path.name)
        assert sorted(ours) == sorted(golden), path.name
        for key, ref in golden.items():
            assert (ours[key].shape, ours[key].dtype) == (ref.shape, ref.dtype), (
                f"{path.stem}/{key}"
            )


@pytest.mark.parametrize(
    "stage", ["tokens", "frontend", "llm", "flow", "hift", "noise", "e2e", "e2e_stream"]
)
def test_every_array_is_within_the_readme_tolerance(
    parity_run: ParityRun, parity_dir: Path, stage: str
) -> None:
    golden = load(parity_dir / "golden" / f"{stage}.npz")
    ours = load(parity_run.out / f"{stage}.npz")
    for name, ref in golden.items():
        kind, limit = readme_limit(stage, name, ref)
        got = ours[name]
        if kind == "exact":
            np.testing.assert_array_equal(got, ref, err_msg=f"{stage}/{name}")
            continue
        diff = np.abs(got.astype(np.float64) - ref)
        if kind == "snr":
            noise = float(np.sum(diff**2))
            energy = float(np.sum(ref.astype(np.float64) ** 2))
            snr = math.inf if noise == 0 else 10 * math.log10(energy / noise)
            assert snr >= limit, f"{stage}/{name}: SNR {snr:.1f} dB < {limit:g} dB"
            continue
        if kind == "rel":
            worst = float((diff / np.maximum(np.abs(ref), 1.0)).max(initial=0.0))
        else:
            worst = float(diff.max(initial=0.0))
        assert worst <= limit, f"{stage}/{name}: error {worst:.3g} > {limit:.3g}"


def test_verbose_output_has_a_line_per_array(parity_run: ParityRun, parity_dir: Path) -> None:
    lines = parity_run.text.splitlines()
    for path in golden_files(parity_dir):
        for name in load(path):
            (line,) = [x for x in lines if x.split()[:1] == [f"{path.stem}/{name}"]]
            assert [w for w in line.split() if w in ("PASS", "FAIL")] == ["PASS"], line
    (mel_line,) = [x for x in lines if x.split()[0] == "flow/offline_mel"]
    assert "abs 0.001" in mel_line
    (speech_line,) = [x for x in lines if x.split()[0] == "e2e/tts_speech"]
    assert "snr >= 40 dB" in speech_line and "SNR" in speech_line


# ------------------------------------------------------------------ other fixtures


@pytest.fixture
def foreign_fixture(parity_dir: Path, tmp_path: Path) -> Path:
    """A fixture the tool was not written against: our own tiny folder (other widths, depths and
    tokenizer), a 16 kHz clip of another length, other texts; the dev goldens as templates."""
    fixture = tmp_path / "foreign"
    build_tiny_model(fixture / "model", seed=3)
    shutil.copytree(parity_dir / "golden", fixture / "golden")
    clip, rate = soundfile.read(parity_dir / "prompt.wav", dtype="float32")
    clip_16k = resample(torch.from_numpy(clip[: int(2.3 * rate)]), rate, 16000)
    soundfile.write(fixture / "clip.wav", 0.8 * clip_16k.numpy(), 16000)
    request = {
        "tts_text": "A different sentence, 12 words or so, then a stop",
        "prompt_text": "You are a helpful assistant.<|endofprompt|>Another transcript.",
        "prompt_wav": "clip.wav",
        "speed": 1.0,
    }
    (fixture / "golden" / "e2e.json").write_text(json.dumps(request))
    # Noise long enough for whatever this random LM says (at most 20 tokens per text token).
    generator = torch.Generator().manual_seed(1)
    noise = load(fixture / "golden" / "noise.npz")
    noise["nsf_sine_noise"] = torch.rand(1, 300_000, 9, generator=generator).numpy()
    np.savez(fixture / "golden" / "noise.npz", **noise)  # type: ignore[arg-type]
    return fixture


def test_every_stage_runs_on_a_fixture_of_other_dimensions(
    foreign_fixture: Path, tmp_path: Path
) -> None:
    fixture = ParityFixture(foreign_fixture)
    assert fixture.lm.speech_embedding.weight.shape[1] != 56  # not the dev fixture's width
    out = tmp_path / "out"
    out.mkdir()
    reports = {
        path.stem: run_stage(fixture, path.stem, out) for path in golden_files(foreign_fixture)
    }
    assert {name: r.error.splitlines()[:1] for name, r in reports.items() if r.error} == {}
    # The dev model's goldens do not fit this model, except what does not depend on it.
    assert reports["noise"].passed and not reports["llm"].passed
    e2e = load(out / "e2e.npz")
    assert e2e["prompt_speech_token"].shape[1] * 2 == e2e["prompt_speech_feat"].shape[1]
    # 2 mel frames per token, 480 samples per frame.
    assert e2e["tts_speech"].shape[1] == 480 * e2e["mel"].shape[-1]
    assert e2e["mel"].shape[-1] == 2 * e2e["flow_tokens"].shape[1] > 0
    assert e2e["cfm_noise_len"] == e2e["flow_mu"].shape[-1]


# ------------------------------------------------------------------ catching mismatches


@pytest.fixture
def tampered_fixture(parity_dir: Path, tmp_path: Path) -> Path:
    """A fixture folder sharing the dev model and clip, with its own copy of the goldens."""
    fixture = tmp_path / "fixture"
    fixture.mkdir()
    (fixture / "model").symlink_to(parity_dir / "model", target_is_directory=True)
    (fixture / "prompt.wav").symlink_to(parity_dir / "prompt.wav")
    shutil.copytree(parity_dir / "golden", fixture / "golden")
    return fixture


def tamper(path: Path, name: str, change: Callable[[np.ndarray], np.ndarray]) -> None:
    arrays = load(path)
    arrays[name] = change(arrays[name].copy())
    np.savez(path, **arrays)  # type: ignore[arg-type]


def test_command_exits_1_when_a_golden_mel_is_tampered_with(
    tampered_fixture: Path, parity_dir: Path, tmp_path: Path
) -> None:
    def nudge(mel: np.ndarray) -> np.ndarray:
        mel[0, 40, 70] += 0.01  # ten times the tolerance on the flow's mel
        return mel

    tamper(tampered_fixture / "golden" / "flow.npz", "offline_mel", nudge)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = ["-m", "cosydesk.devtools.parity", str(tampered_fixture), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, *command, "--stage", "flow", "--verbose"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    (stage,) = [line for line in lines if line.split()[:1] == ["flow"]]
    assert stage.split()[1] == "FAIL" and "offline_mel" in stage
    (array,) = [line for line in lines if line.split()[:1] == ["flow/offline_mel"]]
    assert array.split()[-1] == "FAIL"
    # Only the tampered array fails; the other arrays of the stage still match.
    assert sum(line.split()[-1] == "FAIL" for line in lines if line.startswith("  ")) == 1
    assert lines[-1].startswith("FAIL: 1 of 1 stages") and "offline_mel" in lines[-1]
    # Our output is written all the same, and it matches the untouched golden.
    ours = load(out / "flow.npz")["offline_mel"]
    assert np.abs(ours - load(parity_dir / "golden" / "flow.npz")["offline_mel"]).max() <= 1e-3


def test_a_changed_token_id_fails_the_tokens_stage(tampered_fixture: Path, tmp_path: Path) -> None:
    def shift(ids: np.ndarray) -> np.ndarray:
        ids[2] += 1
        return ids

    tamper(tampered_fixture / "golden" / "tokens.npz", "ids_03", shift)
    text = io.StringIO()
    code = run_parity(tampered_fixture, tmp_path / "out", stages=["tokens"], stream=text)
    assert code == 1
    assert text.getvalue().splitlines()[0].split()[:2] == ["tokens", "FAIL"]
    assert "ids_03" in text.getvalue().splitlines()[-1]


def test_a_golden_file_without_a_stage_fails(tampered_fixture: Path, tmp_path: Path) -> None:
    np.savez(tampered_fixture / "golden" / "instruct.npz", speech=np.zeros(3, np.float32))
    text = io.StringIO()
    code = run_parity(tampered_fixture, tmp_path / "out", stages=["instruct"], stream=text)
    assert code == 1
    assert "no parity stage for golden/instruct.npz" in text.getvalue()


def test_a_folder_that_is_no_fixture_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_parity(tmp_path, tmp_path / "out") == 1
    assert "is not a parity fixture folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unknown_stage_name_is_refused(
    parity_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_parity(parity_dir, tmp_path / "out", stages=["flwo"]) == 1
    assert "no golden file for flwo" in capsys.readouterr().err


def test_comparison_treats_nan_shape_and_infinities_strictly() -> None:
    ref = np.array([0.5, -math.inf, 2.0], dtype=np.float32)
    assert compare("llm", "greedyA_top5_scores", ref.copy(), ref).passed
    assert not compare("llm", "greedyA_top5_scores", np.array([0.5, 0.0, 2.0]), ref).passed
    assert not compare("hift", "final_source", np.array([0.5, np.nan, 2.0]), ref).passed
    assert not compare("hift", "final_source", ref[:2], ref).passed
    assert not compare("llm", "greedyA_ids", None, np.arange(3)).passed
    # The per-stage rule scales with the reference's magnitude, never below 1.
    big = np.array([100.0], dtype=np.float32)
    assert compare("flow", "offline_mu", big + 0.009, big).passed
    assert not compare("flow", "offline_mu", big + 0.011, big).passed


def test_end_to_end_waveforms_are_judged_by_snr() -> None:
    t = np.arange(24000, dtype=np.float64) / 24000
    ref = (0.5 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)[None]
    # Machine noise: every sample moved by up to 2e-3 (two torch threads do that) still passes.
    jitter = np.random.default_rng(0).uniform(-2e-3, 2e-3, ref.shape).astype(np.float32)
    check = compare("e2e", "tts_speech", ref + jitter, ref)
    assert check.passed and check.abs_err > 1e-3 and "SNR" in check.note
    # Real defects: a flipped sign in one part, a frame of 480 samples dropped.
    flipped = ref.copy()
    flipped[:, 12000:] *= -1
    assert not compare("e2e", "tts_speech", flipped, ref).passed
    dropped = np.concatenate([ref[:, :4800], ref[:, 5280:], np.zeros((1, 480), np.float32)], 1)
    assert not compare("e2e_stream", "tts_speech", dropped, ref).passed
    # One vocoder stage on recorded inputs keeps its per-sample bound.
    assert not compare("hift", "final_speech", ref + jitter, ref).passed
