"""Downloading the model folder from a hub: only what is needed, resumable, checked, atomic."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from cosydesk.download import DownloadError, ModelDownload
from cosydesk.engine.errors import Cancelled
from cosydesk.engine.modelfolder import open_model_folder
from tests.fake_hub import UNWANTED, Hub, unreachable_endpoint


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _digest(p) for p in folder.rglob("*") if p.is_file()}


def test_the_folder_arrives_whole_and_opens_as_a_model(hub: Hub, tmp_path: Path) -> None:
    reports: list[tuple[int, int, str]] = []
    dest = tmp_path / "Fun-CosyVoice3-0.5B-2512"
    ModelDownload(dest, endpoint=hub.endpoint).run(lambda *r: reports.append(r))
    got = _files(dest)
    source = {k: v for k, v in _files(hub.root).items() if k not in UNWANTED}
    assert got == source  # every needed file, byte for byte; nothing else, no .part left
    open_model_folder(dest)
    done = [r[0] for r in reports]
    assert done == sorted(done) and reports[-1][:2] == (reports[-1][1], reports[-1][1])
    assert reports[-1][1] == sum((hub.root / name).stat().st_size for name in source)
    assert any("llm.pt" in r[2] for r in reports)


def test_a_dropped_connection_resumes_where_it_stopped(hub: Hub, tmp_path: Path) -> None:
    size = (hub.root / "llm.pt").stat().st_size
    hub.drop_after["llm.pt"] = size // 3
    dest = tmp_path / "model"
    with pytest.raises(DownloadError, match="resumes where it stopped"):
        ModelDownload(dest, endpoint=hub.endpoint).run()
    assert not (dest / "llm.pt").exists()  # never a half-written model file
    assert (dest / "llm.pt.part").stat().st_size == size // 3
    hub.served.clear()
    ModelDownload(dest, endpoint=hub.endpoint).run()
    assert hub.served["llm.pt"] == size - size // 3  # only the rest travelled
    assert _digest(dest / "llm.pt") == _digest(hub.root / "llm.pt")
    open_model_folder(dest)


def test_a_cancelled_download_keeps_what_it_has_and_finishes_later(
    hub: Hub, tmp_path: Path
) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int, message: str) -> None:
        if done > total // 2:
            cancel.set()

    dest = tmp_path / "model"
    with pytest.raises(Cancelled):
        ModelDownload(dest, endpoint=hub.endpoint).run(progress, cancel)
    kept = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert any(name.endswith(".part") for name in kept)  # stopped inside a file
    hub.served.clear()
    ModelDownload(dest, endpoint=hub.endpoint).run()
    assert hub.served and not set(hub.served) & kept  # finished files did not travel again
    open_model_folder(dest)


def test_a_damaged_file_is_deleted_and_named(hub: Hub, tmp_path: Path) -> None:
    hub.corrupt.add("flow.pt")
    dest = tmp_path / "model"
    with pytest.raises(DownloadError, match=r"flow\.pt arrived damaged"):
        ModelDownload(dest, endpoint=hub.endpoint).run()
    assert not (dest / "flow.pt").exists() and not (dest / "flow.pt.part").exists()


def test_a_different_file_in_the_way_is_never_replaced(hub: Hub, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "hift.pt").write_bytes(b"my own file")
    with pytest.raises(DownloadError, match="exists already"):
        ModelDownload(dest, endpoint=hub.endpoint).run()
    assert (dest / "hift.pt").read_bytes() == b"my own file"


def test_a_repository_without_the_model_files_is_refused(hub: Hub, tmp_path: Path) -> None:
    (hub.root / "llm.pt").unlink()
    with pytest.raises(DownloadError, match=r"lacks llm\.pt"):
        ModelDownload(tmp_path / "model", endpoint=hub.endpoint).run()


def test_a_listed_path_outside_the_folder_is_refused(hub: Hub, tmp_path: Path) -> None:
    hub.extra_entries.append({"type": "file", "size": 4, "path": "CosyVoice-BlankEN/../../x"})
    with pytest.raises(DownloadError, match="outside the folder"):
        ModelDownload(tmp_path / "model", endpoint=hub.endpoint).run()
    assert not (tmp_path / "x").exists()


def test_no_network_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"Could not reach .* HF_ENDPOINT"):
        ModelDownload(tmp_path / "model", endpoint=unreachable_endpoint()).run()


def test_hf_endpoint_chooses_the_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example/")
    assert ModelDownload(tmp_path).endpoint == "https://mirror.example"
