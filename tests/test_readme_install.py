"""Every command the README names works after the README's install, which has none of the
development extras. The commands run here in an interpreter that sees site-packages without
the packages only those extras bring (`cosydesk bench` once failed on `No module named
'onnx'`, a package only the dev extra installed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.helpers import write_clip

REPO = Path(__file__).resolve().parent.parent


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: list[str], extras: frozenset[str] = frozenset()) -> set[str]:
    """Distributions (normalised names) installed because `names` with `extras` were asked for."""
    seen: set[str] = set()
    todo = [(name, extras) for name in names]
    while todo:
        name, wanted = todo.pop()
        if _key(name) in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (a platform marker left it out)
        seen.add(_key(name))
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    return seen


def _top_level(dist: metadata.Distribution) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    names = set()
    for file in dist.files or []:
        first = file.parts[0] if file.parts else ""
        if first and not first.endswith((".dist-info", ".data")) and first != "..":
            names.add(first.removesuffix(".py"))
    return names


def dev_only() -> tuple[set[str], set[str]]:
    """(distributions, top-level modules) that the dev and server extras add to the install."""
    base = _closure(["cosydesk"])
    extra = _closure(["cosydesk"], frozenset({"dev", "server"})) - base
    modules: set[str] = set()
    for key in extra:
        modules |= _top_level(metadata.distribution(key))
    shared = set().union(*(_top_level(metadata.distribution(key)) for key in base))
    return extra, modules - shared - {"__pycache__", "cosydesk"}


def readme_site(tmp_path: Path) -> Path:
    """site-packages as links, less the dev-only packages: what the README's install leaves."""
    dists, modules = dev_only()
    assert "pytest" in modules and "cosydesk" not in modules
    site = Path(str(metadata.distribution("numpy").locate_file("")))
    farm = tmp_path / "site-packages"
    if farm.is_dir():  # made by an earlier run of the same test
        return farm
    farm.mkdir()
    for entry in site.iterdir():
        name = entry.name
        if name.endswith((".dist-info", ".egg-info")):
            if _key(name.split("-")[0]) in dists | {"cosydesk"}:
                continue
        elif name.endswith(".pth") or name.removesuffix(".py").split(".")[0] in modules:
            continue
        (farm / name).symlink_to(entry)
    return farm


def run_as_installed(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cosydesk ARGS` in an interpreter without site (no .pth) that sees `readme_site`."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO}{os.pathsep}{readme_site(tmp_path)}",
        "COSYDESK_CONFIG_DIR": str(tmp_path / "config"),
        "COSYDESK_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-S", "-m", "cosydesk", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_commands_the_readme_names_are_all_tested_here() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"^\s+cosydesk (\w+)", readme, re.MULTILINE))
    assert named == {"say", "download", "voices", "bench", "parity", "serve"}, named


def test_bench_runs_after_the_readme_install(tmp_path: Path) -> None:
    args = ["bench", "--dims", "tiny", "--device", "cpu", "--modes", "none"]
    done = run_as_installed(
        tmp_path, *args, "--tokens", "10", "--repeat", "1", "--long-chars", "300"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(line.startswith("| none") for line in done.stdout.splitlines()), done.stdout
    assert re.search(r"long text \(none\): \d+ characters in \d+ parts", done.stdout), done.stdout


def test_voices_runs_after_the_readme_install(tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    t = np.arange(48000) / 16000
    soundfile.write(tmp_path / "clip.wav", 0.3 * np.sin(2 * np.pi * 150 * t), 16000)
    added = run_as_installed(
        tmp_path, "voices", "add", "Narrator", "clip.wav", "--transcript", "Words in the clip."
    )
    assert added.returncode == 0, added.stderr[-3000:]
    listed = run_as_installed(tmp_path, "voices", "list")
    assert listed.stdout == "* Narrator  (3.0 s)  Words in the clip.\n", listed.stderr[-3000:]


def test_say_runs_after_the_readme_install(tmp_path: Path, tiny_model: Path) -> None:
    import soundfile

    write_clip(tmp_path / "clip.wav", 3, freq=150, rate=16000, tremolo=False)
    done = run_as_installed(
        tmp_path,
        *("say", "Hello there.", "-o", "out.wav", "--model", str(tiny_model), "--device", "cpu"),
        *("--prompt-wav", "clip.wav", "--prompt-text", "Words in the clip."),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert soundfile.info(tmp_path / "out.wav").samplerate == 24000


@pytest.mark.parametrize("command", ["download", "parity", "serve"])
def test_the_other_commands_start_after_the_readme_install(tmp_path: Path, command: str) -> None:
    """`download` and `parity` need the network or a fixture, `serve` the server extra that the
    README installs for it: each must at least start and explain itself."""
    done = run_as_installed(tmp_path, command, "--help")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage: cosydesk" in done.stdout
