"""Where the server's model thread gets its engine, and the status any thread may read.

Two hosts:
- `LoadingHost` owns an engine it loads itself, on the model thread, when first needed
  (`cosydesk serve`);
- `SharedHost` borrows an engine that someone else owns, through a provider callable, under a
  lock that the owner also holds while it uses the engine (the tray app's worker), so that no
  second copy of the model is loaded and the engine is never used by two threads at once.

Only the model thread calls `session()`; `status()` is safe from any thread (it returns a
snapshot the model thread took, with the card's memory figures read afresh).
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cosydesk.engine.errors import EngineError
from cosydesk.engine.types import EngineOptions, EngineStatus

log = logging.getLogger(__name__)

Loader = Callable[..., Any]  # (model_dir, options, *, progress, cancel) -> engine


class ModelUnavailable(EngineError):
    """The model is not loaded and cannot be loaded now; the request may be tried again."""


def _default_loader(model_dir: Path, options: EngineOptions, **kwargs: Any) -> Any:
    from cosydesk.engine.engine import Engine

    return Engine.load(model_dir, options, **kwargs)


def _live_card(status: EngineStatus) -> EngineStatus:
    """`status` with the card's memory read now, when torch is already in use on a GPU."""
    if "torch" not in sys.modules or status.device != "cuda":
        return status
    try:
        from cosydesk.engine.memory import card_status

        return card_status(status)
    except Exception:  # a status read must never fail a request
        log.debug("Could not read the card's memory", exc_info=True)
        return status


class EngineHost:
    """Base of the hosts: the status snapshot and its lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status = EngineStatus(status="unloaded")
        self.load_seconds: float | None = None
        self.load_progress: tuple[float, str] | None = None
        self.error = ""

    # -- any thread -------------------------------------------------------------------------
    def status(self) -> EngineStatus:
        """The last status the model thread recorded (a copy), card memory read afresh."""
        with self._lock:
            snapshot = copy.deepcopy(self._status)
        return _live_card(snapshot)

    def _set_status(self, status: EngineStatus) -> None:
        with self._lock:
            self._status = status

    # -- the model thread -------------------------------------------------------------------
    def refresh(self, engine: Any) -> None:
        """Record `engine.status()`; called by the model thread after each job."""
        try:
            self._set_status(engine.status())
        except Exception:  # a status read must never fail a job
            log.exception("The engine could not report its status")

    @contextmanager
    def session(self, *, load: bool, cancel: threading.Event | None = None) -> Iterator[Any]:
        """The engine for one job (None when not loaded and `load` is false)."""
        raise NotImplementedError
        yield  # pragma: no cover


class LoadingHost(EngineHost):
    """Loads the model folder on first need and keeps it for the server's lifetime."""

    def __init__(
        self,
        model_dir: Path,
        options: EngineOptions,
        loader: Loader = _default_loader,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> None:
        super().__init__()
        self.model_dir = Path(model_dir)
        self.options = options
        self._loader = loader
        self._on_progress = on_progress
        self._engine: Any = None
        self._status = EngineStatus(
            status="unloaded",
            model_dir=str(model_dir),
            quantization_requested=options.quantization,
        )

    @property
    def engine(self) -> Any:
        return self._engine

    @contextmanager
    def session(self, *, load: bool, cancel: threading.Event | None = None) -> Iterator[Any]:
        if self._engine is None and load:
            self._load(cancel)
        yield self._engine

    def _load(self, cancel: threading.Event | None) -> None:
        requested = self.options.quantization
        self._set_status(
            EngineStatus(
                status="loading", model_dir=str(self.model_dir), quantization_requested=requested
            )
        )
        self.error = ""

        def progress(fraction: float, message: str) -> None:
            self.load_progress = (float(fraction), message)
            if self._on_progress is not None:
                self._on_progress(fraction, message)

        started = time.perf_counter()
        try:
            engine = self._loader(self.model_dir, self.options, progress=progress, cancel=cancel)
        except Exception as exc:
            if isinstance(exc, EngineError):  # a sentence for the person; the caller shows it
                self.error = str(exc)
                log.info("The model could not be loaded from %s: %s", self.model_dir, exc)
            else:  # its text is for the log: clients read `error` in /health
                self.error = "an unexpected error stopped it (the server log has the details)."
                log.exception("The model could not be loaded from %s", self.model_dir)
            self._set_status(
                EngineStatus(
                    status="error", model_dir=str(self.model_dir), quantization_requested=requested
                )
            )
            raise ModelUnavailable(f"The model could not be loaded: {self.error}") from exc
        self.load_seconds = time.perf_counter() - started
        self._engine = engine
        self.refresh(engine)

    def unload(self) -> None:
        """Free the model (call on the model thread, or after it stopped)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.unload()
        self._set_status(EngineStatus(status="unloaded", model_dir=str(self.model_dir)))


class SharedHost(EngineHost):
    """Serves an engine owned elsewhere. `provider()` returns it, or None while none is loaded.

    `lock` must be held by the owner whenever it uses the engine itself; each server job holds
    it for its whole length. `status_provider`, when given, is the owner's latest status, so
    /health is right even before the first request.
    """

    def __init__(
        self,
        provider: Callable[[], Any],
        lock: threading.Lock | threading.RLock | None = None,
        status_provider: Callable[[], EngineStatus] | None = None,
    ) -> None:
        super().__init__()
        self._provider = provider
        self.engine_lock = lock if lock is not None else threading.Lock()
        self._status_provider = status_provider

    def status(self) -> EngineStatus:
        if self._status_provider is not None:
            try:
                return _live_card(copy.deepcopy(self._status_provider()))
            except Exception:  # fall back to the snapshot
                log.exception("The status provider failed")
        return super().status()

    @contextmanager
    def session(self, *, load: bool, cancel: threading.Event | None = None) -> Iterator[Any]:
        with self.engine_lock:
            engine = self._provider()
            if engine is None and load:
                raise ModelUnavailable(
                    "The model is not loaded in cosydesk yet: load it (speak something, or wait "
                    "for it to finish loading) and try again."
                )
            yield engine
