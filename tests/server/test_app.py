"""The speech API through real clients: the openai package for speech, httpx for the rest."""

from __future__ import annotations

import contextlib
import io
import struct
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
import soundfile

from tests.server.conftest import NARRATOR, SECOND, SR


@contextlib.contextmanager
def client(served, api_key: str = "not-needed") -> Iterator[openai.OpenAI]:
    """The real openai client pointed at `served`; no retries, so errors show at once."""
    with openai.OpenAI(base_url=served.api, api_key=api_key, max_retries=0, timeout=60) as oai:
        yield oai


def decode(data: bytes) -> tuple[np.ndarray, int]:
    audio, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return audio, rate


def test_openai_client_speaks_wav_that_players_can_read(serve):
    served = serve()
    with client(served) as oai:
        speech = oai.audio.speech.create(
            model="cosyvoice3",
            voice=NARRATOR,
            input="Hello world. How are you today?",
            response_format="wav",
        )
        data = speech.read()
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    # Streamed: the sizes are unknown when the header leaves, as in OpenAI's streamed WAV.
    assert struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF
    assert data[36:40] == b"data" and struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF
    audio, rate = decode(data)
    assert rate == SR
    assert len(audio) == (len(data) - 44) // 2 > 0
    assert np.abs(audio).max() > 0.001
    with wave.open(io.BytesIO(data)) as w:  # the standard library reads it to the end too
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SR, 1, 2)
        assert len(w.readframes(10**9)) == len(audio) * 2


def test_streaming_response_arrives_in_chunks_as_pcm(serve):
    served = serve()
    with (
        client(served) as oai,
        oai.audio.speech.with_streaming_response.create(
            model="tts-1",
            voice=NARRATOR,
            input="Good morning. How are you today?",
            response_format="pcm",
        ) as response,
    ):
        assert response.headers["content-type"] == "audio/pcm"
        assert response.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in response.headers
        body = b"".join(response.iter_bytes())
    assert len(body) % 2 == 0 and len(body) > 0
    samples = np.frombuffer(body, dtype="<i2")
    assert np.abs(samples).max() > 30  # s16le of real audio, not silence


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("flac", "audio/flac"), ("mp3", "audio/mpeg"), ("opus", "audio/ogg")]
)
def test_encoded_formats_come_whole_with_a_length(serve, fmt, media_type):
    served = serve()
    response = httpx.post(
        f"{served.api}/audio/speech",
        timeout=60,
        json={"input": "One two three.", "voice": NARRATOR, "response_format": fmt},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert int(response.headers["content-length"]) == len(response.content)
    audio, rate = decode(response.content)
    assert served.runner.wait_finished(2, timeout=30)
    made = round(served.runner.records()[-1].detail["audio_seconds"] * SR)
    assert rate == SR and made > 0
    # flac is lossless; mp3 and opus decoders add a little padding of their own.
    assert len(audio) == made if fmt == "flac" else abs(len(audio) - made) < SR // 10


def test_default_format_is_mp3_like_openai(serve):
    served = serve()
    with client(served) as oai:
        speech = oai.audio.speech.create(model="tts-1", voice="default", input="Hi there.")
        data = speech.read()
    assert speech.response.headers["content-type"] == "audio/mpeg"
    audio, rate = decode(data)
    assert rate == SR and len(audio) > 0


def test_voice_default_absent_or_by_id_use_the_configured_voice(serve):
    served = serve(default_voice=SECOND)
    bodies = [
        {"input": "Hi.", "voice": "default", "response_format": "pcm"},
        {"input": "Hi.", "response_format": "pcm"},
        {"input": "Hi.", "voice": {"id": "second voice"}, "response_format": "pcm"},
    ]
    for body in bodies:
        response = httpx.post(f"{served.api}/audio/speech", json=body, timeout=60)
        assert response.status_code == 200, response.text
    assert served.service.resolve_voice(None) == SECOND
    assert served.service.resolve_voice("SECOND VOICE") == SECOND


def spoken(served, **fields) -> np.ndarray:
    """The samples of one speech request (pcm), made from the same random draws every time:
    the tiny model samples its tokens, so the seed is set again before each request."""
    import torch

    torch.manual_seed(5)
    body = {"input": "Good morning. How are you today?", "response_format": "pcm", **fields}
    response = httpx.post(f"{served.api}/audio/speech", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return np.frombuffer(response.content, dtype="<i2")


def test_speed_changes_how_long_the_speech_lasts(serve):
    served = serve()
    slow, fast = (
        spoken(served, voice=NARRATOR, speed=0.5),
        spoken(served, voice=NARRATOR, speed=2.0),
    )
    assert len(fast) > 0
    # The same words at four times the pace last a quarter as long.
    assert 3.5 < len(slow) / len(fast) < 4.5


def test_each_request_speaks_with_the_voice_it_names(serve):
    served = serve(default_voice=NARRATOR)
    narrator, second = spoken(served, voice=NARRATOR), spoken(served, voice=SECOND)
    assert np.array_equal(spoken(served, voice=NARRATOR), narrator)  # the same request, the same
    assert not np.array_equal(second, narrator)
    assert np.array_equal(spoken(served, voice="second voice"), second)


def test_the_accepted_speeds_are_the_declared_range(serve, redeclare):
    redeclare("speed", minimum=0.25, maximum=1.5)
    served = serve()
    refused = httpx.post(
        f"{served.api}/audio/speech", json={"input": "Hi.", "speed": 1.8}, timeout=60
    )
    assert refused.status_code == 400
    assert "use 0.25 to 1.5 (1.0 is normal)" in refused.json()["error"]["message"]
    with client(served) as oai:  # the engine takes what the server takes
        speech = oai.audio.speech.create(
            model="cosyvoice3", voice=NARRATOR, input="Quick.", response_format="wav", speed=0.3
        )
        assert len(decode(speech.read())[0]) > 0


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"input": ""}, 400, "The input is empty"),
        ({"input": "   \n "}, 400, "The input is empty"),
        ({"input": "x" * 33}, 400, "at most 32"),
        ({"input": "Hi.", "voice": "alloy"}, 404, "no voice called 'alloy'"),
        ({"input": "Hi.", "response_format": "aac"}, 400, "use wav, pcm, flac, mp3 or opus"),
        ({"input": "Hi.", "speed": 4.0}, 400, "use 0.5 to 2.0"),
        ({"input": "Hi.", "model": "whisper-1"}, 404, "not served here"),
        ({"input": "Hi.", "stream_format": "sse"}, 400, "stream_format"),
        ({"voice": NARRATOR}, 400, "input: Field required"),
        ({"input": "...", "voice": NARRATOR}, 400, "nothing to read aloud"),
    ],
)
def test_bad_requests_get_a_sentence_in_openai_shape(serve, body, status, words):
    served = serve(max_input_chars=32)
    response = httpx.post(f"{served.api}/audio/speech", json=body, timeout=60)
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error["message"]
    assert error["message"].endswith((".", ")"))
    assert error["type"] in ("invalid_request_error", "not_found_error")


def test_a_body_nested_too_deeply_for_the_json_reader_gets_a_sentence(serve):
    served = serve()
    body = '{"input": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = httpx.post(
        f"{served.api}/audio/speech",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("The request is not valid: the body must be a JSON object")
    assert error["message"].endswith(".") and error["type"] == "invalid_request_error"


def test_openai_client_raises_its_own_errors_with_our_sentences(serve):
    served = serve(max_input_chars=32)
    with client(served) as oai:
        with pytest.raises(openai.NotFoundError, match="no voice called 'nobody'"):
            oai.audio.speech.create(model="cosyvoice3", voice="nobody", input="Hello.")
        with pytest.raises(openai.BadRequestError, match="at most 32"):
            oai.audio.speech.create(model="cosyvoice3", voice=NARRATOR, input="Hello. " * 10)


def test_models_and_voices_are_listed(serve):
    served = serve(default_voice=NARRATOR)
    with client(served) as oai:
        assert [m.id for m in oai.models.list().data] == ["cosyvoice3"]
        assert oai.models.retrieve("tts-1").id == "cosyvoice3"
    voices = httpx.get(f"{served.api}/audio/voices").json()
    assert [v["name"] for v in voices["data"]] == [NARRATOR, SECOND]
    assert voices["default"] == NARRATOR
    assert voices["data"][0]["default"] and voices["data"][0]["duration_s"] == pytest.approx(3.0)


def test_health_reports_the_seed_fields_device_memory_and_queue(serve):
    served = serve()
    health = httpx.get(f"{served.url}/health").json()
    assert {k: health[k] for k in ("status", "model", "backend", "quantization")} == {
        "status": "ok",
        "model": "cosyvoice3",
        "backend": "pytorch",
        "quantization": "none",
    }
    assert health["device"] == "cpu"
    assert health["memory"]["model_bytes"] > 1_000_000
    assert health["components"]["llm"]["precision"] == "fp32"
    assert health["queue"] == {
        "running": None,
        "running_for": None,
        "app_speaking": False,
        "waiting": 0,
        "capacity": 4,
        "finished": 1,
    }


def test_warmup_loads_the_model_when_needed_and_times_one_utterance(serve):
    served = serve(loaded=False)
    before = httpx.get(f"{served.url}/health").json()
    assert before["status"] == "unloaded" and before["quantization"] == "none"
    warm = httpx.post(f"{served.url}/warmup", timeout=60).json()
    assert warm["status"] == "ok" and warm["voice"] == NARRATOR
    assert warm["load_seconds"] >= 0 and warm["synthesis_seconds"] > 0
    assert warm["audio_seconds"] > 0 and warm["first_chunk_seconds"] <= warm["synthesis_seconds"]
    assert httpx.get(f"{served.url}/health").json()["load"]["seconds"] is not None
    again = httpx.post(f"{served.url}/warmup", timeout=60).json()
    assert again["load_seconds"] < 0.5  # loaded once, kept


def test_a_model_that_fails_to_load_is_reported_not_fatal(serve):
    from cosydesk.engine.errors import ModelFolderError

    def broken(*args, **kwargs):
        raise ModelFolderError("The model folder lacks flow.pt: choose the complete folder.")

    served = serve(loaded=False, loader=broken)
    warm = httpx.post(f"{served.url}/warmup", timeout=60)
    assert warm.status_code == 503 and warm.headers["Retry-After"]
    message = warm.json()["error"]["message"]
    assert message == (
        "The model could not be loaded: The model folder lacks flow.pt: choose the complete folder."
    )
    health = httpx.get(f"{served.url}/health").json()
    assert health["status"] == "error" and "lacks flow.pt" in health["load"]["error"]
    speech = httpx.post(f"{served.api}/audio/speech", json={"input": "Hi."}, timeout=60)
    assert speech.status_code == 503 and "lacks flow.pt" in speech.json()["error"]["message"]
    assert "lacks flow.pt" in httpx.get(served.url).text


def test_status_page_shows_quantisation_memory_and_voices(serve, monkeypatch):
    monkeypatch.setenv("QUANTIZATION_ENABLED", "false")
    served = serve()
    page = httpx.get(f"{served.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "none (full precision)" in text and "QUANTIZATION_ENABLED=false" in text
    assert "MiB" in text and "llm (cpu, fp32)" in text
    assert NARRATOR in text and SECOND in text and "Hello world, this is a test." in text


def test_unknown_paths_and_methods_answer_in_openai_shape(serve):
    served = serve()
    missing = httpx.get(f"{served.url}/v1/audio/transcriptions")
    assert missing.status_code == 404 and "nothing at" in missing.json()["error"]["message"]
    wrong = httpx.get(f"{served.api}/audio/speech")
    assert wrong.status_code == 405 and "not allowed" in wrong.json()["error"]["message"]
