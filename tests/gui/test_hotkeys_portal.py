"""The Wayland portal backend against a fake portal on a private D-Bus session bus."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("jeepney", reason="the portal backend speaks D-Bus through jeepney")

from cosydesk.gui.hotkeys import HotkeyError
from cosydesk.gui.hotkeys.portal import PortalBackend
from tests.gui.fake_portal import DBusDaemon, FakePortal


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (Debian: apt install dbus-daemon)")
    daemon = DBusDaemon()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", daemon.address)
    yield daemon.address
    daemon.stop()


@pytest.fixture
def backend() -> Iterator[PortalBackend]:
    backend = PortalBackend()
    yield backend
    backend.unregister()


def _portal(bus: str, **options: object) -> Iterator[FakePortal]:
    portal = FakePortal(bus, **options)  # type: ignore[arg-type]
    yield portal
    portal.stop()


@pytest.fixture
def portal(bus: str) -> Iterator[FakePortal]:
    yield from _portal(bus)


class Presses:
    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def __call__(self) -> None:
        self.threads.append(threading.current_thread())


def test_binds_through_the_portal_and_hears_activations(
    qtbot: object, portal: FakePortal, backend: PortalBackend
) -> None:
    presses = Presses()
    backend.register("Ctrl+Alt+S", presses)
    qtbot.waitUntil(lambda: backend.trigger_description is not None, timeout=5000)  # type: ignore[attr-defined]

    assert portal.members() == ["Register", "Get", "CreateSession", "BindShortcuts"]
    register, bind = portal.calls[0], portal.calls[3]
    assert (register.interface, register.body) == (
        "org.freedesktop.host.portal.Registry",
        ("io.github.cosydesk", {}),
    )
    assert bind.signature == "oa(sa{sv})sa{sv}"
    assert bind.body[0] == portal.session
    assert bind.body[1] == [
        (
            "speak-clipboard",
            {
                "description": ("s", "Read the clipboard aloud"),
                "preferred_trigger": ("s", "CTRL+ALT+s"),
            },
        )
    ]
    assert backend.trigger_description == "⌃⌥S"

    portal.activate("some-other-shortcut")
    portal.activate()
    qtbot.waitUntil(lambda: len(presses.threads) == 1, timeout=5000)  # type: ignore[attr-defined]
    assert presses.threads == [threading.main_thread()]

    backend.unregister()
    qtbot.waitUntil(lambda: "Close" in portal.members(), timeout=5000)  # type: ignore[attr-defined]


def test_portal_without_global_shortcuts_is_a_sentence(
    qtbot: object, bus: str, backend: PortalBackend
) -> None:
    for _fake in _portal(bus, has_shortcuts=False):
        with pytest.raises(HotkeyError, match="does not offer global shortcuts") as caught:
            backend.register("Ctrl+Alt+S", Presses())
        assert "cosydesk --action speak-clipboard" in str(caught.value)


def test_a_declined_shortcut_reaches_on_error(
    qtbot: object, bus: str, backend: PortalBackend
) -> None:
    errors: list[str] = []
    backend.on_error = errors.append
    for _fake in _portal(bus, bind_response=1):
        backend.register("Meta+F9", Presses())
        qtbot.waitUntil(lambda: bool(errors), timeout=5000)  # type: ignore[attr-defined]
    assert "declined" in errors[0]
    assert backend.trigger_description is None


def test_no_session_bus_is_a_sentence(
    qtbot: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: PortalBackend
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(HotkeyError, match=r"no D-Bus session bus.*cosydesk --action"):
        backend.register("Ctrl+Alt+S", Presses())


def test_the_app_id_follows_the_desktop_file_name(
    qtbot: object, portal: FakePortal, backend: PortalBackend
) -> None:
    from PySide6.QtGui import QGuiApplication

    before = QGuiApplication.desktopFileName()
    QGuiApplication.setDesktopFileName("org.example.CosyDesk")
    try:
        backend.register("Ctrl+Alt+S", Presses())
    finally:
        QGuiApplication.setDesktopFileName(before)
    qtbot.waitUntil(lambda: backend.trigger_description is not None, timeout=5000)  # type: ignore[attr-defined]
    assert portal.calls[0].body == ("org.example.CosyDesk", {})
