"""Fuzz: every request to `cosydesk serve` gets a result or an error in OpenAI's shape, and the
server outlives every request and connection pattern.

Two real servers (`cosydesk serve` in a process of its own, tests/fuzz/serve_tiny.py: the tiny
model, speech cut to a few tokens, small limits: 1 s for headers and for a body, 24
connections, 2 waiting requests, 300 characters), one with an API key and one on loopback
without, take the seeded requests of tests/fuzz/http_cases.py on raw sockets, both at once.
Every answer must be a result or an error in OpenAI's shape with one public sentence, never a
500. Then connection patterns: silent, slow and dripping clients, half-open and reset
connections, keep-alive and pipelined requests, a crowd of idle sockets over the limit, clients
that leave mid-stream or while their request waits. At the end both servers still run, a client
with the key is served, neither log holds a traceback and neither process grew past 2 GB.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO
from tests.fuzz.http_cases import VOICES, HttpCase, answer_problem, http_case, split_response
from tests.fuzz.sentence import Findings
from tests.fuzz.serve_tiny import LONG

GROUP = "http"
KEY = "fuzz-key-0123456789-abcdef"
REQUESTS_PER_SERVER = 800
PATTERN_ROUNDS = 8
PLANNED = 2 * REQUESTS_PER_SERVER + 12 * PATTERN_ROUNDS + 40 + 6
LIMITS = {
    "COSYDESK_HEADER_TIMEOUT": "1",
    "COSYDESK_BODY_TIMEOUT": "1",
    "COSYDESK_MAX_CONNECTIONS": "24",
    "COSYDESK_QUEUE_SIZE": "2",
    "COSYDESK_MAX_INPUT_CHARS": "300",
}
FORCED_TOKENS = 3
MAX_PROCESS = 2 << 30


@dataclass
class Server:
    name: str
    key: str | None
    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    def connect(self, timeout: float = 20.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def auth(self) -> str:
        return f"Authorization: Bearer {self.key}\r\n" if self.key else ""


def _voices(data: Path) -> None:
    """Two voices in the data folder's library, their features left for the server to make."""
    import soundfile

    from cosydesk.engine.voices import VoiceLibrary

    library = VoiceLibrary(data / "voices")
    rate = 24000
    t = np.arange(2 * rate) / rate
    for number, name in enumerate(VOICES):
        clip = data / f"{number}.wav"
        tone = 0.3 * np.sin(2 * np.pi * (120 + 60 * number) * t) * (0.6 + 0.4 * np.sin(9 * t))
        soundfile.write(clip, tone.astype(np.float32), rate)
        library.add(name, clip, "Hello there, this is my voice.")


def _start(name: str, key: str | None, model: Path, root: Path) -> Server:
    data = root / "data"
    data.mkdir(parents=True)
    _voices(data)
    env = {
        **os.environ,
        **LIMITS,
        "COSYDESK_DATA_DIR": str(data),
        "COSYDESK_CONFIG_DIR": str(root / "config"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("COSYDESK_API_KEY", None)
    if key:
        env["COSYDESK_API_KEY"] = key
    log = root / "server.log"
    args = ["--model", str(model), "--device", "cpu", "--quantization", "none", "--port", "0"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.serve_tiny", str(FORCED_TOKENS), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    return Server(name, key, process, log)


def _wait_ready(server: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(
            rb"Serving the speech API on http://127\.0\.0\.1:(\d+)", server.log.read_bytes()
        )
        if found:
            server.port = int(found.group(1))
            return
        assert server.process.poll() is None, server.log.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError(f"the {server.name} server did not start: {server.log.read_text()}")


@pytest.fixture(scope="module")
def servers(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    root = tmp_path_factory.mktemp("servers")
    made = [_start("keyed", KEY, tiny_model, root / "keyed")]
    made.append(_start("loopback", None, tiny_model, root / "loopback"))
    try:
        for server in made:
            _wait_ready(server)
        yield made
    finally:
        for server in made:
            if server.process.poll() is None:
                server.process.terminate()
                try:
                    server.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait()


def exchange(server: Server, data: bytes, timeout: float = 20.0, head: bool = False) -> bytes:
    """Send `data` on a fresh connection; what comes back, until the first whole answer has
    arrived or the server closes (`head`: the answer has no body)."""
    received = b""
    with server.connect(timeout) as sock:
        # Refused before all was sent (413, 400): read what it said.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
                try:
                    split_response(received, closed=False, head=head)
                    break
                except (ValueError, IndexError):
                    continue
        except (ConnectionResetError, TimeoutError):
            pass
    return received


def _run_requests(server: Server, seed: int, findings: Findings, cases: Any) -> None:
    for number in range(seed, seed + REQUESTS_PER_SERVER):
        case = http_case(random.Random(number), server.key)
        label = f"{server.name} case {number} ({case.description})"
        raw = exchange(server, case.data, head=case.method == "HEAD")
        findings.add(label, answer_problem(raw, case))
        cases()


def test_every_request_gets_a_result_or_an_openai_error(servers: list[Server], cases: Any) -> None:
    findings = Findings()
    threads = [
        threading.Thread(target=_run_requests, args=(server, 100_000 * n, findings, cases))
        for n, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    findings.assert_none()


# --------------------------------------------------------------------------- patterns


def _speech_request(server: Server, text: str = "Hello.", fmt: str = "wav") -> bytes:
    body = json.dumps({"input": text, "voice": VOICES[0], "response_format": fmt}).encode()
    return (
        f"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n{server.auth()}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def _get(server: Server, path: str = "/health", close: bool = True) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{server.auth()}{connection}\r\n".encode()


def _read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """What the server sends until it closes `sock`, and whether it closed within `timeout`."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def _slow_client(server: Server, data: bytes, every: float) -> str | None:
    """Send `data` a byte at a time; the server must close (with a 408 or nothing) on time."""
    with server.connect() as sock:
        started = time.monotonic()
        for byte in data:
            if select.select([sock], [], [], every)[0]:
                break
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
        received, closed = _read_until_closed(sock, 6.0)
        if not closed:
            return f"a slow client was held for {time.monotonic() - started:.1f} s"
    return answer_problem(received, HttpCase("slow", data, complete=False))


def _silent(server: Server) -> str | None:
    with server.connect() as sock:
        received, closed = _read_until_closed(sock, 6.0)
    if not closed:
        return "a silent connection was not closed"
    return f"a silent connection was sent {received[:100]!r}" if received else None


def _partial(server: Server, data: bytes) -> str | None:
    with server.connect() as sock:
        sock.sendall(data)
        received, closed = _read_until_closed(sock, 6.0)
    if not closed:
        return "a connection with part of a request was not closed"
    return answer_problem(received, HttpCase("partial", data, complete=False))


def _half_open(server: Server, data: bytes) -> str | None:
    with server.connect() as sock:
        if data:
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received, closed = _read_until_closed(sock, 10.0)
    if not closed:
        return "a half-closed connection was not closed"
    return answer_problem(received, HttpCase("half-open", data, complete=False))


def _reset(server: Server, data: bytes) -> str | None:
    sock = server.connect()
    sock.sendall(data)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # an RST instead of a FIN
    return None


def _keep_alive(server: Server) -> str | None:
    with server.connect() as sock:
        for last in (False, False, True):
            sock.sendall(_get(server, close=last))
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return "the server closed a keep-alive connection early"
                received += chunk
                try:
                    status, *_ = split_response(received, closed=False)
                    break
                except (ValueError, IndexError):
                    continue
            if status != 200:
                return f"request on a kept connection answered {status}"
    return None


def _pipelined(server: Server) -> str | None:
    data = _get(server, close=False) + _get(server, "/v1/models", False) + _get(server)
    with server.connect() as sock:
        sock.sendall(data)
        received, _ = _read_until_closed(sock, 10.0)
    answers = received.count(b"HTTP/1.1 200")
    return None if answers == 3 else f"{answers} of 3 pipelined requests answered"


def _leave_mid_stream(server: Server) -> str | None:
    with server.connect() as sock:
        sock.sendall(_speech_request(server, "One. Two. Three. Four. Five. Six.", "pcm"))
        sock.recv(100)
    return None


def _patterns(server: Server) -> list[tuple[str, Any]]:
    partial_body = _speech_request(server)[:-10]
    return [
        ("silent", lambda: _silent(server)),
        ("part of a request line", lambda: _partial(server, b"POST /v1/audio/sp")),
        ("headers without their body", lambda: _partial(server, partial_body)),
        ("dripping headers", lambda: _slow_client(server, _get(server), 0.3)),
        ("dripping body", lambda: _slow_client(server, _speech_request(server), 0.15)),
        ("half-open after a request", lambda: _half_open(server, _get(server))),
        ("half-open at once", lambda: _half_open(server, b"")),
        ("half-open mid-request", lambda: _half_open(server, partial_body)),
        ("reset mid-request", lambda: _reset(server, partial_body)),
        ("keep-alive", lambda: _keep_alive(server)),
        ("pipelined", lambda: _pipelined(server)),
        ("left mid-stream", lambda: _leave_mid_stream(server)),
    ]


def test_connection_patterns_end_in_time_with_a_sentence(servers: list[Server], cases: Any) -> None:
    findings = Findings()
    jobs = [
        (f"{servers[r % 2].name} round {r}: {what}", run)
        for r in range(PATTERN_ROUNDS)
        for what, run in _patterns(servers[r % 2])
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [(label, pool.submit(run)) for label, run in jobs]
        for label, future in futures:
            try:
                findings.add(label, future.result(timeout=60))
            except OSError as exc:
                findings.add(label, f"the connection failed: {exc}")
            cases()
    findings.assert_none()


def test_a_crowd_of_idle_sockets_does_not_lock_out_a_client(
    servers: list[Server], cases: Any
) -> None:
    server = servers[0]
    crowd = [server.connect() for _ in range(40)]
    try:
        cases(len(crowd))
        raw = exchange(server, _speech_request(server))
        status, _, body, _ = split_response(raw)
        assert status == 200 and body.startswith(b"RIFF"), raw[:300]
    finally:
        for sock in crowd:
            sock.close()


def test_clients_that_leave_while_queued_free_their_place(
    servers: list[Server], cases: Any
) -> None:
    server = servers[0]
    busy = server.connect()
    busy.sendall(_speech_request(server, LONG, "pcm"))
    time.sleep(0.2)
    leavers = []
    for _ in range(4):  # the queue holds 2: these would fill it if they kept their place
        sock = server.connect()
        sock.sendall(_speech_request(server))
        leavers.append(sock)
    time.sleep(0.3)
    for sock in leavers:
        sock.close()
    cases(len(leavers))
    time.sleep(0.3)
    raw = exchange(server, _speech_request(server), timeout=60)
    busy.close()
    cases(2)
    status, _, body, _ = split_response(raw)
    assert status == 200 and body.startswith(b"RIFF"), raw[:300]


def test_the_servers_outlive_it_all(servers: list[Server]) -> None:
    for server in servers:
        assert server.process.poll() is None, f"the {server.name} server ended"
        status, _, body, _ = split_response(exchange(server, _speech_request(server)))
        assert status == 200 and body.startswith(b"RIFF"), server.name
        if server.key:
            wrong = exchange(server, _speech_request(server).replace(KEY.encode(), b"x" * len(KEY)))
            assert split_response(wrong)[0] == 401
        peak = _peak(server.process.pid)
        assert peak < MAX_PROCESS, f"the {server.name} server held {peak >> 20} MB"
        log = server.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-4000:]


def _peak(pid: int) -> int:
    """The peak resident memory of process `pid` in bytes (0 where /proc does not tell)."""
    status = Path(f"/proc/{pid}/status")
    for line in status.read_text().splitlines() if status.is_file() else []:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
