"""Downloading the model folder from a hub: only what is needed, checked, atomic, in sentences."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import pytest

from cosydesk.download import DownloadError, ModelDownload
from cosydesk.engine.errors import Cancelled
from cosydesk.engine.folder.modelfolder import open_model_folder
from tests.fake_hub import UNWANTED, Hub, unreachable_endpoint


@pytest.fixture(autouse=True)
def _no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> dict[str, str]:
    """The model files in `folder` (huggingface_hub's own records under .cache left out)."""
    return {
        p.relative_to(folder).as_posix(): _digest(p)
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }


def _source(hub: Hub) -> dict[str, str]:
    return {k: v for k, v in _files(hub.root).items() if k not in UNWANTED}


def _leftovers(folder: Path) -> list[Path]:
    """Partial files anywhere in the folder, huggingface_hub's included."""
    return [p for p in folder.rglob("*") if p.name.endswith((".incomplete", ".part"))]


def test_the_folder_arrives_whole_and_opens_as_a_model(hub: Hub, tmp_path: Path) -> None:
    reports: list[tuple[int, int, str]] = []
    dest = tmp_path / "Fun-CosyVoice3-0.5B-2512"
    ModelDownload(dest, endpoint=hub.endpoint).run(lambda *r: reports.append(r))
    source = _source(hub)
    assert _files(dest) == source  # every needed file, byte for byte; nothing else
    assert _leftovers(dest) == []
    open_model_folder(dest)
    done = [r[0] for r in reports]
    assert done == sorted(done) and reports[-1] == (done[-1], done[-1], "Downloaded")
    assert done[-1] == sum((hub.root / name).stat().st_size for name in source)
    assert any("llm.pt" in r[2] for r in reports)
    assert not set(UNWANTED) & set(hub.served)


def test_a_dropped_connection_resumes_where_it_stopped(hub: Hub, tmp_path: Path) -> None:
    from huggingface_hub.constants import DOWNLOAD_CHUNK_SIZE

    # huggingface_hub keeps what arrived in whole blocks of DOWNLOAD_CHUNK_SIZE bytes.
    size = (hub.root / "llm.pt").stat().st_size
    assert size > DOWNLOAD_CHUNK_SIZE, "the tiny llm.pt must span more than one block"
    drop = (size + DOWNLOAD_CHUNK_SIZE) // 2
    hub.drop_after["llm.pt"] = drop
    dest = tmp_path / "model"
    ModelDownload(dest, endpoint=hub.endpoint).run()
    assert 0 < hub.served["llm.pt"] - drop < size  # after the drop, only a part travelled again
    assert _digest(dest / "llm.pt") == _digest(hub.root / "llm.pt")
    open_model_folder(dest)


def test_a_connection_that_stays_broken_is_named_and_what_arrived_is_kept(
    hub: Hub, tmp_path: Path
) -> None:
    hub.broken.add("llm.pt")
    dest = tmp_path / "model"
    with pytest.raises(DownloadError, match=r"broke while fetching llm\.pt.*arrived are kept"):
        ModelDownload(dest, endpoint=hub.endpoint).run()
    assert not (dest / "llm.pt").exists() and _leftovers(dest) == []
    kept = _files(dest)
    assert kept and all(_source(hub)[name] == digest for name, digest in kept.items())
    hub.broken.clear()
    hub.served.clear()
    ModelDownload(dest, endpoint=hub.endpoint).run()
    assert "llm.pt" in hub.served and not set(hub.served) & set(kept)
    open_model_folder(dest)


def test_a_cancelled_download_keeps_what_it_has_and_finishes_later(
    hub: Hub, tmp_path: Path
) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int, message: str) -> None:
        if done > total // 2:
            cancel.set()

    dest = tmp_path / "model"
    with pytest.raises(Cancelled, match="arrived are kept"):
        ModelDownload(dest, endpoint=hub.endpoint).run(progress, cancel)
    kept = _files(dest)
    assert kept and all(_source(hub)[name] == digest for name, digest in kept.items())
    assert set(kept) != set(_source(hub)) and _leftovers(dest) == []  # stopped before the end
    hub.served.clear()
    ModelDownload(dest, endpoint=hub.endpoint).run()
    assert hub.served and not set(hub.served) & set(kept)  # finished files did not travel again
    open_model_folder(dest)


@pytest.mark.parametrize("name", ["flow.pt", "CosyVoice-BlankEN/vocab.json"])
def test_a_damaged_file_is_deleted_and_named(hub: Hub, tmp_path: Path, name: str) -> None:
    hub.corrupt.add(name)  # an LFS file checked by SHA-256, a plain one by its git blob id
    dest = tmp_path / "model"
    with pytest.raises(DownloadError, match=rf"{name} arrived damaged"):
        ModelDownload(dest, endpoint=hub.endpoint).run()
    assert not (dest / name).exists() and _leftovers(dest) == []


@pytest.mark.parametrize("mine", [b"my own file", None], ids=["other size", "same size"])
def test_a_different_file_in_the_way_is_never_replaced(
    hub: Hub, tmp_path: Path, mine: bytes | None
) -> None:
    dest = tmp_path / "model"
    dest.mkdir()
    mine = mine or bytes((hub.root / "hift.pt").stat().st_size)
    (dest / "hift.pt").write_bytes(mine)
    with pytest.raises(DownloadError, match="exists already"):
        ModelDownload(dest, endpoint=hub.endpoint).run()
    assert (dest / "hift.pt").read_bytes() == mine


def test_the_hubs_own_file_already_there_is_kept_and_not_fetched(hub: Hub, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    dest.mkdir()
    shutil.copy2(hub.root / "llm.pt", dest / "llm.pt")  # e.g. fetched by hand earlier
    ModelDownload(dest, endpoint=hub.endpoint).run()
    assert "llm.pt" not in hub.served and _files(dest) == _source(hub)


def test_a_repository_without_the_model_files_is_refused(hub: Hub, tmp_path: Path) -> None:
    (hub.root / "llm.pt").unlink()
    with pytest.raises(DownloadError, match=r"lacks llm\.pt"):
        ModelDownload(tmp_path / "model", endpoint=hub.endpoint).run()


def test_a_listed_path_outside_the_folder_is_refused(hub: Hub, tmp_path: Path) -> None:
    hub.extra_siblings.append({"rfilename": "CosyVoice-BlankEN/../../x", "size": 4})
    with pytest.raises(DownloadError, match="outside the folder"):
        ModelDownload(tmp_path / "model", endpoint=hub.endpoint).run()
    assert not (tmp_path / "x").exists() and not hub.served


def test_too_little_disk_space_is_said_before_anything_travels(hub: Hub, tmp_path: Path) -> None:
    hub.extra_siblings.append({"rfilename": "CosyVoice-BlankEN/huge.bin", "size": 10**18})
    with pytest.raises(DownloadError, match=r"needs .* GB more .* free some space"):
        ModelDownload(tmp_path / "model", endpoint=hub.endpoint).run()
    assert not hub.served


def test_an_http_error_is_named_with_its_status(hub: Hub, tmp_path: Path) -> None:
    hub.status["flow.pt"] = 503
    with pytest.raises(DownloadError, match=r"answered HTTP 503 while fetching flow\.pt"):
        ModelDownload(tmp_path / "model", endpoint=hub.endpoint).run()


def test_a_gated_model_asks_for_a_token_and_hf_token_opens_it(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.token = "hf_test_token"
    dest = tmp_path / "model"
    with pytest.raises(DownloadError, match=r"accept its terms.*HF_TOKEN"):
        ModelDownload(dest, endpoint=hub.endpoint).run()
    monkeypatch.setenv("HF_TOKEN", hub.token)
    ModelDownload(dest, endpoint=hub.endpoint).run()
    open_model_folder(dest)
    sent = {path: auth for path, auth in hub.authorizations if auth}
    assert sent and set(sent.values()) == {"Bearer hf_test_token"}
    assert not any(path.startswith("/cdn/") for path in sent)  # the CDN never sees the token


def test_no_network_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"Could not reach .* HF_ENDPOINT"):
        ModelDownload(tmp_path / "model", endpoint=unreachable_endpoint()).run()


def test_hf_endpoint_chooses_the_mirror(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint + "/")
    ModelDownload(tmp_path / "model").run()
    assert hub.served
    open_model_folder(tmp_path / "model")
