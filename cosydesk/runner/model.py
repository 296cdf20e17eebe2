"""The engine the runner owns: which model folder and options to load, loading it when a job
needs it, warming it up, reporting its status, and dropping it.

Only the runner's thread calls into `ModelSlot`; what other threads may read (the status, the
load figures) they read from the runner's snapshot.
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.engine.protocols import EngineFactory, SpeechEngine, VoiceStore
from cosydesk.engine.types import EngineOptions, EngineStatus, ModelStatus
from cosydesk.runner.events import RunnerState

log = logging.getLogger(__name__)


def load_engine(
    model_dir: Path,
    options: EngineOptions,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> SpeechEngine:
    """The default factory: the real engine, imported here so that torch loads on the runner's
    thread, not on the one that starts the app."""
    from cosydesk.engine.engine import Engine

    return Engine.load(model_dir, options, progress=progress, cancel=cancel)


@dataclass(frozen=True)
class ModelConfig:
    """The model folder and how to load it."""

    model_dir: Path
    options: EngineOptions


def with_card(status: EngineStatus) -> EngineStatus:
    """A copy of `status` with the card's memory read now, once torch is in (never imported
    just for this). Safe from any thread; a failure to read leaves the figures out."""
    status = copy.deepcopy(status)
    if "torch" not in sys.modules:
        return status
    try:
        from cosydesk.engine.memory import card_status

        return card_status(status)
    except Exception:  # a status read must never fail anything
        log.debug("Could not read the card's memory", exc_info=True)
        return status


class ModelSlot:
    """Holds at most one engine, loaded from `config`; see the module docstring."""

    def __init__(
        self, factory: EngineFactory, library: VoiceStore | None, config: ModelConfig | None
    ) -> None:
        self._factory = factory
        self._library = library
        self.config = config
        self.engine: SpeechEngine | None = None
        self._loaded: ModelConfig | None = None
        self.failed = False  # the last load ended in an error (not a cancel)
        self.load_seconds: float | None = None
        self.load_progress: tuple[float, str] | None = None
        self.load_error: BaseException | None = None

    @property
    def current(self) -> bool:
        """True when the engine is loaded from the config asked for now."""
        return self.engine is not None and self._loaded == self.config

    def state(self) -> RunnerState:
        if self.engine is not None:
            return RunnerState.READY
        return RunnerState.ERROR if self.failed else RunnerState.UNLOADED

    def idle_status(self, state: ModelStatus) -> EngineStatus:
        """The status without a model: `state`, and the folder and mode asked for, if any."""
        if self.config is None:
            return EngineStatus(status=state)
        return EngineStatus(
            status=state,
            model_dir=str(self.config.model_dir),
            quantization_requested=self.config.options.quantization,
        )

    def status(self) -> EngineStatus:
        """The engine's own status, or the idle one; never raises."""
        if self.engine is None:
            return self.idle_status(ModelStatus.ERROR if self.failed else ModelStatus.UNLOADED)
        try:
            status: EngineStatus = self.engine.status()
        except Exception:
            log.exception("The engine could not report its status")
            return self.idle_status(ModelStatus.ERROR)
        return status

    def load(
        self,
        cancel: threading.Event,
        progress: Callable[[float, str], None],
    ) -> SpeechEngine:
        """Load the engine from `config` (dropping any other first); raises what loading
        raises, Cancelled included. The caller reports the outcome."""
        if self.config is None:
            raise EngineError(
                "No model folder is set: choose the CosyVoice3 model folder in Settings."
            )
        # What a reload of the same folder can take over from the engine it replaces (the
        # tokenizer, found again by its files), held across the unload so that it survives it.
        kept = getattr(self.engine, "tokenizer", None)
        self.drop()
        config = self.config
        self.load_error = None
        self.load_progress = None

        def step(fraction: float, message: str) -> None:
            self.load_progress = (float(fraction), message)
            progress(fraction, message)

        started = time.perf_counter()
        try:
            engine = self._factory(config.model_dir, config.options, progress=step, cancel=cancel)
        except Cancelled:
            self.failed = False
            raise
        except BaseException as exc:
            self.failed = True
            self.load_error = exc
            raise
        del kept
        self.load_seconds = time.perf_counter() - started
        self.engine, self._loaded, self.failed = engine, config, False
        status = self.status()
        log.info(
            "Model loaded from %s: device %s, quantisation %s",
            config.model_dir,
            status.device,
            status.quantization_label,
        )
        self._warm_up(engine)
        return engine

    def _warm_up(self, engine: SpeechEngine) -> None:
        """On a GPU, speak a throw-away utterance with the first voice so that the CUDA graphs
        exist before the first request. Skipped on the CPU, where it would only cost."""
        device = getattr(getattr(engine, "device", None), "type", "cpu")
        library = self._library
        voices = library.list() if library is not None else []
        if library is None or device != "cuda" or not voices or not hasattr(engine, "warm_up"):
            return
        try:
            seconds = engine.warm_up(library.get(voices[0].name, engine))
            log.info("Warmed up with the voice %r in %.2f s", voices[0].name, seconds)
        except Exception:  # a failed warm-up must not fail the load; the log keeps why
            log.exception("Warm-up failed; the first request will be slower")

    def drop(self) -> bool:
        """Unload the engine, if any; True if there was one."""
        engine, self.engine, self._loaded = self.engine, None, None
        if engine is None:
            return False
        try:
            engine.unload()
        except Exception:
            log.exception("The engine failed to unload cleanly")
        return True
