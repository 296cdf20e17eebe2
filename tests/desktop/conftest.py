"""One desktop (X display, window manager, tray host, accessibility bus) and one sound server
per test module; a fresh app, with its own settings and data, per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cosydesk.engine.voices import VoiceLibrary
from tests.desktop.app import DesktopApp
from tests.desktop.services import PulseServer, XSession, pulse_server, x_session
from tests.helpers import write_clip

MakeApp = Callable[..., DesktopApp]

# Figures the journeys measure (seconds), printed in the test run's summary.
FIGURES: dict[str, list[float]] = {}


def note(name: str, value: float) -> None:
    """Record a measured figure for the summary at the end of the run."""
    FIGURES.setdefault(name, []).append(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("desktop journeys: measured")
    for name, values in FIGURES.items():
        values = sorted(values)
        terminalreporter.write_line(
            f"{name}: median {values[len(values) // 2]:.3f}, min {values[0]:.3f}, "
            f"max {values[-1]:.3f} (n={len(values)})"
        )


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XSession]:
    with x_session(tmp_path_factory.mktemp("desktop")) as session:
        yield session


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        yield server


@pytest.fixture
def make_app(desktop: XSession, pulse: PulseServer, tmp_path: Path) -> Iterator[MakeApp]:
    """make_app(settings=None, voice=None) -> a DesktopApp, not started yet.

    `voice`, when given, is the name of a voice put in the app's library beforehand (its
    features are computed by the app when it first speaks with it).
    """
    apps: list[DesktopApp] = []

    def make(settings: dict[str, object] | None = None, voice: str | None = None) -> DesktopApp:
        app = DesktopApp(desktop, pulse, tmp_path / f"app{len(apps)}", settings)
        if voice is not None:
            clip = write_clip(tmp_path / f"{voice}.wav", seconds=3.0, freq=150.0)
            VoiceLibrary(app.data / "voices").add(voice, clip, "A short sentence for the test.")
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.stop()


@pytest.fixture
def ready_settings(tiny_model: Path) -> dict[str, object]:
    """Settings of someone past the first run, the tiny model chosen."""
    return {"model_dir": str(tiny_model), "first_run_done": True}
