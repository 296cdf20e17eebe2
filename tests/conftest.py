"""Test setup shared by the whole suite: offscreen Qt, one torch thread, the parity fixtures."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep the tests away from the user's real settings, voices and logs.
os.environ.setdefault("COSYDESK_TESTING", "1")

REPO = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path:
    return Path(os.environ.get("COSYDESK_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """The dev parity fixture (`../shared/parity/cosyvoice3-tiny`); skips where it is absent."""
    path = Path(os.environ.get("COSYDESK_PARITY_DIR", _shared_dir() / "parity" / "cosyvoice3-tiny"))
    if not (path / "golden").is_dir() or not (path / "model").is_dir():
        pytest.skip(f"parity fixtures not found at {path} (they live beside the repository)")
    return path


@pytest.fixture(scope="session")
def official_yaml() -> Path:
    """The full official cosyvoice3.yaml kept beside the fixtures; skips where it is absent."""
    path = _shared_dir() / "parity" / "official-yaml" / "cosyvoice3.yaml"
    if not path.is_file():
        pytest.skip(f"official yaml not found at {path} (it lives beside the repository)")
    return path


@pytest.fixture
def unprivileged() -> list[str]:
    """A command prefix under which file permissions bind even when the suite runs as root.

    Empty for an ordinary user; as root, `setpriv` drops the capabilities that bypass
    permissions (the process stays root, so it can still run this Python). Skips where neither
    works, since an unreadable file cannot be made for root otherwise.
    """
    if sys.platform == "win32":
        pytest.skip("POSIX file permissions")
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("the tests run as root and setpriv (util-linux) is missing")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


@pytest.fixture(autouse=True)
def _private_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own config and data folders: the user's real files are never read."""
    root = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("COSYDESK_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("COSYDESK_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("COSYDESK_NO_CRASH_DIALOG", "1")
    for name in ("QUANTIZATION_ENABLED", "QUANTIZATION_BITS", "COSYDESK_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    # No test fetches the starter voice from GitHub: the model downloads find nobody there.
    from tests.fake_hub import unreachable_endpoint

    monkeypatch.setenv("COSYDESK_STARTER_VOICES_URL", unreachable_endpoint())


@pytest.fixture
def redeclare(monkeypatch: pytest.MonkeyPatch):
    """Change one setting's declaration for the test: `redeclare("speed", maximum=3.0)` returns
    the new Option. What is built from the declarations (the settings dialog, the command line,
    the server, the engine's checks) must follow it; nothing may hold a copy of its own."""
    from dataclasses import replace

    from cosydesk import config

    def change(name: str, **fields):
        new = replace(config.option(name), **fields)
        monkeypatch.setitem(config.OPTIONS_BY_NAME, name, new)
        options = tuple(new if o.name == name else o for o in config.OPTIONS)
        monkeypatch.setattr(config, "OPTIONS", options)
        return new

    return change


@pytest.fixture(autouse=True, scope="session")
def _torch_one_thread() -> None:
    """Parity goldens were made with one torch thread; it also keeps CI's two cores calm."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cuda = False
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        pass
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model folder in the official format, built once per test session."""
    from cosydesk.devtools.tinymodel import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "Fun-CosyVoice3-0.5B-2512")


@pytest.fixture(scope="session")
def cpu_engine(tiny_model: Path) -> Iterator:
    """The tiny model loaded once per test run on the CPU, unquantised, for every test that
    only speaks with an engine. Tests may monkeypatch it (undone after each test); a test that
    unloads, reloads or counts what an engine holds loads its own."""
    from cosydesk.engine.engine import Engine
    from cosydesk.engine.types import EngineOptions

    engine = Engine.load(tiny_model, EngineOptions(device="cpu", quantization="none"))
    yield engine
    engine.unload()


@pytest.fixture
def hub(tiny_model: Path, tmp_path: Path) -> Iterator:
    """The tiny model folder served as the official hub repository, plus files cosydesk skips."""
    import shutil

    from cosydesk.engine.folder.modelfolder import MODEL_ID
    from tests.fake_hub import UNWANTED, fake_hub

    repo = tmp_path / "repo"
    shutil.copytree(tiny_model, repo)
    for name in UNWANTED:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(b"not needed " * 500)
    with fake_hub(repo, MODEL_ID) as served:
        yield served


@pytest.fixture
def starter(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A local server in the place of upstream's raw files, serving a starter clip whose hash
    the catalogue records (COSYDESK_STARTER_VOICES_URL points at it)."""
    from dataclasses import replace

    from cosydesk import starter_voices
    from tests.fake_starter import digest, starter_server, tone_wav

    real = starter_voices.STARTER_VOICES[0]
    clip = tone_wav()
    voice = replace(real, sha256=digest(clip), size=len(clip))
    monkeypatch.setattr(starter_voices, "STARTER_VOICES", (voice,))
    with starter_server({real.path: clip}) as served:
        monkeypatch.setenv("COSYDESK_STARTER_VOICES_URL", served.url)
        yield served
