"""The ASGI app: OpenAI-style speech, models and voices, plus /health, /warmup and a status page.

`create_app(service)` wires the routes to a `SpeechService`; the caller starts and stops the
service (and its runner, when it owns one) around serving. Every error leaves in OpenAI's shape,
and no response names a folder by its absolute path (see errors.public_text).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import PurePath
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cosydesk import __version__
from cosydesk.engine.types import ModelStatus
from cosydesk.runner import Origin, RunnerStatus
from cosydesk.runner.jobs import load_failure_text
from cosydesk.server.auth import AccessGuard
from cosydesk.server.bodylimit import BodyLimit
from cosydesk.server.errors import ApiError, public_text, to_api_error
from cosydesk.server.pages import render_status_page
from cosydesk.server.service import SpeechService
from cosydesk.server.speech import SpeechRequest, start_speech

_CREATED = int(time.mktime((2025, 12, 1, 0, 0, 0, 0, 0, 0)))  # the model's release, roughly


# What a request body must be; said when it is anything else.
_BODY_SHAPE = (
    'the body must be a JSON object such as {"input": "Hello.", "voice": "default"}, sent '
    "with Content-Type: application/json"
)


def _field_errors(exc: RequestValidationError) -> str:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" or tuple(e.get("loc", ())) == ("body",) for e in errors):
        return _BODY_SHAPE
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def health_body(service: SpeechService) -> dict[str, Any]:
    """The seed's fields (status, model, backend, quantization "4-bit"/"8-bit"/"none") plus
    device, memory, the load state and the queue (which says when the app is speaking)."""
    snapshot = service.status()
    body = snapshot.engine.to_dict()
    body["model"] = service.options.model_id
    # The folder's name tells which model it is; its full path is nobody else's business.
    body["model_dir"] = PurePath(body["model_dir"]).name if body.get("model_dir") else ""
    body["warnings"] = [public_text(str(w)) for w in body.get("warnings") or []]
    body["quantization_note"] = public_text(str(body.get("quantization_note") or ""))
    components = body.get("components", {})
    body["memory"] = {
        "model_bytes": sum(int(c.get("bytes") or 0) for c in components.values()),
        "cuda_allocated": body.get("cuda_allocated"),
        "cuda_reserved": body.get("cuda_reserved"),
        "card_used": body.get("card_used"),
        "card_total": body.get("card_total"),
    }
    progress = snapshot.load_progress
    error = snapshot.load_error
    loading = body["status"] == ModelStatus.LOADING
    body["load"] = {
        "seconds": snapshot.load_seconds,
        "progress": progress[0] if progress and loading else None,
        "message": public_text(progress[1]) if progress and loading else None,
        "error": public_text(load_failure_text(error)) if error is not None else None,
    }
    body["queue"] = queue_body(snapshot)
    return body


def queue_body(snapshot: RunnerStatus) -> dict[str, Any]:
    """What the model does and what waits. `running_for` is "app" while the cosydesk app's own
    job runs (its person goes first), "api" for a request; `app_speaking` is true while the app
    speaks, so a client can tell why its request waits."""
    running = snapshot.running
    return {
        "running": running.kind if running is not None else None,
        "running_for": None if running is None else running.origin.name.lower(),
        "app_speaking": running is not None
        and running.origin is Origin.APP
        and running.kind == "speech",
        "waiting": len(snapshot.waiting),
        "capacity": snapshot.capacity,
        "finished": snapshot.finished,
    }


def voice_entries(service: SpeechService) -> list[dict[str, Any]]:
    voices = service.voices()
    default = service.default_voice(voices)
    return [
        {
            "id": v.name,
            "name": v.name,
            "transcript": v.transcript,
            "duration_s": round(v.duration_s, 2),
            "default": v.name == default,
        }
        for v in voices
    ]


def create_app(service: SpeechService) -> FastAPI:
    """The app serving `service`; requests are checked by `AccessGuard` first."""
    app = FastAPI(
        title="cosydesk speech API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the schema is documentation too, and the docs are off
    )
    app.state.service = service

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return ApiError(
            400, f"The request is not valid: {_field_errors(exc)}.", code="invalid_request"
        ).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {
            # FastAPI's own words for a body its JSON reader gave up on (nested too deeply).
            400: f"The request is not valid: {_BODY_SHAPE}.",
            404: f"There is nothing at {request.url.path}: see GET / for the endpoints.",
            405: f"{request.method} is not allowed on {request.url.path}: see GET / for the "
            "endpoints and their methods.",
        }
        code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
        return ApiError(
            exc.status_code,
            message.get(exc.status_code, public_text(str(exc.detail))),
            code=code.get(exc.status_code),
        ).response()

    # Starlette's last resort (a plain-text 500) for whatever escaped the handlers above.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return to_api_error(exc, f"answering {request.method} {request.url.path}").response()

    @app.post("/v1/audio/speech")
    async def speech(body: SpeechRequest) -> Any:
        return start_speech(body, service)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_entry(service)]}

    @app.get("/v1/models/{model_id}")
    async def model(model_id: str) -> dict[str, Any]:
        if not service.options.accepts_model(model_id):
            raise ApiError(
                404,
                f"The model {model_id!r} is not served here: use '{service.options.model_id}'.",
                code="model_not_found",
            )
        return _model_entry(service)

    @app.get("/v1/audio/voices")
    def voices() -> dict[str, Any]:
        entries = voice_entries(service)
        default = next((v["name"] for v in entries if v["default"]), None)
        return {"object": "list", "data": entries, "voices": entries, "default": default}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return health_body(service)

    @app.post("/warmup")
    async def warmup() -> dict[str, Any]:
        started = time.perf_counter()
        try:
            job = service.submit(service.warmup_job())
            result = await asyncio.wrap_future(job.future)
        except Exception as exc:  # every failure becomes a sentence
            raise to_api_error(exc, "warming up") from None
        status = service.status().engine
        return {
            "status": status.status,
            "quantization": status.quantization_label,
            "device": status.device,
            "total_seconds": round(time.perf_counter() - started, 3),
            **result,
        }

    @app.get("/", response_class=HTMLResponse)
    def status_page(request: Request) -> HTMLResponse:
        base = str(request.base_url).rstrip("/")
        return HTMLResponse(render_status_page(health_body(service), voice_entries(service), base))

    options = service.options
    app.add_middleware(
        BodyLimit, max_bytes=options.max_body_bytes, max_chars=options.max_input_chars
    )
    # Outermost, around every route (404s included), so that no unchecked request gets an
    # answer and no body is read for a client without the key.
    app.add_middleware(AccessGuard, api_key=options.api_key)
    return app


def _model_entry(service: SpeechService) -> dict[str, Any]:
    return {
        "id": service.options.model_id,
        "object": "model",
        "created": _CREATED,
        "owned_by": "cosydesk",
    }
