"""`cosydesk serve`: refusals with a sentence, and a real foreground server with a 4-bit model."""

from __future__ import annotations

import argparse
import socket
import threading
from pathlib import Path

import httpx
import openai
import pytest

from cosydesk import cli
from cosydesk.engine.errors import ConfigError
from cosydesk.engine.types import EngineOptions
from cosydesk.server import run_server
from cosydesk.server.run import server_options
from tests.server.conftest import NARRATOR


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings under tmp_path and no server or quantisation variables from outside."""
    monkeypatch.setenv("COSYDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COSYDESK_DATA_DIR", str(tmp_path / "data"))
    for name in (
        "QUANTIZATION_ENABLED",
        "QUANTIZATION_BITS",
        "COSYDESK_API_KEY",
        "COSYDESK_MAX_INPUT_CHARS",
        "COSYDESK_QUEUE_SIZE",
        "COSYDESK_MODEL_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def serve_cli(tiny_model: Path, *extra: str) -> int:
    return cli.main(["serve", "--model", str(tiny_model), "--device", "cpu", *extra])


def test_serving_beyond_loopback_without_a_key_is_refused(dirs, tiny_model, capsys):
    assert serve_cli(tiny_model, "--host", "0.0.0.0", "--port", "0") == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "needs an API key: set COSYDESK_API_KEY" in err
    assert "Traceback" not in err


def test_a_key_no_client_could_send_stops_the_server(dirs, tiny_model, monkeypatch, capsys):
    monkeypatch.setenv("COSYDESK_API_KEY", "clé-secrète-0123456789")
    # The port is taken too, so that a server that took the key would still stop at once.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        assert serve_cli(tiny_model, "--port", port) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "cosydesk: The API key may use only ASCII letters, digits and punctuation" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("QUANTIZATION_BITS", "5", "QUANTIZATION_BITS is '5', which is not allowed: use 4 or 8"),
        ("QUANTIZATION_ENABLED", "maybe", "QUANTIZATION_ENABLED is 'maybe', which is not allowed"),
    ],
)
def test_bad_quantisation_variables_stop_the_server_with_a_sentence(
    dirs, tiny_model, monkeypatch, capsys, variable, value, words
):
    monkeypatch.setenv(variable, value)
    assert serve_cli(tiny_model, "--port", "0") == cli.EXIT_ERROR
    assert words in capsys.readouterr().err
    # run_server checks them itself too, whoever computed the options.
    args = argparse.Namespace(host="127.0.0.1", port=0)
    with pytest.raises(ConfigError, match=words):
        run_server(args, tiny_model, EngineOptions(device="cpu", quantization="none"))


def test_a_port_in_use_is_a_sentence(dirs, tiny_model, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert serve_cli(tiny_model, "--port", str(port)) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"Port {port} on 127.0.0.1 is already in use by another program" in err


def test_a_model_folder_that_cannot_load_stops_the_server(dirs, capsys):
    assert cli.main(["serve", "--model", str(dirs / "nowhere"), "--port", "0"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "cosydesk: The model could not be loaded: " in err and "Traceback" not in err


def test_server_options_come_from_arguments_environment_and_settings(dirs, monkeypatch):
    from cosydesk.config import Settings

    settings = Settings.load()
    settings.set("api_key", "stored-key-0123456789")
    settings.set("default_voice", NARRATOR)
    settings.save()
    args = argparse.Namespace(host="0.0.0.0", port=9000)
    options = server_options(args)
    assert (options.host, options.port, options.api_key, options.default_voice) == (
        "0.0.0.0",
        9000,
        "stored-key-0123456789",
        NARRATOR,
    )
    monkeypatch.setenv("COSYDESK_API_KEY", "env-key-0123456789ab")
    monkeypatch.setenv("COSYDESK_MAX_INPUT_CHARS", "100")
    monkeypatch.setenv("COSYDESK_QUEUE_SIZE", "2")
    options = server_options(args)
    assert (options.api_key, options.max_input_chars, options.queue_size) == (
        "env-key-0123456789ab",
        100,
        2,
    )
    monkeypatch.setenv("COSYDESK_QUEUE_SIZE", "lots")
    with pytest.raises(ConfigError, match="COSYDESK_QUEUE_SIZE is 'lots'"):
        server_options(args)


def test_run_server_loads_4bit_serves_and_stops(dirs, tiny_model, voice_root, monkeypatch, capsys):
    monkeypatch.setenv("COSYDESK_DATA_DIR", str(voice_root.parent))
    ready = threading.Event()
    handle: dict[str, object] = {}

    def on_ready(url: str, stop) -> None:
        handle.update(url=url, stop=stop)
        ready.set()

    def main() -> None:
        args = argparse.Namespace(host="127.0.0.1", port=0)
        options = EngineOptions(device="cpu", quantization="4bit")
        handle["code"] = run_server(args, tiny_model, options, on_ready=on_ready)

    thread = threading.Thread(target=main)
    thread.start()
    try:
        assert ready.wait(120), "the server did not start"
        url = str(handle["url"])
        health = httpx.get(f"{url}/health").json()
        assert (health["status"], health["quantization"], health["quantization_mode"]) == (
            "ok",
            "4-bit",
            "4bit",
        )
        assert health["components"]["llm"]["precision"] == "nf4"
        assert "4-bit NF4" in httpx.get(url).text
        with openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=60) as oai:
            speech = oai.audio.speech.create(
                model="cosyvoice3", voice=NARRATOR, input="Good morning.", response_format="wav"
            )
            assert speech.read()[:4] == b"RIFF"
    finally:
        if "stop" in handle:
            handle["stop"]()  # type: ignore[operator]
        thread.join(60)
    assert not thread.is_alive() and handle["code"] == 0
    err = capsys.readouterr().err
    assert "Loading the language model" in err
    assert f"Serving the speech API on {handle['url']}" in err
