"""The tray app's local speech API: its requests are jobs on the app's own runner."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cosydesk.engine.types import EngineOptions
from cosydesk.runner import ModelConfig, Origin, Outcome, Runner

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

KEY = "tray-key-0123456789abc"


@pytest.fixture
def idle_runner(library) -> Iterator[Runner]:
    """The app's runner before any model is loaded."""
    runner = Runner(library)
    runner.start()
    yield runner
    assert runner.stop(30)


@pytest.fixture
def make_api(library, idle_runner: Runner) -> Iterator[Any]:
    from cosydesk.gui.api_server import LocalApiServer

    made: list[LocalApiServer] = []

    def make(runner: Runner | None = None, **kwargs: Any) -> LocalApiServer:
        api = LocalApiServer(
            runner or idle_runner, port=kwargs.pop("port", 0), library=library, **kwargs
        )
        made.append(api)
        return api

    yield make
    for api in made:
        assert api.stop(timeout=30)


def test_serves_the_apps_model_on_the_apps_runner(make_api, library, clip, tiny_model: Path):
    import torch

    runner = Runner(library)
    runner.start()
    try:
        cpu = EngineOptions(device="cpu", quantization="none")
        runner.load(ModelConfig(tiny_model, cpu)).future.result(120)
        api = make_api(runner)
        url = api.start()
        assert api.running and url == f"http://127.0.0.1:{api.port}"
        health = httpx.get(f"{url}/health").json()
        assert (health["status"], health["device"]) == ("ok", "cpu")  # the app's model
        library.add("Anna", clip, "Hello world, this is a test.")
        torch.manual_seed(5)
        with openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=60) as oai:
            speech = oai.audio.speech.create(
                model="cosyvoice3", voice="Anna", input="Good morning.", response_format="wav"
            )
            assert speech.read()[:4] == b"RIFF"
        assert runner.wait_finished(2, 30)
        spoken = runner.records()[-1]
        assert (spoken.kind, spoken.origin, spoken.outcome) == ("speech", Origin.API, Outcome.DONE)
        assert spoken.detail["samples"] > 0
    finally:
        assert runner.stop(30)


def test_without_a_loaded_model_requests_get_a_sentence(make_api, idle_runner, library, clip):
    library.add("Anna", clip, "Hello there.")
    url = make_api().start()
    response = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", "voice": "Anna"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "not loaded in cosydesk yet" in response.json()["error"]["message"]
    # The API never loads the model behind the person's back.
    assert idle_runner.status().engine.status == "unloaded"


def test_key_is_required_when_set(make_api):
    api = make_api(api_key=KEY)
    url = api.start()
    assert httpx.get(f"{url}/health").status_code == 401
    ok = httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200


def test_a_key_no_client_could_send_is_refused_at_start(make_api):
    from cosydesk.engine.errors import ConfigError

    api = make_api(api_key="clé-secrète-0123456789")
    with pytest.raises(ConfigError, match="only ASCII letters, digits and punctuation"):
        api.start()
    assert not api.running


def test_start_stop_and_the_port(make_api):
    from cosydesk.server.run import ServerStartError

    api = make_api()
    url = api.start()
    assert api.start() == url  # already running: nothing new
    with pytest.raises(ServerStartError, match="already in use by another program"):
        make_api(port=api.port).start()
    assert api.stop(timeout=30) and not api.running
    assert api.stop()  # twice is fine
    with socket.create_server(("127.0.0.1", api.port)):
        pass  # the port is free again
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")
