"""Wayland global hotkey: the xdg-desktop-portal GlobalShortcuts interface over D-Bus.

Wayland lets no client grab keys; the desktop owns shortcuts and the portal hands them out:

1. `org.freedesktop.host.portal.Registry.Register` tells the portal our app id (portals since
   1.19 want it from apps that are not sandboxed; older ones lack it and that is fine);
2. `CreateSession` -> a `Response` signal carrying the session handle;
3. `BindShortcuts` -> the desktop may ask the user to confirm -> a `Response` with the bound
   shortcuts (their `trigger_description` says which keys the user ended up with);
4. an `Activated` signal for every press.

Steps 2-4 are answered later by signals, so `register()` returns once the request is sent;
a refusal that comes afterwards goes to `on_error(message)`. D-Bus is spoken with jeepney on a
connection of our own whose socket a QSocketNotifier watches, so everything happens in the Qt
main thread. (PySide6's QtDBus cannot build the `a(sa{sv})` argument of BindShortcuts: its
QDBusArgument needs types registered from C++.)
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QSocketNotifier, QTimer
from PySide6.QtGui import QGuiApplication

from cosydesk.gui.hotkeys.keys import MODIFIER_ORDER, HotkeyError, KeyCombo, parse_sequence

log = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
REGISTRY = "org.freedesktop.host.portal.Registry"
PROPERTIES = "org.freedesktop.DBus.Properties"
# The portal names the app by its .desktop file, so this should be the file's name
# (io.github.cosydesk.desktop); used unless the Qt app's desktop file name is an app id.
APP_ID = "io.github.cosydesk"
SHORTCUT_ID = "speak-clipboard"
_TIMEOUT_S = 5.0
_OLD_PORTAL_ERRORS = {
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.DBus.Error.UnknownObject",
}
_PORTAL_TRIGGER_NAMES = {"ctrl": "CTRL", "alt": "ALT", "shift": "SHIFT", "meta": "LOGO"}
_BIND_ELSEWHERE = (
    "bind `cosydesk --action speak-clipboard` to a shortcut in your desktop's keyboard "
    "settings instead"
)


def portal_trigger(combo: KeyCombo) -> str:
    """`combo` in the XDG shortcuts notation the portal takes, e.g. "CTRL+ALT+s"."""
    names = [_PORTAL_TRIGGER_NAMES[m] for m in MODIFIER_ORDER if m in combo.modifiers]
    return "+".join([*names, combo.xkb_keysym])


def _desktop_app_id() -> str:
    """The desktop file name Qt was given, if it is a valid app id; else APP_ID."""
    name = QGuiApplication.desktopFileName().removesuffix(".desktop")
    return name if "." in name else APP_ID


def _session_bus_address() -> str:
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.exists(os.path.join(runtime, "bus")):
        return f"unix:path={os.path.join(runtime, 'bus')}"
    raise HotkeyError(f"There is no D-Bus session bus, so no global shortcut: {_BIND_ELSEWHERE}.")


class PortalBackend:
    """GlobalShortcuts-portal hotkey. `on_error(message)` hears refusals that come late."""

    name = "xdg-desktop-portal"

    def __init__(
        self, app_id: str | None = None, description: str = "Read the clipboard aloud"
    ) -> None:
        """`app_id` defaults to the application's desktop file name when that is a valid
        app id (it has a dot), else to APP_ID."""
        self.app_id = app_id
        self.description = description
        self.on_error: Callable[[str], None] | None = None
        self.trigger_description: str | None = None  # the keys the desktop reports as bound
        self._conn: Any = None
        self._notifier: QSocketNotifier | None = None
        self._callback: Callable[[], None] | None = None
        self._session: str | None = None
        self._trigger = ""
        self._request_prefix = ""
        self._replies: dict[int, Callable[[Any], None]] = {}
        self._responses: dict[str, Callable[[int, dict[str, Any]], None]] = {}
        self._tokens = itertools.count(1)

    # -- public -----------------------------------------------------------------------------

    def register(self, sequence: str, callback: Callable[[], None]) -> None:
        """Ask the portal for `sequence`; the desktop may let the user confirm or change it.

        Raises HotkeyError when there is no session bus or the portal lacks GlobalShortcuts.
        """
        combo = parse_sequence(sequence)
        self.unregister()
        if QCoreApplication.instance() is None:
            raise HotkeyError("The portal hotkey needs the Qt application to be running first.")
        try:
            from jeepney.io.blocking import open_dbus_connection
        except ImportError as exc:
            raise HotkeyError(
                "The global shortcut on Wayland needs the Python package jeepney "
                "(pip install jeepney)."
            ) from exc
        address = _session_bus_address()
        try:
            conn = open_dbus_connection(address)
        except Exception as exc:
            raise HotkeyError(
                f"Cannot connect to the D-Bus session bus ({exc}), so there is no global "
                f"shortcut: {_BIND_ELSEWHERE}."
            ) from exc
        try:
            self._register_app_id(conn)
            self._check_portal(conn)
            sender = conn.unique_name.lstrip(":").replace(".", "_")
            self._request_prefix = f"{PORTAL_PATH}/request/{sender}"
            self._add_matches(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._callback = callback
        self._trigger = portal_trigger(combo)
        self._notifier = QSocketNotifier(conn.sock.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._read_messages)
        self._create_session()
        # Messages read while waiting for the set-up replies would not wake the notifier.
        QTimer.singleShot(0, self._read_messages)
        log.info("Asked the desktop portal for the global shortcut %s", self._trigger)

    def unregister(self) -> None:
        """Close the portal session (the desktop forgets the binding) and the connection."""
        conn, self._conn = self._conn, None
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        session, self._session = self._session, None
        self._callback = None
        self._replies.clear()
        self._responses.clear()
        if conn is None:
            return
        try:
            if session is not None:
                from jeepney import DBusAddress, new_method_call

                conn.send(new_method_call(DBusAddress(session, PORTAL, SESSION), "Close"))
        except OSError:
            log.debug("The bus was gone before the portal session could be closed")
        finally:
            conn.close()

    # -- set-up (blocking, short) -----------------------------------------------------------

    def _blocking_call(self, conn: Any, message: Any) -> Any:
        try:
            return conn.send_and_get_reply(message, timeout=_TIMEOUT_S)
        except TimeoutError as exc:
            raise HotkeyError(
                f"The desktop portal did not answer within {_TIMEOUT_S:.0f} s, so there is no "
                f"global shortcut: {_BIND_ELSEWHERE}."
            ) from exc

    def _register_app_id(self, conn: Any) -> None:
        from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call

        app_id = self.app_id or _desktop_app_id()
        message = new_method_call(
            DBusAddress(PORTAL_PATH, PORTAL, REGISTRY), "Register", "sa{sv}", (app_id, {})
        )
        reply = self._blocking_call(conn, message)
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "")
            if name in _OLD_PORTAL_ERRORS:
                log.debug("This portal has no host app registry; it identifies us by itself")
            else:
                log.warning("The portal did not register the app id %s: %s", app_id, name)

    def _check_portal(self, conn: Any) -> None:
        from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call

        message = new_method_call(
            DBusAddress(PORTAL_PATH, PORTAL, PROPERTIES), "Get", "ss", (SHORTCUTS, "version")
        )
        reply = self._blocking_call(conn, message)
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "an error")
            raise HotkeyError(
                f"The desktop portal does not offer global shortcuts ({name}): {_BIND_ELSEWHERE}."
            )
        log.debug("GlobalShortcuts portal version %s", reply.body[0][1])

    def _add_matches(self, conn: Any) -> None:
        from jeepney import MatchRule, message_bus

        rules = [
            MatchRule(
                type="signal",
                interface=REQUEST,
                member="Response",
                path_namespace=self._request_prefix,
            ),
            MatchRule(type="signal", interface=SHORTCUTS, path=PORTAL_PATH),
        ]
        for rule in rules:
            self._blocking_call(conn, message_bus.AddMatch(rule))

    # -- the conversation (asynchronous) ----------------------------------------------------

    def _new_token(self) -> str:
        return f"cosydesk{next(self._tokens)}_{secrets.token_hex(4)}"

    def _request(
        self,
        member: str,
        signature: str,
        args: tuple[Any, ...],
        options: dict[str, Any],
        on_response: Callable[[int, dict[str, Any]], None],
    ) -> None:
        """Call a portal method that answers with a Request object's Response signal."""
        from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call

        token = self._new_token()
        expected = f"{self._request_prefix}/{token}"
        self._responses[expected] = on_response
        options = {**options, "handle_token": ("s", token)}
        message = new_method_call(
            DBusAddress(PORTAL_PATH, PORTAL, SHORTCUTS), member, signature, (*args, options)
        )

        def on_reply(reply: Any) -> None:
            if reply.header.message_type == MessageType.error:
                self._responses.pop(expected, None)
                name = reply.header.fields.get(HeaderFields.error_name, "")
                detail = reply.body[0] if reply.body else name
                self._fail(f"The desktop portal refused {member} ({detail}): {_BIND_ELSEWHERE}.")
                return
            handle = reply.body[0]
            if handle != expected:  # portals before 0.9 chose their own request paths
                self._responses[handle] = self._responses.pop(expected)

        serial = next(self._conn.outgoing_serial)
        self._replies[serial] = on_reply
        self._conn.send(message, serial=serial)

    def _create_session(self) -> None:
        self._request(
            "CreateSession",
            "a{sv}",
            (),
            {"session_handle_token": ("s", self._new_token())},
            self._on_session,
        )

    def _on_session(self, code: int, results: dict[str, Any]) -> None:
        if code != 0 or "session_handle" not in results:
            self._fail(f"The desktop did not open a shortcut session: {_BIND_ELSEWHERE}.")
            return
        self._session = str(results["session_handle"][1])
        shortcut = (
            SHORTCUT_ID,
            {"description": ("s", self.description), "preferred_trigger": ("s", self._trigger)},
        )
        self._request(
            "BindShortcuts",
            "oa(sa{sv})sa{sv}",
            (self._session, [shortcut], ""),
            {},
            self._on_bound,
        )

    def _on_bound(self, code: int, results: dict[str, Any]) -> None:
        if code == 1:
            self._fail(
                "The shortcut was declined in the desktop's dialog: register it again from "
                f"Settings, or {_BIND_ELSEWHERE}."
            )
            return
        bound = dict(results.get("shortcuts", ("a(sa{sv})", []))[1])
        if code != 0 or SHORTCUT_ID not in bound:
            self._fail(f"The desktop did not bind the shortcut: {_BIND_ELSEWHERE}.")
            return
        self.trigger_description = bound[SHORTCUT_ID].get("trigger_description", ("s", ""))[1]
        log.info("The desktop bound the global shortcut as %r", self.trigger_description)

    def _read_messages(self, *_: object) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            while self._conn is conn:  # a callback may have unregistered meanwhile
                try:
                    message = conn.receive(timeout=0)
                except TimeoutError:
                    return
                try:
                    self._dispatch(message)
                except Exception:
                    log.exception("Could not handle a message from the desktop portal")
        except OSError:
            # Reached only by a connection error: the loop above returns on TimeoutError.
            self.unregister()
            self._fail(
                "The connection to the D-Bus session bus broke, so the global shortcut stopped "
                "working: restart cosydesk."
            )

    def _dispatch(self, message: Any) -> None:
        from jeepney import HeaderFields, MessageType

        header = message.header
        if header.message_type in (MessageType.method_return, MessageType.error):
            handler = self._replies.pop(header.fields.get(HeaderFields.reply_serial, -1), None)
            if handler is not None:
                handler(message)
            return
        if header.message_type != MessageType.signal:
            return
        interface = header.fields.get(HeaderFields.interface)
        member = header.fields.get(HeaderFields.member)
        if interface == REQUEST and member == "Response":
            on_response = self._responses.pop(header.fields.get(HeaderFields.path, ""), None)
            if on_response is not None:
                code, results = message.body
                on_response(int(code), dict(results))
        elif interface == SHORTCUTS and member == "Activated":
            session, shortcut_id = message.body[0], message.body[1]
            if session == self._session and shortcut_id == SHORTCUT_ID and self._callback:
                try:
                    self._callback()
                except Exception:
                    log.exception("The global shortcut's action failed")
        elif (
            interface == SHORTCUTS
            and member == "ShortcutsChanged"
            and message.body[0] == self._session
        ):
            changed = dict(message.body[1])
            if SHORTCUT_ID in changed:
                self.trigger_description = changed[SHORTCUT_ID].get(
                    "trigger_description", ("s", "")
                )[1]
                log.info("The user changed the shortcut to %r", self.trigger_description)

    def _fail(self, message: str) -> None:
        log.warning("%s", message)
        if self.on_error is not None:
            self.on_error(message)
