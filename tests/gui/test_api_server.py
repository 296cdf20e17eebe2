"""The tray app's local speech API: it serves the app's own engine, under the engine's lock."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cosydesk.engine.types import EngineStatus

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

KEY = "tray-key-0123456789abc"


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Any:
    from cosydesk.engine.engine import Engine
    from cosydesk.engine.types import EngineOptions

    return Engine.load(tiny_model, EngineOptions(device="cpu", quantization="none"))


class LockCheckingEngine:
    """The real engine, checking that whoever speaks with it holds the owner's lock."""

    def __init__(self, engine: Any, lock: threading.Lock) -> None:
        self._engine = engine
        self._lock = lock
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def synthesize(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.calls += 1
        for chunk in self._engine.synthesize(*args, **kwargs):
            assert self._lock.locked(), "the engine was used without the owner's lock"
            yield chunk


@pytest.fixture
def make_api(library) -> Iterator[Any]:
    from cosydesk.gui.api_server import LocalApiServer

    made: list[LocalApiServer] = []

    def make(provider, **kwargs: Any) -> LocalApiServer:
        api = LocalApiServer(provider, port=kwargs.pop("port", 0), library=library, **kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        assert api.stop(timeout=30)


def test_serves_the_apps_engine_under_its_lock(make_api, engine, library, clip):
    import torch

    library.add("Anna", clip, "Hello world, this is a test.", engine)
    lock = threading.Lock()
    shared = LockCheckingEngine(engine, lock)
    status = EngineStatus(status="ok", device="cuda", quantization="4bit")
    api = make_api(lambda: shared, engine_lock=lock, status_provider=lambda: status)
    url = api.start()
    assert api.running and url == f"http://127.0.0.1:{api.port}"
    torch.manual_seed(5)
    with openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=60) as oai:
        speech = oai.audio.speech.create(
            model="cosyvoice3", voice="Anna", input="Good morning.", response_format="wav"
        )
        assert speech.read()[:4] == b"RIFF"
    assert shared.calls == 1
    health = httpx.get(f"{url}/health").json()
    assert (health["status"], health["quantization"]) == ("ok", "4-bit")  # the app's status
    assert not lock.locked()


def test_without_a_loaded_model_requests_get_a_sentence(make_api, engine, library, clip):
    library.add("Anna", clip, "Hello there.", engine)
    api = make_api(lambda: None)
    url = api.start()
    response = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", "voice": "Anna"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "not loaded in cosydesk yet" in response.json()["error"]["message"]


def test_key_is_required_when_set(make_api):
    api = make_api(lambda: None, api_key=KEY)
    url = api.start()
    assert httpx.get(f"{url}/health").status_code == 401
    ok = httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200


def test_a_key_no_client_could_send_is_refused_at_start(make_api):
    from cosydesk.engine.errors import ConfigError

    api = make_api(lambda: None, api_key="clé-secrète-0123456789")
    with pytest.raises(ConfigError, match="only ASCII letters, digits and punctuation"):
        api.start()
    assert not api.running


def test_start_stop_and_the_port(make_api):
    from cosydesk.server.run import ServerStartError

    api = make_api(lambda: None)
    url = api.start()
    assert api.start() == url  # already running: nothing new
    with pytest.raises(ServerStartError, match="already in use by another program"):
        make_api(lambda: None, port=api.port).start()
    assert api.stop(timeout=30) and not api.running
    assert api.stop()  # twice is fine
    with socket.create_server(("127.0.0.1", api.port)):
        pass  # the port is free again
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")
