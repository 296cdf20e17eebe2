"""The model's queue as the server uses it: bounded (503 + Retry-After), one thread, the app's
person first, cancellation by clients."""

from __future__ import annotations

import concurrent.futures
import tempfile
import threading
import time
from typing import Any

import httpx
import pytest

from cosydesk.engine.errors import Cancelled
from cosydesk.engine.voices import VoiceLibrary
from cosydesk.runner import (
    Job,
    JobContext,
    ModelUnavailable,
    Origin,
    QueueFull,
    QueueStopped,
    Runner,
)
from cosydesk.server.options import ServerOptions
from cosydesk.server.service import SpeechService
from tests.runner.conftest import gate
from tests.server.conftest import NARRATOR


def hold_model(runner: Runner, origin: Origin = Origin.API, kind: str = "gate") -> threading.Event:
    """Occupy the runner's thread until the returned event is set (stopping also ends it)."""
    _job, release = gate(runner, origin, kind)
    return release


def test_requests_beyond_the_queue_get_503_with_retry_after(serve):
    served = serve(queue_size=1)
    gate = hold_model(served.runner)
    body = {
        "input": "Good morning. How are you today?",
        "voice": NARRATOR,
        "response_format": "pcm",
    }

    def post() -> httpx.Response:
        return httpx.post(f"{served.api}/audio/speech", json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(post) for _ in range(4)]
        # One request waits in the queue's single place; the other three are refused at once,
        # so they are the first three to finish while the model is held.
        finished = concurrent.futures.as_completed(futures, timeout=60)
        refused = [next(finished).result() for _ in range(3)]
        gate.set()
        served_response = next(finished).result()
    for response in refused:
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        error = response.json()["error"]
        assert error["code"] == "queue_full" and "try again in about" in error["message"]
    assert served_response.status_code == 200 and len(served_response.content) > 0


def test_jobs_run_one_at_a_time_on_one_thread(serve):
    served = serve(queue_size=8)
    threads: list[str] = []
    inside = threading.Semaphore(1)

    def work(ctx: JobContext) -> None:
        assert inside.acquire(blocking=False), "two jobs ran at once"
        threads.append(threading.current_thread().name)
        inside.release()

    jobs = [served.service.submit(Job("probe", work)) for _ in range(6)]
    for job in jobs:
        job.future.result(timeout=30)
    assert set(threads) == {served.runner.name}


def test_client_that_disconnects_mid_stream_stops_the_engine(serve, long_text):
    served = serve()
    body = {"input": long_text, "voice": NARRATOR, "response_format": "pcm"}
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{served.api}/audio/speech", json=body) as response,
    ):
        assert response.status_code == 200
        first = next(response.iter_raw())
        assert first
    # Leaving the block closed the connection with most of the text still unspoken.
    assert served.runner.wait_finished(2, timeout=60)
    record = served.runner.records()[-1]
    assert record.kind == "speech" and record.outcome == "cancelled"
    assert record.detail["chars_done"] < record.detail["chars_total"]
    # The model is free again at once.
    after = httpx.post(
        f"{served.api}/audio/speech",
        timeout=60,
        json={"input": "Hi there.", "voice": NARRATOR, "response_format": "pcm"},
    )
    assert after.status_code == 200


def queue_on_health(served) -> dict[str, Any]:
    return httpx.get(f"{served.url}/health", timeout=30).json()["queue"]


def eventually(condition: Any, timeout: float = 10.0) -> bool:
    """True once `condition()` is; False if it is still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_clients_that_leave_while_queued_free_their_places(serve):
    served = serve(queue_size=2)
    gate = hold_model(served.runner)
    body = {"input": "Hello there.", "voice": NARRATOR, "response_format": "wav"}

    def give_up() -> None:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{served.api}/audio/speech", json=body, timeout=httpx.Timeout(30, read=1))

    def post() -> httpx.Response:
        return httpx.post(f"{served.api}/audio/speech", json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(give_up) for _ in range(2)]:
            future.result()
        # Both places were taken, and both clients are gone: the places are free again at
        # once, not when the model has finished what it is doing.
        assert eventually(lambda: queue_on_health(served)["waiting"] == 0), queue_on_health(served)
        later = [pool.submit(post) for _ in range(2)]
        assert eventually(lambda: queue_on_health(served)["waiting"] == 2)
        gate.set()
        responses = [future.result() for future in later]
    for response in responses:
        assert response.status_code == 200 and response.content[:4] == b"RIFF"
    # load, the two that left, the gate, the two served
    assert served.runner.wait_finished(6, timeout=30)
    speech = [r for r in served.runner.records() if r.kind == "speech"]
    assert [r.outcome for r in speech] == ["cancelled", "cancelled", "done", "done"]
    assert all("chars_total" not in r.detail for r in speech[:2]), "a gone client was spoken"


def test_client_that_leaves_while_its_file_is_made_stops_the_engine(serve, long_text):
    served = serve()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{served.api}/audio/speech",
            json={"input": long_text, "voice": NARRATOR, "response_format": "flac"},
            timeout=httpx.Timeout(30, read=1),
        )
    assert served.runner.wait_finished(2, timeout=60)
    record = served.runner.records()[-1]
    assert record.kind == "speech" and record.outcome == "cancelled"
    assert record.detail["chars_done"] < record.detail["chars_total"]


def test_full_queue_refuses_at_once_and_stop_cancels_what_waits():
    runner = Runner()
    runner.start()
    service = SpeechService(ServerOptions(queue_size=1), runner, VoiceLibrary(tempfile.mkdtemp()))
    try:
        release = hold_model(runner)
        ran = threading.Event()
        second = service.submit(Job("second", lambda ctx: ran.set()))
        with pytest.raises(QueueFull) as refused:
            service.submit(Job("third", lambda ctx: None))
        assert refused.value.retry_after >= 1
        release.set()
        second.future.result(timeout=30)
        assert ran.is_set()

        hold_model(runner)
        ran.clear()
        late = service.submit(Job("late", lambda ctx: ran.set()))
        assert service.stop(timeout=30)  # cancels the job behind the gate
        with pytest.raises(Cancelled):
            late.future.result(timeout=30)
        assert not ran.is_set()
        with pytest.raises(QueueStopped, match="The server is shutting down"):
            service.submit(Job("after", lambda ctx: None))
    finally:
        assert runner.stop(timeout=30)
    assert [r.outcome.value for r in runner.records()] == [
        "done",
        "done",
        "cancelled",
        "cancelled",
    ]
    assert runner.status().engine.status == "unloaded"


def test_a_service_that_may_not_load_the_model_answers_a_503_sentence():
    runner = Runner()
    runner.start()
    library = VoiceLibrary(tempfile.mkdtemp())
    service = SpeechService(ServerOptions(), runner, library, loads_model=False)
    try:
        job = service.submit(service.load_job())
        with pytest.raises(ModelUnavailable, match="not loaded in cosydesk yet"):
            job.future.result(timeout=30)
    finally:
        assert runner.stop(timeout=30)


def test_while_the_app_speaks_health_says_so_and_a_full_queue_names_it(serve):
    served = serve(queue_size=0)
    release = hold_model(served.runner, Origin.APP, kind="speech")
    try:
        queue = queue_on_health(served)
        assert (queue["running"], queue["running_for"], queue["app_speaking"]) == (
            "speech",
            "app",
            True,
        )
        refused = httpx.post(
            f"{served.api}/audio/speech", json={"input": "Hi.", "voice": NARRATOR}, timeout=30
        )
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
        message = refused.json()["error"]["message"]
        assert "speaking for the person at this computer (in the cosydesk app)" in message
        assert "the cosydesk app is speaking" in httpx.get(served.url, timeout=30).text
    finally:
        release.set()
    assert eventually(lambda: not queue_on_health(served)["app_speaking"])
