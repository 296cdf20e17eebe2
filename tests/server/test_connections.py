"""Connections that never finish their request, too many of them, bodies that are too big:
real sockets against real servers with small limits (a header timeout of 1 s, 20 connections)."""

from __future__ import annotations

import json
import logging
import select
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx
import pytest

from tests.server.conftest import NARRATOR

KEY = "k3y-for-the-tests-0123456789"


def connect(served: Any, data: bytes = b"") -> socket.socket:
    """A raw connection to `served` that has sent `data` and nothing more."""
    port = int(served.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    if data:
        sock.sendall(data)
    return sock


def read_to_close(sock: socket.socket, timeout: float = 20.0) -> bytes:
    """All the server sends until it closes the connection (TimeoutError if it never does)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:  # closed with our unread bytes still in its buffer
        pass
    finally:
        sock.close()
    return received


def error_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    """(status, the "error" object) of a raw HTTP response, checked for OpenAI's shape."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].endswith("."), error["message"]
    return int(head.split()[1]), error


def is_closed(sock: socket.socket) -> bool:
    """True when the server closed `sock` (call once it is readable)."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def drip(sock: socket.socket, data: bytes, every: float = 0.2, most: int = 100) -> None:
    """Send `data` a byte at a time until the server answers or closes (or `most` bytes)."""
    for byte in data[:most]:
        if select.select([sock], [], [], every)[0]:
            return
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return


def test_clients_that_never_finish_their_headers_are_closed(serve):
    served = serve(header_timeout=1.0)
    silent = [connect(served) for _ in range(3)]
    partial = [connect(served, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(3)]
    slow = connect(served, b"GET /health HTTP/1.1\r\n")
    drip(slow, b"X-Slow: " + b"a" * 200)
    for sock in silent:
        assert read_to_close(sock) == b""  # nothing sent, nothing to answer: just closed
    for sock in [*partial, slow]:
        status, error = error_of(read_to_close(sock))
        assert status == 408 and error["code"] == "request_timeout"
        assert "did not arrive within 1 s" in error["message"]
    # The server itself is fine.
    assert httpx.get(f"{served.url}/health", timeout=30).status_code == 200


def test_a_body_that_trickles_in_is_cut_off(serve):
    served = serve(body_timeout=1.0)
    sock = connect(
        served,
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{",
    )
    drip(sock, b' "input": "' + b"a" * 180)
    status, error = error_of(read_to_close(sock))
    assert status == 408 and "body did not arrive within 1 s" in error["message"]


def test_a_client_with_the_key_is_served_while_idle_sockets_fill_the_limit(serve):
    served = serve(host="0.0.0.0", api_key=KEY, max_connections=20, header_timeout=60.0)
    idle = [connect(served, b"GET /health HTTP/1.1\r\n") for _ in range(40)]
    try:
        health = httpx.get(
            f"{served.url}/health", headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        )
        assert health.status_code == 200 and health.json()["status"] == "ok"
        closed: set[socket.socket] = set()
        deadline = time.monotonic() + 20
        # The server holds at most 20 connections: the others were closed, oldest first.
        while len(closed) < 20 and time.monotonic() < deadline:
            ready = select.select([s for s in idle if s not in closed], [], [], 0.5)[0]
            closed.update(s for s in ready if is_closed(s))
        assert len(closed) >= 20
        assert idle[0] in closed and idle[-1] not in closed
    finally:
        for sock in idle:
            sock.close()


def test_an_oversized_body_is_refused_before_it_is_read(serve):
    served = serve(max_input_chars=100)
    limit = served.service.options.max_body_bytes
    assert 10_000 < limit < 30_000  # derived from the input limit: 100 characters
    declared = connect(
        served,
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n" + b"{" * 65536,
    )
    # Answered and closed with 199.9 MB of the declared body still unsent.
    status, error = error_of(read_to_close(declared))
    assert status == 413 and error["code"] == "request_too_large"
    assert error["type"] == "invalid_request_error"
    assert "200,000,000 bytes" in error["message"] and f"{limit:,} bytes" in error["message"]

    chunked = connect(
        served,
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
    for _ in range(2 * limit // 0x4000):
        if select.select([chunked], [], [], 0)[0]:
            break
        chunked.sendall(chunk)
    # The body never ended (no last chunk was sent), yet it was refused.
    status, error = error_of(read_to_close(chunked))
    assert status == 413 and f"longer than {limit:,} bytes" in error["message"]

    fits = httpx.post(
        f"{served.api}/audio/speech",
        json={"input": "Hi there.", "voice": NARRATOR, "response_format": "pcm"},
        timeout=60,
    )
    assert fits.status_code == 200


def test_malformed_requests_get_a_sentence_and_the_log_stays_short(serve, caplog):
    caplog.set_level(logging.INFO)
    served = serve(max_connections=5, header_timeout=1.0)
    caplog.clear()
    for _ in range(30):
        status, error = error_of(read_to_close(connect(served, b"NOT HTTP AT ALL\r\n\r\n")))
        assert status == 400 and error["code"] == "invalid_http"
    crowd = [connect(served, b"GET / HTTP/1.1\r\n") for _ in range(30)]
    for sock in crowd:
        read_to_close(sock)
    # 30 malformed requests, 25 connections closed for the limit, 5 for the header timeout:
    # one line of each kind.
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= 3, lines


SERVER_SCRIPT = textwrap.dedent(
    """
    import resource, sys, tempfile
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    import logging
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from cosydesk.engine.voices import VoiceLibrary
    from cosydesk.server.app import create_app
    from cosydesk.runner import Runner
    from cosydesk.server.options import ServerOptions
    from cosydesk.server.run import BackgroundServer
    from cosydesk.server.service import SpeechService

    options = ServerOptions(port=0, api_key=sys.argv[1])
    runner = Runner()
    runner.start()
    service = SpeechService(options, runner, VoiceLibrary(tempfile.mkdtemp()))
    service.start()
    server = BackgroundServer(create_app(service), "127.0.0.1", 0)
    server.start()
    print(server.port, flush=True)
    sys.stdin.read()  # serve until the test closes our stdin
    server.stop()
    service.stop()
    runner.stop()
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="descriptor limits are POSIX")
def test_a_process_with_few_descriptors_outlasts_a_crowd(tmp_path):
    """The default connection limit stays below the process's descriptor limit (here 256):
    300 connections that never finish leave room for a client with the key, and no flood of
    accept errors in the log."""
    log_path = tmp_path / "server.log"
    with (
        log_path.open("w") as log_file,
        subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, KEY],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        ) as server,
    ):
        crowd: list[socket.socket] = []
        try:
            assert server.stdout is not None and server.stdin is not None
            port = int(server.stdout.readline())
            for _ in range(300):
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                sock.sendall(b"GET /health HTTP/1.1\r\n")
                crowd.append(sock)
            health = httpx.get(
                f"http://127.0.0.1:{port}/health",
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=30,
            )
            assert health.status_code == 200
        finally:
            for sock in crowd:
                sock.close()
            if server.stdin is not None:
                server.stdin.close()
            server.wait(30)
            assert server.stdout is not None
            server.stdout.close()
    log = log_path.read_text()
    assert "Too many open files" not in log
    assert len(log.splitlines()) < 20, log[:3000]


def test_the_limits_come_from_the_environment_and_are_checked():
    from cosydesk.engine.errors import ConfigError
    from cosydesk.server.options import ServerOptions, descriptor_limit

    env = {
        "COSYDESK_MAX_CONNECTIONS": "20",
        "COSYDESK_HEADER_TIMEOUT": "1.5",
        "COSYDESK_BODY_TIMEOUT": "2",
    }
    options = ServerOptions().with_env(env).validate()
    assert (options.connection_limit(), options.header_timeout, options.body_timeout) == (
        20,
        1.5,
        2.0,
    )
    descriptors = descriptor_limit()
    if descriptors is not None:
        assert ServerOptions().connection_limit() <= descriptors // 4
        with pytest.raises(ConfigError, match=r"too high for this process.*ulimit -n"):
            ServerOptions(max_connections=descriptors).validate()
    with pytest.raises(ConfigError, match="COSYDESK_HEADER_TIMEOUT is 'soon'"):
        ServerOptions().with_env({"COSYDESK_HEADER_TIMEOUT": "soon"})
    for seconds in ("0", "-1", "nan", "1e9"):
        with pytest.raises(ConfigError, match=r"header timeout of .* is not allowed"):
            ServerOptions().with_env({"COSYDESK_HEADER_TIMEOUT": seconds}).validate()


def test_failed_accepts_are_logged_once_per_window(caplog):
    """What asyncio reports when accept() finds no descriptor left (it used to log each one,
    with a traceback, thousands of times a second)."""
    import asyncio
    import errno

    from cosydesk.server.connections import ConnectionGuard
    from cosydesk.server.options import ServerOptions

    guard = ConnectionGuard(ServerOptions())
    loop = asyncio.new_event_loop()
    try:
        loop.set_exception_handler(guard.loop_errors)
        for _ in range(1000):
            loop.call_exception_handler(
                {
                    "message": "socket.accept() out of system resource",
                    "exception": OSError(errno.EMFILE, "Too many open files"),
                }
            )
    finally:
        loop.close()
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1
    assert "ulimit -n" in records[0].getMessage() and records[0].exc_info is None
