"""Who may use the server: loopback by default, a Bearer key for anything wider."""

from __future__ import annotations

import httpx
import openai
import pytest

from cosydesk.engine.errors import ConfigError
from cosydesk.server.auth import check_bind, is_loopback, key_matches
from cosydesk.server.options import ServerOptions
from tests.server.conftest import NARRATOR

KEY = "k3y-for-the-tests-0123456789"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses_are_recognised(host, loopback):
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_needs_a_long_enough_key():
    check_bind("127.0.0.1", "")  # loopback needs none
    with pytest.raises(ConfigError, match="needs an API key: set COSYDESK_API_KEY"):
        ServerOptions(host="0.0.0.0").validate()
    with pytest.raises(ConfigError, match=r"too short .* at least 16 characters"):
        check_bind("192.168.1.20", "short")
    with pytest.raises(ConfigError, match="must not contain spaces"):
        check_bind("0.0.0.0", "a key with spaces in it")
    # Clients send headers as bytes the server reads as Latin-1: such a key never matches.
    for key in ("clé-secrète-0123456789", "ключ-0123456789abcdef", "tab\x7fkey-0123456789"):
        with pytest.raises(ConfigError, match="only ASCII letters, digits and punctuation"):
            check_bind("127.0.0.1", key)
    assert ServerOptions(host="0.0.0.0", api_key=KEY).validate().api_key == KEY


def test_key_comparison_wants_the_bearer_scheme():
    assert key_matches(f"Bearer {KEY}", KEY)
    assert key_matches(f"bearer {KEY}", KEY)
    assert not key_matches(KEY, KEY)
    assert not key_matches(f"Basic {KEY}", KEY)
    assert not key_matches(f"Bearer {KEY}x", KEY)
    assert not key_matches(None, KEY)


def test_with_a_key_every_request_is_checked(serve):
    # The options of a LAN server (the traffic of the test stays on 127.0.0.1).
    served = serve(host="0.0.0.0", api_key=KEY)
    for method, path in [
        ("GET", "/health"),
        ("GET", "/"),
        ("GET", "/v1/models"),
        ("POST", "/warmup"),
        ("GET", "/no/such/path"),
    ]:
        response = httpx.request(method, served.url + path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer <key>" in response.json()["error"]["message"]
    wrong = httpx.get(f"{served.url}/health", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    right = httpx.get(f"{served.url}/health", headers={"Authorization": f"Bearer {KEY}"})
    assert right.status_code == 200 and right.json()["status"] == "ok"
    with openai.OpenAI(base_url=served.api, api_key=KEY, max_retries=0, timeout=60) as oai:
        speech = oai.audio.speech.create(
            model="cosyvoice3", voice=NARRATOR, input="Good morning.", response_format="pcm"
        )
        assert len(speech.read()) > 0
    with (
        openai.OpenAI(base_url=served.api, api_key="nope", max_retries=0) as oai,
        pytest.raises(openai.AuthenticationError),
    ):
        oai.audio.speech.create(model="cosyvoice3", voice=NARRATOR, input="Hi.")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Origin": "http://localhost:3000"}, 200),
        ({"Origin": "http://127.0.0.1:8080"}, 200),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "evil.example:8000"}, 403),  # DNS rebinding
        # Brackets that do not close: no address at all (these were answered with a 500).
        ({"Host": "[::1"}, 403),
        ({"Origin": "http://[::1"}, 403),
    ],
)
def test_without_a_key_only_this_machine_may_call(serve, headers, status):
    served = serve()
    response = httpx.get(f"{served.url}/health", headers=headers)
    assert response.status_code == status
    if status == 403:
        error = response.json()["error"]
        assert error["code"] in ("forbidden_host", "forbidden_origin")
        assert "this machine" in error["message"] or "127.0.0.1" in error["message"]
