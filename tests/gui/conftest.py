"""Fixtures for the GUI tests: isolated settings and data dirs, a fake sound card, real voices,
a tiny model folder, and a controller (worker thread included) that is always shut down."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audio.fake_sounddevice import FakeSoundDevice
from tests.helpers import write_clip


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, data and logs under tmp_path; no quantisation override from the environment."""
    monkeypatch.setenv("COSYDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COSYDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COSYDESK_NO_CRASH_DIALOG", "1")
    for name in ("QUANTIZATION_ENABLED", "QUANTIZATION_BITS", "COSYDESK_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def settings(dirs: Path):
    from cosydesk.config import Settings

    return Settings.load()


@pytest.fixture
def library(dirs: Path):
    from cosydesk.config import voices_dir
    from cosydesk.engine.voices import VoiceLibrary

    return VoiceLibrary(voices_dir())


@pytest.fixture
def sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    """The sounddevice module replaced by a fake card (speakers + microphone)."""
    fake = FakeSoundDevice()
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return fake


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.wav")


@pytest.fixture
def use_model(settings, tiny_model: Path):
    """The settings pointed at the tiny model, on the CPU, unquantised (the fastest load)."""
    settings.set("model_dir", str(tiny_model))
    settings.set("device", "cpu")
    settings.set("quantization", "none")
    settings.set("first_run_done", True)
    settings.save()
    return settings


@pytest.fixture
def make_controller(qtbot, library) -> Iterator:
    """Builds Controllers (worker thread started) and shuts every one down after the test."""
    from cosydesk.gui.controller import Controller

    made = []

    def make(settings, **kwargs):
        controller = Controller(settings, library, tick_ms=kwargs.pop("tick_ms", 100), **kwargs)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        assert controller.shutdown(20000), "the worker thread did not stop"


@pytest.fixture
def language(qapp) -> Iterator:
    """Installs the interface translation for a locale name ("zh_CN", "en_US") as the app does at
    start, and removes it after the test: build the widgets after calling it."""
    from PySide6.QtCore import QLocale

    from cosydesk.gui.i18n import install_translation

    installed = []

    def use(name: str):
        translation = install_translation(QLocale(name))
        installed.append(translation)
        return translation

    yield use
    for translation in installed:
        translation.remove()


@pytest.fixture
def chinese(language):
    """The Simplified Chinese translation installed for the test (widgets built after it)."""
    translation = language("zh_CN")
    assert translation.language == "zh_CN", "cosydesk_zh_CN.qm did not load"
    return translation
