"""Fixtures for the server tests: a tiny model loaded once on the CPU, real voices made from
generated clips, and servers on 127.0.0.1 (a free port each) that are always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write_voiced_clip

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

SR = 24000
NARRATOR = "Narrator"
SECOND = "Second Voice"


@pytest.fixture(scope="session")
def engine(cpu_engine: Any) -> Any:
    """The suite's CPU engine (tests/conftest.py), shared by the servers of the session."""
    return cpu_engine


@pytest.fixture(scope="session")
def voice_root(tmp_path_factory: pytest.TempPathFactory, engine: Any) -> Path:
    """A voice library with two voices, their prompt features computed for `engine`."""
    from cosydesk.engine.voices import VoiceLibrary

    root = tmp_path_factory.mktemp("data") / "voices"
    clips = tmp_path_factory.mktemp("clips")
    library = VoiceLibrary(root)
    library.add(
        NARRATOR, write_voiced_clip(clips / "a.wav"), "Hello world, this is a test.", engine
    )
    library.add(
        SECOND, write_voiced_clip(clips / "b.wav", 2.5, 180.0), "Good morning to you.", engine
    )
    return root


class Borrowed:
    """The session's engine as each server's runner gets it: a runner unloads its engine when
    it stops, and this one must stay loaded for the next test."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def unload(self) -> None:
        """Kept for the session."""


@dataclass
class Served:
    """A running server: its URL, its service (runner, library) and the uvicorn thread."""

    url: str
    service: Any
    server: Any

    @property
    def api(self) -> str:
        return f"{self.url}/v1"

    @property
    def runner(self) -> Any:
        return self.service.runner


@pytest.fixture
def serve(engine: Any, tiny_model: Path, voice_root: Path) -> Iterator[Any]:
    """Starts servers of the session engine, each on a runner of its own: `serve(loaded=True,
    loader=None, voices=None, **ServerOptions fields)`; `loader` replaces the one that hands
    out the session engine, `voices` the library folder of the session's two voices."""
    from cosydesk.engine.types import EngineOptions
    from cosydesk.engine.voices import VoiceLibrary
    from cosydesk.runner import ModelConfig, Runner
    from cosydesk.server.app import create_app
    from cosydesk.server.options import ServerOptions
    from cosydesk.server.run import BackgroundServer
    from cosydesk.server.service import SpeechService

    made: list[Served] = []

    def make(
        loaded: bool = True, loader: Any = None, voices: Path | None = None, **fields: Any
    ) -> Served:
        options = ServerOptions(port=0, **fields).validate()
        library = VoiceLibrary(voices or voice_root)
        runner = Runner(
            library,
            loader or (lambda *args, **kwargs: Borrowed(engine)),
            model=ModelConfig(tiny_model, EngineOptions(device="cpu", quantization="none")),
        )
        runner.start()
        service = SpeechService(options, runner, library)
        service.start()
        if loaded:
            service.submit(service.load_job()).future.result(timeout=30)
        server = BackgroundServer(create_app(service), "127.0.0.1", 0, options)
        server.start()
        served = Served(server.url, service, server)
        made.append(served)
        return served

    yield make
    for served in made:
        assert served.service.stop(timeout=30), "a request did not stop"
        assert served.server.stop(timeout=30), "the server thread did not stop"
        assert served.runner.stop(timeout=30), "the runner's thread did not stop"


@pytest.fixture
def long_text() -> str:
    """Forty sentences: far more speech than any test waits for."""
    sentence = "The quick brown fox jumps over the lazy dog near the river bank."
    return " ".join(f"{sentence[:-1]} number {n}." for n in range(40))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """The random model samples its tokens; with random weights its first token may be a stop.
    A fixed seed, one under which the tiny model speaks, makes each test hear the same audio."""
    import torch

    torch.manual_seed(5)
