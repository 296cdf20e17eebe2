"""Download the official model folder from Hugging Face (or a mirror), resumable and checked.

Only the files cosydesk reads are fetched, not the whole repository. Each one arrives in a
`.part` file beside its final place, is resumed with an HTTP range after an interruption, is
checked against the SHA-256 the hub publishes for it, and is then renamed into place, so a
folder never holds a half-written model file. A file already present with the right size is
kept; one that differs is never replaced: the download stops and says so.

`HF_ENDPOINT` selects a mirror, as it does for Hugging Face's own tools. Qt-free: the CLI and
the first-run dialog both drive `ModelDownload`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.engine.modelfolder import MODEL_ID, REQUIRED_FILES, TOKENIZER_DIR

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
BLOCK = 1 << 20
TIMEOUT_S = 30

# progress(bytes done, bytes in all, what is happening now)
DownloadProgress = Callable[[int, int, str], None]


class DownloadError(EngineError):
    """The download cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the repository root, "/"-separated
    size: int
    sha256: str | None  # published for large (LFS) files


def endpoint_from_env(environ: Any = os.environ) -> str:
    return str(environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def wanted(path: str) -> bool:
    """Whether cosydesk reads this file of the repository."""
    return path in REQUIRED_FILES or path.startswith(f"{TOKENIZER_DIR}/")


class ModelDownload:
    """Fetches the files of `repo` that cosydesk needs into the folder `dest`."""

    def __init__(
        self,
        dest: Path,
        *,
        endpoint: str | None = None,
        repo: str = MODEL_ID,
        revision: str = "main",
    ) -> None:
        self.dest = Path(dest)
        self.endpoint = (endpoint or endpoint_from_env()).rstrip("/")
        self.repo = repo
        self.revision = revision

    # -- what to fetch ------------------------------------------------------------------------
    def plan(self) -> list[RemoteFile]:
        """The files to fetch, from the hub's listing of the repository."""
        quoted = urllib.parse.quote(self.revision, safe="")
        url = f"{self.endpoint}/api/models/{self.repo}/tree/{quoted}?recursive=true"
        entries: list[dict[str, Any]] = []
        while url:
            with self._open(url) as response:
                try:
                    page = json.loads(response.read().decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise DownloadError(
                        f"{self.endpoint} did not answer with a file list ({exc}): check "
                        "HF_ENDPOINT, or download the folder by hand."
                    ) from exc
                url = _next_page(response.headers.get("Link", ""))
            if not isinstance(page, list):
                raise DownloadError(
                    f"{self.endpoint} did not answer with a file list: check HF_ENDPOINT."
                )
            entries += [e for e in page if isinstance(e, dict)]
        files = [
            RemoteFile(
                str(e["path"]),
                int(e.get("size", 0)),
                (e.get("lfs") or {}).get("oid") or (e.get("lfs") or {}).get("sha256"),
            )
            for e in entries
            if e.get("type") == "file" and wanted(str(e.get("path", "")))
        ]
        missing = [name for name in REQUIRED_FILES if name not in {f.path for f in files}]
        if missing:
            raise DownloadError(
                f"{self.repo} on {self.endpoint} lacks {', '.join(missing)}: it is not the "
                "CosyVoice3 model; check the model id and HF_ENDPOINT."
            )
        return files

    # -- fetching -----------------------------------------------------------------------------
    def run(
        self,
        progress: DownloadProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Fetch every planned file; returns the folder. Raises DownloadError, Cancelled.

        Safe to run again after a failure or a cancel: finished files are kept and a partial
        file resumes where it stopped.
        """
        files = self.plan()
        total = sum(f.size for f in files)
        todo = [f for f in files if not self._present(f)]
        done = total - sum(f.size for f in todo)
        self._check_space(sum(f.size - self._partial_size(f) for f in todo))
        for remote in todo:
            _stop_if(cancel)
            base = done

            def report(got: int, name: str = remote.path, base: int = base) -> None:
                if progress is not None:
                    progress(base + got, total, f"Downloading {name}")

            self._fetch(remote, report, cancel)
            done += remote.size
        if progress is not None:
            progress(total, total, "Downloaded")
        return self.dest

    def _target(self, remote: RemoteFile) -> Path:
        target = (self.dest / remote.path).resolve()
        if self.dest.resolve() not in target.parents:
            raise DownloadError(f"The file list names a path outside the folder: {remote.path}.")
        return target

    def _present(self, remote: RemoteFile) -> bool:
        target = self._target(remote)
        if not target.exists():
            return False
        if target.is_file() and target.stat().st_size == remote.size:
            return True
        raise DownloadError(
            f"{target} exists already and is not the file of the download; it is left as it "
            "is. Choose an empty folder, or move that file away and download again."
        )

    def _partial_size(self, remote: RemoteFile) -> int:
        part = _part(self._target(remote))
        return part.stat().st_size if part.is_file() else 0

    def _check_space(self, needed: int) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.dest).free
        if needed > free:
            raise DownloadError(
                f"The download needs {needed / 1e9:.1f} GB more but {self.dest} has "
                f"{free / 1e9:.1f} GB free: free some space or choose another folder."
            )

    def _fetch(
        self, remote: RemoteFile, report: Callable[[int], None], cancel: threading.Event | None
    ) -> None:
        target = self._target(remote)
        part = _part(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.is_file() else 0
        if have > remote.size:
            part.unlink()
            have = 0
        if have < remote.size or remote.size == 0:
            quoted = urllib.parse.quote(remote.path)
            url = f"{self.endpoint}/{self.repo}/resolve/{self.revision}/{quoted}"
            headers = {"Range": f"bytes={have}-"} if have else {}
            with self._open(url, headers) as response:
                if have and response.status != 206:  # the server sends the whole file again
                    have = 0
                with open(part, "ab" if have else "wb") as out:
                    report(have)
                    while block := self._read(response, remote):
                        _stop_if(cancel)
                        try:
                            out.write(block)
                        except OSError as exc:
                            raise DownloadError(
                                f"Could not write {part} ({exc.strerror}): free some space or "
                                "choose another folder."
                            ) from exc
                        have += len(block)
                        report(have)
        if part.stat().st_size != remote.size:
            raise DownloadError(
                f"{remote.path} stopped after {part.stat().st_size} of {remote.size} bytes (the "
                "connection broke): run the download again; it resumes where it stopped."
            )
        if remote.sha256 and _sha256(part) != remote.sha256:
            part.unlink()
            raise DownloadError(
                f"{remote.path} arrived damaged (its SHA-256 does not match the published one) "
                "and was deleted: run the download again."
            )
        os.replace(part, target)
        log.info("Downloaded %s (%d bytes)", remote.path, remote.size)

    def _read(self, response: Any, remote: RemoteFile) -> bytes:
        try:
            return bytes(response.read(BLOCK))
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"The connection to {self.endpoint} broke while fetching {remote.path} ({exc}): "
                "run the download again; it resumes where it stopped."
            ) from exc

    def _open(self, url: str, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(url, headers={"User-Agent": "cosydesk", **(headers or {})})
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403, 404):
                raise DownloadError(
                    f"{self.endpoint} refused {url.split('?')[0]} (HTTP {exc.code}): check the "
                    "model id, or sign the model's terms on its page first."
                ) from exc
            raise DownloadError(
                f"{self.endpoint} answered HTTP {exc.code}: try again later; the download "
                "resumes where it stopped."
            ) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                f"Could not reach {self.endpoint} ({reason}): check the network connection, or "
                "set HF_ENDPOINT to a mirror. The download resumes where it stopped."
            ) from exc


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("The download was stopped; run it again to resume.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _next_page(link: str) -> str:
    """The rel="next" address of a Link header, or ""."""
    for part in link.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            return part[part.index("<") + 1 : part.index(">")]
    return ""
