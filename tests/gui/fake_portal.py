"""A stand-in xdg-desktop-portal for tests: a private dbus-daemon plus a tiny service.

`DBusDaemon` runs a throw-away session bus. `FakePortal` owns org.freedesktop.portal.Desktop
on it and answers the calls a GlobalShortcuts client makes, the way the real portal does:
a method reply with the request path, then a `Response` signal on that path. Every call is
recorded with its D-Bus signature, so a test sees exactly what went over the wire.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, Proxy, open_dbus_connection

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"


class DBusDaemon:
    """A private session bus; `address` is what DBUS_SESSION_BUS_ADDRESS would hold."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()  # printed once it listens
        if not self.address:
            self.process.kill()
            raise RuntimeError("dbus-daemon did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


class Call:
    def __init__(self, interface: str, member: str, signature: str, body: tuple[Any, ...]):
        self.interface, self.member, self.signature, self.body = interface, member, signature, body


class FakePortal:
    """Serves the portal on `address` from a thread until `stop()`.

    `has_shortcuts=False` plays a portal without GlobalShortcuts; `bind_response` is the code
    of the BindShortcuts response (0 granted, 1 the user declined).
    """

    def __init__(self, address: str, *, has_shortcuts: bool = True, bind_response: int = 0):
        self.has_shortcuts = has_shortcuts
        self.bind_response = bind_response
        self.calls: list[Call] = []
        self.session: str | None = None
        self._conn: DBusConnection = open_dbus_connection(address)
        Proxy(message_bus, self._conn).RequestName(PORTAL, 0)
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="fake-portal", daemon=True)
        self._thread.start()

    def members(self) -> list[str]:
        return [call.member for call in self.calls]

    def activate(self, shortcut_id: str = "speak-clipboard") -> None:
        """Play the user pressing the bound shortcut."""
        assert self.session is not None
        self._signal(
            DBusAddress(PORTAL_PATH, interface=SHORTCUTS),
            "Activated",
            "osta{sv}",
            (self.session, shortcut_id, 1234, {}),
        )

    def stop(self) -> None:
        self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self._conn.close()

    def _send(self, message: Any) -> None:
        with self._send_lock:
            self._conn.send(message)

    def _signal(self, emitter: DBusAddress, name: str, signature: str, body: tuple) -> None:
        self._send(new_signal(emitter, name, signature, body))

    def _serve(self) -> None:
        while True:
            try:
                message = self._conn.receive()
            except (OSError, ValueError):
                return
            if message.header.message_type == MessageType.method_call:
                try:
                    self._answer(message)
                except OSError:  # stopped while answering
                    return

    def _answer(self, message: Any) -> None:
        fields = message.header.fields
        call = Call(
            fields.get(HeaderFields.interface, ""),
            fields[HeaderFields.member],
            fields.get(HeaderFields.signature, ""),
            message.body,
        )
        self.calls.append(call)
        sender = fields[HeaderFields.sender].lstrip(":").replace(".", "_")
        if call.member == "Register":
            self._send(new_method_return(message))
        elif call.member == "Get":
            if self.has_shortcuts and call.body == (SHORTCUTS, "version"):
                self._send(new_method_return(message, "v", (("u", 1),)))
            else:
                self._send(new_error(message, "org.freedesktop.DBus.Error.UnknownInterface"))
        elif call.member == "CreateSession":
            options = call.body[0]
            request = f"{PORTAL_PATH}/request/{sender}/{options['handle_token'][1]}"
            self.session = f"{PORTAL_PATH}/session/{sender}/{options['session_handle_token'][1]}"
            self._send(new_method_return(message, "o", (request,)))
            self._respond(request, 0, {"session_handle": ("o", self.session)})
        elif call.member == "BindShortcuts":
            _session, shortcuts, _parent, options = call.body
            request = f"{PORTAL_PATH}/request/{sender}/{options['handle_token'][1]}"
            self._send(new_method_return(message, "o", (request,)))
            bound = [
                (name, {"description": props["description"], "trigger_description": ("s", "⌃⌥S")})
                for name, props in shortcuts
            ]
            results = {"shortcuts": ("a(sa{sv})", bound)} if self.bind_response == 0 else {}
            self._respond(request, self.bind_response, results)
        elif call.member == "Close":
            self._send(new_method_return(message))
        else:
            self._send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))

    def _respond(self, request: str, code: int, results: dict[str, Any]) -> None:
        emitter = DBusAddress(request, interface="org.freedesktop.portal.Request")
        self._signal(emitter, "Response", "ua{sv}", (code, results))
