"""POST /v1/audio/speech: check the request, queue it on the runner, stream the audio back.

The response is an ASGI object that decides its status only when the first result arrives, so
an error found on the runner's thread before any audio (text with nothing to speak, a model that
failed to load) is still a proper 4xx/5xx. From then on it streams (wav, pcm) or sends the
encoded file (flac, mp3, opus). While it runs it listens for the client's disconnect: a client
that goes away cancels its job, so the engine stops at its next chunk, or, if the job was still
waiting, the job leaves the queue at once and its place is free for another request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import anyio
import numpy as np
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from cosydesk.config import option
from cosydesk.engine.errors import EngineError
from cosydesk.engine.types import SAMPLE_RATE
from cosydesk.runner import Job, JobContext, Origin, Speech
from cosydesk.runner import speech_job as runner_speech_job
from cosydesk.server.encode import (
    DEFAULT_FORMAT,
    FORMATS,
    AudioFormat,
    encode_whole,
    streamed_wav_header,
    supported_names,
    to_s16le,
)
from cosydesk.server.errors import ApiError, BadInput, to_api_error
from cosydesk.server.service import SpeechService

log = logging.getLogger(__name__)

_END = object()


class SpeechRequest(BaseModel):
    """OpenAI's request body; unknown fields are ignored, as OpenAI adds new ones often."""

    model_config = ConfigDict(extra="ignore")

    input: str
    model: str | None = None
    voice: str | dict[str, Any] | None = None  # a name, or OpenAI's {"id": name}
    response_format: str | None = None
    speed: float | None = None
    instructions: str | None = None
    stream_format: str | None = None


def check_request(req: SpeechRequest, service: SpeechService) -> tuple[str, AudioFormat, float]:
    """(voice name, format, speed) for a request the server can take; ApiError otherwise."""
    limit = service.options.max_input_chars
    if not req.input.strip():
        raise ApiError(
            400,
            "The input is empty: send the text to speak in 'input'.",
            code="empty_input",
            param="input",
        )
    if len(req.input) > limit:
        raise ApiError(
            400,
            f"The input is {len(req.input)} characters long; this server takes at most {limit} "
            "per request: split the text and send it in parts.",
            code="input_too_long",
            param="input",
        )
    if req.instructions is not None and len(req.instructions) > limit:
        raise ApiError(
            400,
            f"The instructions are longer than {limit} characters: shorten them.",
            code="instructions_too_long",
            param="instructions",
        )
    if not service.options.accepts_model(req.model):
        raise ApiError(
            404,
            f"The model {req.model!r} is not served here: use '{service.options.model_id}'.",
            code="model_not_found",
            param="model",
        )
    name = (req.response_format or DEFAULT_FORMAT).lower()
    if name not in FORMATS:
        raise ApiError(
            400,
            f"The response_format {req.response_format!r} is not supported: use "
            f"{supported_names()}.",
            code="unsupported_format",
            param="response_format",
        )
    if req.stream_format not in (None, "audio"):
        raise ApiError(
            400,
            "Only stream_format 'audio' is supported (wav and pcm stream as raw audio).",
            code="unsupported_stream_format",
            param="stream_format",
        )
    speeds = option("speed")
    speed = float(speeds.default) if req.speed is None else float(req.speed)
    if not speeds.in_range(speed):
        raise ApiError(
            400,
            f"The speed {speed:g} is out of range: use {speeds.minimum} to {speeds.maximum} "
            f"({speeds.default} is normal).",
            code="invalid_speed",
            param="speed",
        )
    wanted = req.voice.get("id") if isinstance(req.voice, dict) else req.voice
    if wanted is not None and not isinstance(wanted, str):
        raise ApiError(
            400,
            "The voice must be a name, or an object with a name in 'id'.",
            code="invalid_voice",
            param="voice",
        )
    try:
        voice = service.resolve_voice(wanted)
    except EngineError as exc:
        raise to_api_error(exc) from None
    return voice, FORMATS[name], speed


class _Pusher:
    """The job's sink: each chunk goes to the response's event loop as it is made."""

    def __init__(self, push: Any) -> None:
        self.feed = push

    def finish(self) -> None:
        """The end is pushed when the job's future settles, after its outcome is known."""


def speech_job(
    req: SpeechRequest,
    voice_name: str,
    speed: float,
    stream: bool,
    service: SpeechService,
    sink: Any,
) -> Job:
    """The runner job for `req`: the app's own speech job, with its chunks going to `sink`, and
    text with nothing to read reported as the client's fault."""
    speech = Speech(
        req.input, voice_name, speed=speed, stream=stream, instruct=req.instructions or None
    )
    job = runner_speech_job(service.library, speech, _Pusher(sink), Origin.API)
    spoken = job.work

    def work(ctx: JobContext) -> int:
        from cosydesk.engine.text.textnorm import NoTextError

        try:
            return int(spoken(ctx))
        except NoTextError as exc:  # found before any audio: the request is at fault
            raise BadInput(str(exc)) from exc

    job.work = work
    return job


def start_speech(req: SpeechRequest, service: SpeechService) -> SpeechResponse:
    """Check `req`, queue it, and return the response that will carry its audio.

    Raises ApiError (400/404, or 503 with Retry-After when the queue is full).
    """
    voice, fmt, speed = check_request(req, service)
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Any] = asyncio.Queue()
    cancel = threading.Event()

    def push(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody is listening any more
            cancel.set()

    job = speech_job(req, voice, speed, fmt.streams, service, push)
    job.cancel = cancel
    try:
        service.submit(job)
    except EngineError as exc:
        raise to_api_error(exc) from None
    # Runs on the runner's thread after the last chunk was pushed, so _END arrives last.
    job.future.add_done_callback(lambda _: push(_END))
    return SpeechResponse(job, events, fmt, service)


class SpeechResponse(Response):
    """Audio of one queued job; see the module docstring."""

    def __init__(
        self, job: Job, events: asyncio.Queue[Any], fmt: AudioFormat, service: SpeechService
    ) -> None:
        self.job = job
        self.events = events
        self.fmt = fmt
        self.service = service
        self.background = None
        self.completed = False

    def _abandon(self) -> None:
        """The client is gone: stop the job, or free its place if it still waits."""
        self.service.withdraw(self.job)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    if self.completed:  # the server reports the end of a finished response too
                        return
                    log.info("The client went away; cancelling its speech")
                    self._abandon()
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                try:
                    await self._respond(send)
                except OSError:  # the connection broke while sending
                    self._abandon()
                group.cancel_scope.cancel()
        finally:
            if not self.job.future.done():
                self._abandon()

    async def _next(self) -> Any:
        """The next chunk, or _END when the job finished; raises the job's error if it failed."""
        item = await self.events.get()
        if item is _END:
            error = self.job.future.exception()
            if error is not None:
                raise error
        return item

    async def _send_error(self, send: Send, exc: BaseException, doing: str = "speaking") -> None:
        error = to_api_error(exc, doing)
        response = error.response()
        self.completed = True
        await response({"type": "http"}, _no_receive, send)

    async def _respond(self, send: Send) -> None:
        try:
            first = await self._next()
        except Exception as exc:
            await self._send_error(send, exc)
            return
        if not self.fmt.streams:
            await self._send_whole(send, first)
            return
        headers = [(b"content-type", self.fmt.media_type.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.fmt.name == "wav":
            rate = self.job.detail.get("sample_rate") or SAMPLE_RATE
            await send(
                {"type": "http.response.body", "body": streamed_wav_header(rate), "more_body": True}
            )
        chunk = first
        while chunk is not _END:
            await send({"type": "http.response.body", "body": to_s16le(chunk), "more_body": True})
            try:
                chunk = await self._next()
            except Exception as exc:
                # The status went out already: end the connection without the final chunk, so
                # the client sees an incomplete body rather than a short "complete" one.
                log.warning("Speech failed mid-stream: %s", to_api_error(exc).message)
                return
        self.completed = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_whole(self, send: Send, first: Any) -> None:
        chunks = []
        chunk = first
        try:
            while chunk is not _END:
                chunks.append(chunk)
                chunk = await self._next()
        except Exception as exc:
            await self._send_error(send, exc)
            return
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        rate = int(self.job.detail.get("sample_rate") or SAMPLE_RATE)
        try:
            body = await anyio.to_thread.run_sync(encode_whole, audio, rate, self.fmt)
        except Exception as exc:  # the audio is made; only its file could not be written
            await self._send_error(send, exc, f"encoding the audio as {self.fmt.name}")
            return
        headers = [
            (b"content-type", self.fmt.media_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self.completed = True
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}
