"""A local HTTP server that answers like the Hugging Face hub for one model repository.

It serves a real folder: the tree listing (in two pages, linked as the hub does), and each file
through /resolve/, which redirects to a "CDN" path that honours byte ranges. Faults a download
must survive can be switched on: a connection that drops after some bytes, a file whose bytes
differ from its published SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Hub:
    root: Path
    repo: str
    endpoint: str = ""
    extra_entries: list[dict] = field(default_factory=list)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, once
    corrupt: set[str] = field(default_factory=set)
    served: dict[str, int] = field(default_factory=dict)  # path -> bytes sent

    def entries(self) -> list[dict]:
        out: list[dict] = []
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root).as_posix()
            if path.is_dir():
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": rel})
                continue
            data = path.read_bytes()
            entry = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data)}
            entry["path"] = rel
            if len(data) > 1000:  # large files are LFS objects with a published SHA-256
                sha = hashlib.sha256(data).hexdigest()
                entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 130}
            out.append(entry)
        return out + self.extra_entries


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            tree = f"/api/models/{hub.repo}/tree/main"
            resolve = f"/{hub.repo}/resolve/main/"
            if path == tree:
                self._listing(page=0)
            elif path == tree + "/page2":
                self._listing(page=1)
            elif path.startswith(resolve):
                self.send_response(302)
                self.send_header("Location", "/cdn/" + path[len(resolve) :])
                self.end_headers()
            elif path.startswith("/cdn/"):
                self._file(unquote(path[len("/cdn/") :]))
            else:
                self.send_error(404)

        def _listing(self, page: int) -> None:
            entries = hub.entries()
            half = len(entries) // 2
            body = json.dumps(entries[:half] if page == 0 else entries[half:]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if page == 0:
                link = f"{hub.endpoint}/api/models/{hub.repo}/tree/main/page2"
                self.send_header("Link", f'<{link}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

        def _file(self, rel: str) -> None:
            source = hub.root / rel
            if not source.is_file():
                self.send_error(404)
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
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = hub.drop_after.pop(rel, None)
            if cut is not None:
                body = body[:cut]  # then the connection closes short of Content-Length
                self.close_connection = True
            self.wfile.write(body)
            hub.served[rel] = hub.served.get(rel, 0) + len(body)

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
    """Serve `root` as the hub repository `repo` on 127.0.0.1; yields the Hub (endpoint set)."""
    hub = Hub(root, repo)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
