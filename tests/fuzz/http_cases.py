"""A seeded generator of raw HTTP requests to the speech server, and what a good answer is.

`http_case(rng, key)` returns an `HttpCase`: the bytes a client sends on a fresh connection,
whether they form a whole request (so an answer is owed) and a description. The mix: speech
requests whose JSON fields have wrong types, sizes and values (unknown voices, formats, speeds
and models, inputs over the limit, control strings), bodies that are not JSON or not UTF-8,
every method on every path, malformed request lines and headers, conflicting or lying
Content-Length and Transfer-Encoding, Host and Origin headers a browser or an attacker sends,
and, with `key`, every way to get the Authorization header almost right.

`answer_problem(raw, case)` reads what the server sent back and says what is wrong with it:
every error must be JSON in OpenAI's error shape with a one-sentence message that names no
absolute path, and no request may end in a 500.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from tests.fuzz.sentence import sentence_problem

VOICES = ("Narrator", "Second Voice")
MAX_INPUT_CHARS = 300
SPEECH = "/v1/audio/speech"
PATHS = (
    "/",
    "/health",
    "/warmup",
    "/v1/models",
    "/v1/models/cosyvoice3",
    "/v1/models/tts-1",
    "/v1/models/nothing",
    "/v1/models/",
    "/v1/audio/voices",
    SPEECH,
    "/v1/audio/speech/",
    "/v1/audio/transcriptions",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/v1/models/%00",
    "/v1/models/" + "x" * 3000,
    "/health?x=" + "y" * 500,
    "//health",
    "/HEALTH",
    "*",
    "http://127.0.0.1/health",
)
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT", "BREW")


@dataclass(frozen=True)
class HttpCase:
    description: str
    data: bytes
    complete: bool = True  # a whole request was sent: an answer is owed
    method: str = "POST"


def request(
    method: str,
    path: str,
    headers: list[tuple[str, str | bytes]],
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    """The bytes of one request, headers taken as given (however wrong)."""
    lines = [f"{method} {path} {version}".encode("latin-1")]
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode("latin-1", "replace")
        lines.append(name.encode("latin-1") + b": " + raw)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _base_headers(key: str | None, body: bytes | None) -> list[tuple[str, str | bytes]]:
    headers: list[tuple[str, str | bytes]] = [("Host", "127.0.0.1"), ("Connection", "close")]
    if key:
        headers.append(("Authorization", f"Bearer {key}"))
    if body is not None:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return headers


def _input_text(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(["Hello.", "Good morning to you.", "It is 3:45 on 2024-01-02.", "Hi!"])
    return rng.choice(
        [
            "",
            "   ",
            "\n\t",
            "...!?",
            "😀😀",
            "<|endofprompt|>",
            "<|endofprompt|>Hello.",
            "\x1b[31mred\x1b[0m",
            "a\x00b",
            "\ud800",
            "x" * MAX_INPUT_CHARS,
            "x" * (MAX_INPUT_CHARS + 1),
            "Hello. " * 200,
            None,
            5,
            1.5,
            True,
            [],
            ["Hello."],
            {"text": "Hello."},
        ]
    )


def _speech_fields(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if rng.random() < 0.95:
        body["input"] = _input_text(rng)
    if rng.random() < 0.8:
        names = [*VOICES, *VOICES, "alloy", "", "narrator", " Narrator ", "../Narrator", None, 5]
        objects = [{"id": "Narrator"}, {"id": 5}, {"name": "Narrator"}, ["Narrator"], "x" * 5000]
        body["voice"] = rng.choice([*names, *objects])
    if rng.random() < 0.6:
        body["response_format"] = rng.choice(
            ["wav", "wav", "pcm", "flac", "mp3", "opus", "aac", "WAV", "", "ogg", None, 3, []]
        )
    if rng.random() < 0.5:
        body["speed"] = rng.choice(
            [1.0, 0.5, 2.0, 0.49, 2.01, 0, -1, 1e308, "fast", "1.5", None, True, [1]]
        )
    if rng.random() < 0.3:
        body["model"] = rng.choice(["tts-1", "cosyvoice3", "gpt-4o-mini-tts", "whisper-1", "", 5])
    if rng.random() < 0.2:
        body["instructions"] = rng.choice(
            ["Speak slowly.", "", "<|endofprompt|>", "y" * (MAX_INPUT_CHARS + 1), 7, None]
        )
    if rng.random() < 0.15:
        body["stream_format"] = rng.choice(["audio", "sse", "", None, 1])
    if rng.random() < 0.1:
        body[rng.choice(["extra", "user", "", "input "])] = rng.choice([1, "x", None, {}])
    return body


def _encode_body(rng: random.Random, fields: dict[str, Any]) -> tuple[str, bytes]:
    roll = rng.random()
    text = json.dumps(fields)
    if roll < 0.75:
        return "JSON", text.encode("utf-8", "surrogatepass")
    if roll < 0.8:
        return "JSON with NaN", json.dumps({**fields, "speed": float("nan")}).encode()
    if roll < 0.84:
        return "JSON with a huge number", text.replace("{", '{"speed": 1e999999, ', 1).encode()
    if roll < 0.88:
        cut = text.encode()[: rng.randrange(len(text) + 1)]
        return "JSON cut short", cut
    if roll < 0.91:
        return "not UTF-8", text.encode("utf-16")
    if roll < 0.94:
        return "a byte order mark", b"\xef\xbb\xbf" + text.encode()
    if roll < 0.96:
        depth = rng.choice([100, 10_000])
        return "deep JSON", ('{"input": ' + "[" * depth + "]" * depth + "}").encode()
    if roll < 0.98:
        return "duplicate keys", b'{"input": "Hello.", "input": 5, "voice": "Narrator"}'
    return "not an object", rng.choice([b"[]", b'"Hello."', b"5", b"null", b"", b"{"])


def _speech(rng: random.Random, key: str | None) -> HttpCase:
    what, body = _encode_body(rng, _speech_fields(rng))
    headers = _base_headers(key, body)
    return HttpCase(f"speech request, {what}", request("POST", SPEECH, headers, body))


def _endpoint(rng: random.Random, key: str | None) -> HttpCase:
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    body = b'{"input": "Hello."}' if method in ("POST", "PUT", "PATCH") else b""
    headers = _base_headers(key, body if body else None)
    return HttpCase(f"{method} {path[:40]}", request(method, path, headers, body), method=method)


def _malformed(rng: random.Random, key: str | None) -> HttpCase:
    good = request("GET", "/health", _base_headers(key, None))
    variants: list[tuple[str, bytes]] = [
        ("no version", b"GET /health\r\n\r\n"),
        ("HTTP/2.0", good.replace(b"HTTP/1.1", b"HTTP/2.0", 1)),
        ("HTTP/0.9", good.replace(b"HTTP/1.1", b"HTTP/0.9", 1)),
        ("HTTP/1.0", good.replace(b"HTTP/1.1", b"HTTP/1.0", 1)),
        ("lower-case method", good.replace(b"GET", b"get", 1)),
        ("two spaces", good.replace(b"GET ", b"GET  ", 1)),
        ("tab separator", good.replace(b"GET ", b"GET\t", 1)),
        ("bare LF", good.replace(b"\r\n", b"\n")),
        ("bare CR", good.replace(b"\r\n", b"\r")),
        ("NUL in the line", good.replace(b"/health", b"/he\x00alth", 1)),
        ("header without a colon", good.replace(b"Connection: close", b"Connection close")),
        ("space before the colon", good.replace(b"Connection:", b"Connection :")),
        ("folded header", good.replace(b"Connection: close", b"X-A: 1\r\n  folded")),
        ("NUL in a header", good.replace(b"Connection: close", b"X-A: a\x00b")),
        ("high bytes in a header", good.replace(b"Connection: close", b"X-A: \xff\xfe\x80")),
        ("empty header name", good.replace(b"Connection: close", b": value")),
        ("a 100 KB header", good.replace(b"Connection: close", b"X-A: " + b"a" * 100_000)),
        ("a 20 KB request line", good.replace(b"/health", b"/health?" + b"q" * 20_000, 1)),
        ("2,000 headers", good.replace(b"Connection: close", b"\r\n".join([b"X-A: 1"] * 2000))),
        ("binary garbage", rng.randbytes(rng.choice([1, 16, 300, 5000])) + b"\r\n\r\n"),
        ("a TLS hello", bytes.fromhex("160301002a010000260303") + rng.randbytes(40)),
        ("only CRLFs", b"\r\n" * 50),
        ("a proxy line", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n" + good),
        ("an absolute URL to elsewhere", good.replace(b"/health", b"http://evil.test/", 1)),
    ]
    what, data = rng.choice(variants)
    return HttpCase(f"malformed: {what}", data)


def _lengths(rng: random.Random, key: str | None) -> HttpCase:
    body = b'{"input": "Hello.", "voice": "Narrator"}'
    headers = [h for h in _base_headers(key, body) if h[0] != "Content-Length"]
    variants: list[tuple[str, list[tuple[str, str | bytes]], bytes, bool]] = [
        ("no Content-Length", [], body, True),
        ("two Content-Lengths", [("Content-Length", "40"), ("Content-Length", "41")], body, True),
        ("a negative Content-Length", [("Content-Length", "-1")], body, True),
        ("a word as Content-Length", [("Content-Length", "ten")], body, True),
        ("Content-Length 1e3", [("Content-Length", "1e3")], body, True),
        ("a 10 MB Content-Length", [("Content-Length", str(10 << 20))], body, False),
        ("a huge Content-Length", [("Content-Length", "9" * 40)], body, False),
        ("a short Content-Length", [("Content-Length", "10")], body, True),
        ("chunked", [("Transfer-Encoding", "chunked")], b"%x\r\n%s\r\n0\r\n\r\n", True),
        (
            "chunked, a bad size",
            [("Transfer-Encoding", "chunked")],
            b"zz\r\nabc\r\n0\r\n\r\n",
            True,
        ),
        ("chunked, a huge size", [("Transfer-Encoding", "chunked")], b"ffffffffff\r\nab", False),
        ("chunked, 40 KB", [("Transfer-Encoding", "chunked")], b"a000\r\n" + b"a" * 40960, False),
        (
            "chunked and a length",
            [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
            body,
            True,
        ),
        ("an unknown coding", [("Transfer-Encoding", "gzip")], body, True),
        ("gzip content", [("Content-Encoding", "gzip"), ("Content-Length", "40")], body, True),
        (
            "Expect: 100-continue",
            [("Expect", "100-continue"), ("Content-Length", "40")],
            body,
            True,
        ),
        ("a 30 KB body", [("Content-Length", str(30_000))], b"{" + b" " * 29_998 + b"}", True),
    ]
    what, extra, data, complete = rng.choice(variants)
    if what == "chunked":
        data = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    return HttpCase(f"body: {what}", request("POST", SPEECH, headers + extra, data), complete)


HOSTS = (
    *("localhost", "localhost:8000", "127.0.0.1:1", "[::1]:80", "evil.test", "evil.test:80"),
    *("", "127.0.0.1.nip.io", "0.0.0.0", "[::1", "[abc]", ":80", "a" * 300, "127.0.0.1:x"),
    *("localhost\t", "LOCALHOST", "[::ffff:127.0.0.1]", "2130706433", None),
)
ORIGINS = (
    *(None, None, "http://127.0.0.1", "http://evil.test", "null", "http://[::1", "://", ""),
    *("http://localhost:3000", "file://", "http://127.0.0.1.evil.test", "x" * 300),
)


def _hosts(rng: random.Random, key: str | None) -> HttpCase:
    headers = [h for h in _base_headers(key, None) if h[0] != "Host"]
    host = rng.choice(HOSTS)
    origin = rng.choice(ORIGINS)
    if host is not None:
        headers.insert(0, ("Host", host))
    if origin is not None:
        headers.append(("Origin", origin))
    if rng.random() < 0.2:
        headers.append(("Host", "evil.test"))  # a second Host
    path = rng.choice(["/health", "/v1/models", "/"])
    return HttpCase(f"Host {host!r}, Origin {origin!r}", request("GET", path, headers), True)


def _auth(rng: random.Random, key: str | None) -> HttpCase:
    key = key or "a-key-the-server-does-not-have"
    headers = [h for h in _base_headers(None, None)]
    value = rng.choice(
        [
            None,
            "",
            "Bearer",
            "Bearer ",
            f"bearer {key}",
            f"BEARER {key}",
            f"Bearer  {key}",
            f"Bearer {key} ",
            f"Bearer\t{key}",
            f"Basic {key}",
            f"Token {key}",
            f"Bearer {key[:-1]}",
            f"Bearer {key}x",
            f"Bearer {key.upper()}",
            "Bearer wrong",
            f"Bearer {key}\x00",
            f"Bearer {'k' * 10_000}",
            key,
        ]
    )
    if value is not None:
        raw: str | bytes = value
        if rng.random() < 0.1:
            raw = f"Bearer {key}".encode() + b"\xff\xfe"
        headers.append(("Authorization", raw))
    if rng.random() < 0.2:  # a second Authorization, right or wrong
        headers.append(("Authorization", rng.choice([f"Bearer {key}", "Bearer wrong"])))
    path = rng.choice(["/health", "/v1/audio/voices", SPEECH])
    method = "POST" if path == SPEECH else "GET"
    body = b'{"input": "Hi.", "voice": "Narrator"}' if method == "POST" else b""
    if body:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return HttpCase(f"Authorization {value!r:.40}", request(method, path, headers, body), True)


MAKERS = [(40, _speech), (15, _endpoint), (14, _malformed), (11, _lengths), (10, _hosts)]


def http_case(rng: random.Random, key: str | None) -> HttpCase:
    """One request for a server with the API key `key` (None: a keyless loopback server)."""
    makers = [*MAKERS, (12, _auth)] if key else MAKERS
    return rng.choices([m for _, m in makers], [w for w, _ in makers])[0](rng, key)


# --------------------------------------------------------------------------- answers


def split_response(
    raw: bytes, closed: bool = True, head: bool = False
) -> tuple[int, dict[str, str], bytes, bytes]:
    """(status, headers, body, the rest) of the first final response in `raw`; ValueError
    while it is not all there. `closed`: the connection ended after `raw` (a body without a
    length ends there); `head`: the answer to a HEAD request, which has no body."""
    while True:
        top, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError(f"no end of headers in {raw[:200]!r}")
        lines = top.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status >= 200:
            break
        raw = rest  # an interim 100 Continue
    if head:
        return status, headers, b"", rest
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return status, headers, body, rest.partition(b"\r\n")[2]
            if len(rest) < size + 2:
                raise ValueError("the chunked body ends early")
            body += rest[:size]
            rest = rest[size + 2 :]
    if "content-length" not in headers:
        if closed:
            return status, headers, rest, b""
        raise ValueError("no length: the body ends when the connection does")
    length = int(headers["content-length"])
    if len(rest) < length:
        raise ValueError("the body ends early")
    return status, headers, rest[:length], rest[length:]


def error_problem(status: int, headers: dict[str, str], body: bytes) -> str | None:
    """What is wrong with an error response: OpenAI's shape, one public sentence, not a 500."""
    if "application/json" not in headers.get("content-type", ""):
        return f"a {status} that is not JSON: {headers.get('content-type')} {body[:200]!r}"
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"a {status} not in OpenAI's error shape: {body[:300]!r}"
    if not isinstance(error, dict) or set(error) != {"message", "type", "param", "code"}:
        return f"a {status} not in OpenAI's error shape: {body[:300]!r}"
    message = str(error["message"])
    if "/tmp/" in message or "/root/" in message or "/home/" in message:
        return f"a {status} names an absolute path: {message!r}"
    if status >= 500 and status != 503:
        return f"a {status}: {message!r}"
    return sentence_problem(message)


def answer_problem(raw: bytes, case: HttpCase) -> str | None:
    """What is wrong with the server's answer `raw` to `case`; None when it is a good one."""
    if not raw:
        return "no answer to a whole request" if case.complete else None
    try:
        status, headers, body, _ = split_response(raw, head=case.method == "HEAD")
    except ValueError as exc:
        return f"an answer that cannot be read ({exc}): {raw[:300]!r}"
    if status >= 400 and case.method == "HEAD":  # no body to judge, only its type
        kind = headers.get("content-type", "")
        return None if kind.startswith("application/json") else f"a {status} of type {kind!r}"
    if status >= 400:
        return error_problem(status, headers, body)
    kind = headers.get("content-type", "")
    if 300 <= status < 400:
        return None if "location" in headers else f"a {status} without Location"
    if case.method == "HEAD":
        return None
    if kind.startswith("application/json"):
        try:
            json.loads(body)
        except ValueError:
            return f"a {status} whose JSON cannot be read: {body[:200]!r}"
        return None
    if kind.startswith(("audio/", "application/octet-stream")):
        return None if body else f"a {status} with no audio"
    if kind.startswith("text/html"):
        return None
    return f"a {status} of an unexpected type {kind!r}"
