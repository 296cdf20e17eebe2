"""The single model's queue: bounded (503 + Retry-After), one thread, cancellation by clients."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

import httpx
import pytest

from cosydesk.engine.errors import Cancelled
from cosydesk.engine.types import EngineStatus
from cosydesk.server.host import ModelUnavailable, SharedHost
from cosydesk.server.queue import ModelQueue, QueueFull, QueueStopped
from tests.server.conftest import NARRATOR


def hold_model(queue: ModelQueue) -> threading.Event:
    """Occupy the model thread until the returned event is set (stopping the queue sets it)."""
    entered = threading.Event()

    def block(engine: Any, job: Any) -> None:
        entered.set()
        assert job.cancel.wait(60), "the test never released the model"

    job = queue.submit("gate", block, load=False)
    assert entered.wait(30)
    return job.cancel


def test_requests_beyond_the_queue_get_503_with_retry_after(serve):
    served = serve(queue_size=1)
    gate = hold_model(served.service.queue)
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

    def work(engine: Any, job: Any) -> None:
        assert inside.acquire(blocking=False), "two jobs ran at once"
        threads.append(threading.current_thread().name)
        inside.release()

    jobs = [served.service.queue.submit("probe", work) for _ in range(6)]
    for job in jobs:
        job.future.result(timeout=30)
    assert set(threads) == {"cosydesk-model"}


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
    assert served.service.queue.wait_finished(2, timeout=60)
    record = served.service.queue.records()[-1]
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
    gate = hold_model(served.service.queue)
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
    assert served.service.queue.wait_finished(6, timeout=30)
    speech = [r for r in served.service.queue.records() if r.kind == "speech"]
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
    assert served.service.queue.wait_finished(2, timeout=60)
    record = served.service.queue.records()[-1]
    assert record.kind == "speech" and record.outcome == "cancelled"
    assert record.detail["chars_done"] < record.detail["chars_total"]


def test_full_queue_refuses_at_once_and_stop_cancels_what_waits():
    host = SharedHost(lambda: None)
    queue = ModelQueue(host, capacity=1)
    queue.start()
    gate = hold_model(queue)
    ran = threading.Event()
    second = queue.submit("second", lambda engine, job: ran.set(), load=False)
    with pytest.raises(QueueFull) as refused:
        queue.submit("third", lambda engine, job: None, load=False)
    assert refused.value.retry_after >= 1
    gate.set()
    second.future.result(timeout=30)
    assert ran.is_set()

    hold_model(queue)
    ran.clear()
    late = queue.submit("late", lambda engine, job: ran.set(), load=False)
    assert queue.stop(timeout=30)  # releases the gate and cancels the job behind it
    with pytest.raises(Cancelled):
        late.future.result(timeout=30)
    assert not ran.is_set()
    with pytest.raises(QueueStopped):
        queue.submit("after", lambda engine, job: None)
    assert [r.outcome for r in queue.records()] == ["done", "done", "done", "cancelled"]
    assert host.status() == EngineStatus(status="unloaded")


def test_shared_host_without_an_engine_is_a_503_sentence():
    host = SharedHost(lambda: None)
    queue = ModelQueue(host)
    queue.start()
    try:
        job = queue.submit("speech", lambda engine, job: None)
        with pytest.raises(ModelUnavailable, match="not loaded in cosydesk yet"):
            job.future.result(timeout=30)
    finally:
        queue.stop()
