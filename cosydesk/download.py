"""Download the official model folder from Hugging Face (or a mirror) with huggingface_hub.

Only the files cosydesk reads are fetched, one after the other with `hf_hub_download` into the
folder, all from the commit the hub named when the download began. huggingface_hub does the
transfer as the Hub expects it to be done: the mirror in `HF_ENDPOINT`, the token in `HF_TOKEN`
or from `hf auth login` (for gated or private copies), proxies, Xet-backed files, and resuming a
dropped connection during a run. Each file arrives in a temporary file under
`<folder>/.cache/huggingface/` and is renamed into place, so a folder never holds a half-written
model file; cosydesk then checks it against the hash the hub publishes for it.

A file already in the folder is kept when it is the hub's file (same hash); one that differs is
never replaced: the download stops and says so. After a cancel or a failure the files that
arrived stay; the file that was under way starts again next time (huggingface_hub keeps no
partial file between runs). Given a `starter_dir`, the starter voice's clip follows the model (see
`cosydesk.starter_voices`); that it cannot be fetched is a note, not a failure. Qt-free: the CLI
and the first-run dialog both drive `ModelDownload`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.engine.folder.modelfolder import MODEL_ID, REQUIRED_FILES, TOKENIZER_DIR

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 30  # for the model info; huggingface_hub times its file requests itself
_KEPT = "the files that arrived are kept"
T = TypeVar("T")

# progress(bytes done, bytes in all, what is happening now)
DownloadProgress = Callable[[int, int, str], None]


class DownloadError(EngineError):
    """The download cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the repository root, "/"-separated
    size: int
    sha256: str | None  # published for large (LFS) files
    git_blob: str | None  # the git blob id, which hashes the bytes of a small (non-LFS) file

    def matches(self, local: Path) -> bool:
        """Whether `local` holds this file's bytes, by the strongest hash the hub published."""
        if not local.is_file() or local.stat().st_size != self.size:
            return False
        if self.sha256:
            return _hash(local, hashlib.sha256()) == self.sha256
        if self.git_blob:
            return _hash(local, hashlib.sha1(b"blob %d\0" % self.size)) == self.git_blob
        return True


def endpoint_from_env(environ: Mapping[str, str] = os.environ) -> str:
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
        starter_dir: Path | None = None,
    ) -> None:
        self.dest = Path(dest)
        # Where the starter voices' clips go once the model is complete (None: not fetched),
        # and one sentence per clip that could not be fetched (the download succeeds anyway).
        self.starter_dir = starter_dir
        self.notes: list[str] = []
        # Read here rather than left to huggingface_hub, which reads HF_ENDPOINT once at import.
        self.endpoint = (endpoint or endpoint_from_env()).rstrip("/")
        self.repo = repo
        self.revision = revision

    def plan(self) -> tuple[str, list[RemoteFile]]:
        """The commit to fetch and its files that cosydesk reads, from the hub's model info."""
        from huggingface_hub import HfApi

        api = HfApi(endpoint=self.endpoint)
        info = self._call(
            lambda: api.model_info(
                self.repo, revision=self.revision, files_metadata=True, timeout=TIMEOUT_S
            ),
            "",
        )
        files = [
            RemoteFile(
                s.rfilename,
                int(s.size or 0),
                s.lfs.sha256 if s.lfs else None,
                None if s.lfs else s.blob_id,
            )
            for s in info.siblings or []
            if wanted(s.rfilename)
        ]
        missing = [name for name in REQUIRED_FILES if name not in {f.path for f in files}]
        if missing:
            raise DownloadError(
                f"{self.repo} on {self.endpoint} lacks {', '.join(missing)}: it is not the "
                "CosyVoice3 model; check the model id and HF_ENDPOINT."
            )
        for remote in files:
            self._target(remote)  # every path is checked before anything is written
        return info.sha or self.revision, files

    def run(
        self,
        progress: DownloadProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Fetch every planned file, then the starter voices; returns the folder. Raises
        DownloadError, Cancelled; a starter voice that cannot be fetched only adds to `notes`.

        Safe to run again after a failure or a cancel: the files that arrived are kept.
        """

        def say(done: int, message: str) -> None:
            if progress is not None:
                progress(done, total, message)

        commit, files = self.plan()
        total = sum(f.size for f in files)
        done = 0
        todo: list[RemoteFile] = []
        for remote in files:
            _stop_if(cancel)
            if self._target(remote).exists():
                say(done, f"Checking {remote.path}")
                self._check_present(remote)
                done += remote.size
            else:
                todo.append(remote)
        self._check_space(sum(f.size for f in todo))
        for remote in todo:
            _stop_if(cancel)

            def report(got: int, base: int = done, name: str = remote.path) -> None:
                say(base + got, f"Downloading {name}")

            report(0)
            self._fetch(commit, remote, report, cancel)
            done += remote.size
        if self.starter_dir is not None:
            from cosydesk.starter_voices import fetch_starter_voices

            say(total, "Fetching the starter voice")
            self.notes = fetch_starter_voices(self.starter_dir, cancel=cancel)
        say(total, "Downloaded")
        return self.dest

    def _target(self, remote: RemoteFile) -> Path:
        target = (self.dest / remote.path).resolve()
        if self.dest.resolve() not in target.parents:
            raise DownloadError(f"The file list names a path outside the folder: {remote.path}.")
        return target

    def _check_present(self, remote: RemoteFile) -> None:
        target = self._target(remote)
        if not remote.matches(target):
            raise DownloadError(
                f"{target} exists already and is not the file of the download; it is left as "
                "it is. Choose an empty folder, or move that file away and download again."
            )

    def _check_space(self, needed: int) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.dest).free
        if needed > free:
            raise DownloadError(
                f"The download needs {needed / 1e9:.1f} GB more but {self.dest} has "
                f"{free / 1e9:.1f} GB free: free some space or choose another folder."
            )

    def _fetch(
        self,
        commit: str,
        remote: RemoteFile,
        report: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> None:
        from huggingface_hub import hf_hub_download

        self._call(
            lambda: hf_hub_download(
                self.repo,
                remote.path,
                revision=commit,
                local_dir=self.dest,
                endpoint=self.endpoint,
                tqdm_class=_progress_bar(report, cancel),
            ),
            remote.path,
        )
        target = self._target(remote)
        if not remote.matches(target):
            target.unlink()
            raise DownloadError(
                f"{remote.path} arrived damaged (it does not match the hash the hub publishes) "
                "and was deleted: run the download again."
            )
        log.info("Downloaded %s (%d bytes)", remote.path, remote.size)

    def _call(self, step: Callable[[], T], path: str) -> T:
        """Run one huggingface_hub step; what it raises for a known reason becomes a sentence."""
        from huggingface_hub import errors

        try:
            return step()
        except Cancelled:
            raise
        except errors.LocalEntryNotFoundError as exc:
            # huggingface_hub says only "not found locally" when a file's HEAD failed: say why.
            failure: BaseException = exc.__cause__ or exc
        except Exception as exc:
            failure = exc
        sentence = self._sentence(failure, f" while fetching {path}" if path else "")
        if sentence is None:
            raise failure
        raise DownloadError(sentence) from failure

    def _sentence(self, exc: BaseException, where: str) -> str | None:
        import httpx2
        from huggingface_hub import errors

        if isinstance(exc, errors.GatedRepoError):
            return (
                f"{self.repo} asks you to accept its terms: do so on its page on "
                f"{self.endpoint}, then sign in here with `hf auth login` or set HF_TOKEN to "
                "your access token."
            )
        if isinstance(exc, errors.RepositoryNotFoundError):
            return (
                f"{self.endpoint} has no model {self.repo} that you may read: check "
                "HF_ENDPOINT, or sign in with `hf auth login` (or set HF_TOKEN) if the copy is "
                "private."
            )
        if isinstance(exc, errors.HfHubHTTPError):
            code = exc.response.status_code if exc.response is not None else "an error"
            return f"{self.endpoint} answered HTTP {code}{where}: try again later; {_KEPT}."
        if isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.ProxyError)):
            return (
                f"Could not reach {self.endpoint} ({exc}): check the network connection, or "
                f"set HF_ENDPOINT to a mirror; {_KEPT}."
            )
        if isinstance(exc, httpx2.TransportError):
            return (
                f"The connection to {self.endpoint} broke{where} ({exc}): run the download "
                f"again; {_KEPT}."
            )
        if isinstance(exc, (errors.FileMetadataError, ValueError, KeyError, TypeError)):
            return (
                f"{self.endpoint} did not answer like a Hugging Face hub{where}: check "
                "HF_ENDPOINT, or download the folder by hand."
            )
        if isinstance(exc, OSError) and exc.errno is None:  # huggingface_hub's size check
            return f"The connection broke{where}: run the download again; {_KEPT}."
        if isinstance(exc, OSError):
            return (
                f"Could not write into {self.dest} ({exc.strerror}): free some space or "
                "choose another folder."
            )
        return None


def _progress_bar(report: Callable[[int], None], cancel: threading.Event | None) -> type:
    """A tqdm class for huggingface_hub that draws nothing, reports bytes and stops on cancel.

    huggingface_hub calls `update` before it writes each block, so raising Cancelled there stops
    the transfer between blocks; its temporary file is then deleted and the file starts again
    next time.
    """
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "disable": True})

        def update(self, n: float | None = 1) -> bool | None:
            _stop_if(cancel)
            self.n += n or 0  # a disabled tqdm counts nothing itself
            report(int(self.n))
            return None

    return Bar


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"The download was stopped; run it again to go on ({_KEPT}).")


def _hash(path: Path, digest: Any) -> str:
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return str(digest.hexdigest())
