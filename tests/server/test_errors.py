"""Every error leaves as a sentence in OpenAI's error shape, naming no absolute path and
carrying no exception's raw text (the log keeps those)."""

from __future__ import annotations

import logging
import shutil
from typing import Any

import httpx
import pytest

from cosydesk.server.errors import public_text
from tests.server.conftest import NARRATOR, SECOND

KEY = "k3y-for-the-tests-0123456789"


def openai_error(response: httpx.Response) -> dict[str, Any]:
    """The "error" object of `response`, checked for OpenAI's shape and a sentence."""
    assert response.headers["content-type"] == "application/json", response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"][0].isupper() and error["message"].endswith("."), error["message"]
    return error


def test_an_encoder_failure_after_synthesis_is_a_sentence(serve, monkeypatch, caplog):
    import soundfile

    def refuse(*args: Any, **kwargs: Any) -> None:
        # What a libsndfile built without FLAC says; its text names our internals.
        raise soundfile.LibsndfileError(1, "Error opening <_io.BytesIO object at 0x7f>: ")

    served = serve()
    monkeypatch.setattr(soundfile, "write", refuse)
    response = httpx.post(
        f"{served.api}/audio/speech",
        json={"input": "Hello there.", "voice": NARRATOR, "response_format": "flac"},
        timeout=60,
    )
    assert response.status_code == 500
    error = openai_error(response)
    assert error["type"] == "server_error" and error["code"] == "internal_error"
    assert "went wrong while encoding the audio as flac" in error["message"]
    assert "BytesIO" not in error["message"] and "Error opening" not in error["message"]
    # The log has the details, under the reference the client was given.
    reference = error["message"].rsplit(" ", 1)[-1].strip(").")
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_protocol_errors_are_in_openai_shape(serve):
    served = serve(host="0.0.0.0", api_key=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    wrong_method = httpx.delete(f"{served.url}/health", headers=auth)
    assert wrong_method.status_code == 405
    error = openai_error(wrong_method)
    assert error["type"] == "invalid_request_error" and error["code"] == "method_not_allowed"
    no_key = httpx.get(f"{served.url}/health")
    assert no_key.status_code == 401 and openai_error(no_key)["code"] == "invalid_api_key"
    assert no_key.headers["connection"] == "close"  # its body, if any, is never read
    schema = httpx.get(f"{served.url}/openapi.json", headers=auth)
    assert schema.status_code == 404 and openai_error(schema)["code"] == "not_found"


def test_no_response_names_a_folder_or_an_exception(serve, tiny_model, voice_root, tmp_path):
    from cosydesk.engine.errors import ModelFolderError

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ModelFolderError(f"The model folder {tiny_model} lacks flow.pt: choose another.")

    served = serve(loaded=False, loader=broken)
    warm = httpx.post(f"{served.url}/warmup", timeout=60)
    assert openai_error(warm)["message"] == (
        f"The model could not be loaded: The model folder {tiny_model.name} lacks flow.pt: "
        "choose another."
    )
    health = httpx.get(f"{served.url}/health").text
    page = httpx.get(served.url).text
    for text in (health, page):
        assert f"{tiny_model.name} lacks flow.pt" in text
        assert str(tiny_model.parent) not in text

    def crashes(*args: Any, **kwargs: Any) -> None:
        raise KeyError("llm.weight in /secret/place")

    served = serve(loaded=False, loader=crashes)
    warm = httpx.post(f"{served.url}/warmup", timeout=60)
    assert "unexpected error" in openai_error(warm)["message"]
    for text in (warm.text, httpx.get(f"{served.url}/health").text, httpx.get(served.url).text):
        assert "KeyError" not in text and "secret" not in text

    # A voice whose clip is gone (and whose features were never cached) fails by name only.
    voices = tmp_path / "voices"
    shutil.copytree(voice_root, voices)
    for folder in voices.iterdir():
        for cached in folder.glob("features-*.npz"):
            cached.unlink()
        (folder / "prompt.wav").unlink(missing_ok=True)
    served = serve(voices=voices)
    spoken = httpx.post(
        f"{served.api}/audio/speech",
        json={"input": "Hello there.", "voice": SECOND, "response_format": "wav"},
        timeout=60,
    )
    assert spoken.status_code == 500
    message = openai_error(spoken)["message"]
    assert "prompt.wav" in message and str(voices) not in message
    health = httpx.get(f"{served.url}/health").json()
    assert health["model_dir"] == tiny_model.name


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("The clip /home/ann/voices/a/prompt.wav is gone.", "The clip prompt.wav is gone."),
        ("The folder /srv/models/Fun-CosyVoice3/ is empty.", "The folder Fun-CosyVoice3 is empty."),
        ("Cannot read C:\\Users\\ann\\clip.wav.", "Cannot read clip.wav."),
        ("see GET / for the endpoints", "see GET / for the endpoints"),
        ("http://127.0.0.1:8000/v1/audio", "http://127.0.0.1:8000/v1/audio"),
        ("use 0.5 to 2.0, or 1/2/3", "use 0.5 to 2.0, or 1/2/3"),
    ],
)
def test_public_text_cuts_absolute_paths_to_their_last_part(text, shown):
    assert public_text(text) == shown


def test_the_log_keeps_what_responses_leave_out(serve, tiny_model, caplog):
    caplog.set_level(logging.INFO)

    def crashes(*args: Any, **kwargs: Any) -> None:
        raise KeyError(f"llm.weight in {tiny_model}")

    served = serve(loaded=False, loader=crashes)
    assert httpx.post(f"{served.url}/warmup", timeout=60).status_code == 503
    assert any(
        r.exc_info and str(tiny_model) in str(r.exc_info[1])
        for r in caplog.records
        if r.name.startswith("cosydesk")
    )
