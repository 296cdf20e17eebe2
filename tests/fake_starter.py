"""A local web server in the place of the CosyVoice repository's raw files, for the starter voice.

It serves a real clip (a voiced-sounding tone written by the test) at `asset/zero_shot_prompt.wav`
and counts the requests. The clip's recorded SHA-256 is that of the upstream file, which is never
part of this repository, so the test swaps the catalogue entry for one with this clip's hash: what
is under test is the fetch, the check and the offer, not upstream's bytes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


@dataclass
class StarterServer:
    url: str
    files: dict[str, bytes]  # path -> bytes served
    requests: list[str] = field(default_factory=list)
    status: int = 200  # answer every request with this status


def tone_wav(seconds: float = 3.5, rate: int = 24000) -> bytes:
    """A real WAV file's bytes: a tone with a syllable-like swell, not silent."""
    import io

    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    out = io.BytesIO()
    soundfile.write(out, wave.astype(np.float32), rate, format="WAV", subtype="FLOAT")
    return out.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def starter_server(files: dict[str, bytes]) -> Iterator[StarterServer]:
    """Serve `files` on 127.0.0.1 for the `with` block."""
    server_state = StarterServer("", files)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            server_state.requests.append(path)
            data = server_state.files.get(path)
            status = server_state.status if data is not None else 404
            self.send_response(status)
            body = data if data is not None and status == 200 else b"no"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
