"""A local HTTP server that answers huggingface_hub as the Hugging Face Hub does, for one model.

It serves a real folder as the repository `repo` at one commit (revision "main" or COMMIT):
- `GET /api/models/<repo>/revision/<rev>?blobs=true`: the model info, with each file's size, git
  blob id and, for LFS files (weights and ONNX models, as the official .gitattributes has it),
  the LFS SHA-256 and size.
- `HEAD`/`GET /<repo>/resolve/<rev>/<path>`: a plain file answers itself (ETag: its git blob id);
  an LFS file answers 302 to a "CDN" on another port, with X-Linked-Etag (its SHA-256) and
  X-Linked-Size, as the Hub does. Every answer carries X-Repo-Commit.
- The CDN honours byte ranges.
Faults a download must survive or explain can be switched on: a connection that drops after some
bytes (once, or for good), a file whose bytes differ from its published hash, a gated repository
that wants a token, a file answered with an HTTP error status.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".pt", ".onnx", ".safetensors", ".wav")


@dataclass
class Hub:
    root: Path
    repo: str
    endpoint: str = ""
    cdn: str = ""
    extra_siblings: list[dict] = field(default_factory=list)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, once
    broken: set[str] = field(default_factory=set)  # paths whose body never arrives
    corrupt: set[str] = field(default_factory=set)
    status: dict[str, int] = field(default_factory=dict)  # path -> HTTP status of its body
    token: str | None = None  # set: the repository is gated and wants this token
    served: dict[str, int] = field(default_factory=dict)  # path -> bytes sent
    authorizations: list[tuple[str, str]] = field(default_factory=list)  # (path, header) seen
    _hashed: dict[tuple, list[dict]] = field(default_factory=dict)

    def siblings(self) -> list[dict]:
        files = sorted(p for p in self.root.rglob("*") if p.is_file())
        key = tuple((p, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        if key not in self._hashed:  # hashing every file at each request would slow the tests
            self._hashed = {key: self._hash(files)}
        return self._hashed[key] + self.extra_siblings

    def _hash(self, files: list[Path]) -> list[dict]:
        out: list[dict] = []
        for path in files:
            data = path.read_bytes()
            entry: dict = {"rfilename": path.relative_to(self.root).as_posix(), "size": len(data)}
            if path.suffix in LFS_SUFFIXES:
                pointer = f"oid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"
                entry["blobId"] = _git_blob_id(pointer.encode())
                entry["lfs"] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": len(pointer),
                }
            else:
                entry["blobId"] = _git_blob_id(data)
            out.append(entry)
        return out


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.authorizations.append((path, self.headers.get("Authorization", "")))
            for rev in ("main", COMMIT):
                info = f"/api/models/{hub.repo}/revision/{rev}"
                resolve = f"/{hub.repo}/resolve/{rev}/"
                if path == info:
                    return self._json({"id": hub.repo, "sha": COMMIT, "siblings": hub.siblings()})
                if path.startswith(resolve):
                    return self._resolve(path[len(resolve) :], body)
            if path.startswith("/cdn/"):
                return self._file(path[len("/cdn/") :], body)
            self._empty(404, {"X-Error-Code": "RepoNotFound"})

        def _json(self, value: object) -> None:
            data = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _empty(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {**headers, "Content-Length": "0"}.items():
                self.send_header(name, value)
            self.end_headers()

        def _resolve(self, rel: str, body: bool) -> None:
            if hub.token is not None and self.headers.get("Authorization") != f"Bearer {hub.token}":
                message = "Access to this model is restricted: sign in and accept its terms."
                self._empty(401, {"X-Error-Code": "GatedRepo", "X-Error-Message": message})
                return
            entry = next((e for e in hub.siblings() if e["rfilename"] == rel), None)
            if entry is None:
                self._empty(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
                return
            if "lfs" in entry:  # the bytes live on the CDN, another host
                self._empty(
                    302,
                    {
                        "Location": f"{hub.cdn}/cdn/{quote(rel)}",
                        "ETag": f'"{entry["blobId"]}"',
                        "X-Linked-Etag": f'"{entry["lfs"]["sha256"]}"',
                        "X-Linked-Size": str(entry["size"]),
                        "X-Repo-Commit": COMMIT,
                    },
                )
                return
            self._file(rel, body, {"ETag": f'"{entry["blobId"]}"', "X-Repo-Commit": COMMIT})

        def _file(self, rel: str, body: bool, headers: dict[str, str] | None = None) -> None:
            source = hub.root / rel
            if not source.is_file():
                self._empty(404, {})
                return
            if body and rel in hub.status:
                self._empty(hub.status[rel], {})
                return
            data = source.read_bytes()
            if rel in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes="):
                start = int(ranged[len("bytes=") :].split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            part = data[start:]
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            if not body:
                return
            cut = 0 if rel in hub.broken else hub.drop_after.pop(rel, None)
            if cut is not None:
                part = part[:cut]  # then the connection closes short of Content-Length
                self.close_connection = True
            self.wfile.write(part)
            hub.served[rel] = hub.served.get(rel, 0) + len(part)

    return Handler


# Files of the official repository that cosydesk does not read (so must not download).
UNWANTED = ("README.md", "asset/zero_shot_prompt.wav", "flow.decoder.estimator.fp32.onnx")


def unreachable_endpoint() -> str:
    """An address on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def fake_hub(root: Path, repo: str) -> Iterator[Hub]:
    """Serve `root` as the hub repository `repo` on 127.0.0.1; yields the Hub (endpoint set).

    Two servers run: the hub itself and its CDN, on another port (another origin, so that
    huggingface_hub treats it as the Hub's CDN and sends it no token).
    """
    hub = Hub(root, repo)
    with ExitStack() as stack:
        addresses = []
        for _ in range(2):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            stack.callback(thread.join, 10)
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            addresses.append(f"http://127.0.0.1:{server.server_address[1]}")
        hub.endpoint, hub.cdn = addresses
        yield hub
