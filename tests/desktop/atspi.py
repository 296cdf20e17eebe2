"""Reading the running app as a screen reader does: the AT-SPI accessibility tree on D-Bus.

Qt publishes every widget there (its role, name, text, states and place on screen) when
QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1. The tests read what a person would see through it, from
outside the process, and find where to click; keys and clicks themselves go through xdotool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection

ACCESSIBLE = "org.a11y.atspi.Accessible"
TEXT = "org.a11y.atspi.Text"
COMPONENT = "org.a11y.atspi.Component"
ROOT = "/org/a11y/atspi/accessible/root"
# Windows and menus that are not on screen: nothing inside them is, so the walk skips them.
# (Inside a window the states are less reliable: a list's items show while the list says not.)
HIDES_SUBTREE = frozenset({"frame", "dialog", "window", "popup menu", "menu"})
# AT-SPI state bits (StateType): where they sit in the two 32-bit words of GetState.
STATES = {"enabled": 8, "focused": 12, "showing": 25, "visible": 30, "checked": 4}


def a11y_bus_address(session_bus: str) -> str | None:
    """The accessibility bus's address, from the session bus; None while it is not up."""
    try:
        bus = open_dbus_connection(bus=session_bus)
    except OSError:
        return None
    try:
        address = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
        reply = bus.send_and_get_reply(new_method_call(address, "GetAddress"), timeout=5)
        return str(reply.body[0]) if reply.body and reply.body[0] else None
    except Exception:
        return None
    finally:
        bus.close()


@dataclass(frozen=True)
class Node:
    """One accessible object: a window, a button, a label, a list item..."""

    bus: str
    path: str
    role: str
    name: str
    text: str
    states: frozenset[str]
    extents: tuple[int, int, int, int]  # x, y, width, height on the screen

    @property
    def centre(self) -> tuple[int, int]:
        x, y, w, h = self.extents
        return x + w // 2, y + h // 2

    def __str__(self) -> str:
        return f"{self.role} {self.name!r}" + (f" text={self.text!r}" if self.text else "")


class Accessibility:
    """A connection to the accessibility bus, reading one application's tree."""

    def __init__(self, session_bus: str) -> None:
        address = a11y_bus_address(session_bus)
        if address is None:
            raise RuntimeError("the accessibility bus is not running")
        self._conn: DBusConnection = open_dbus_connection(bus=address)

    def close(self) -> None:
        self._conn.close()

    def _call(self, bus: str, path: str, interface: str, method: str, sig: str = "", *body):
        target = DBusAddress(path, bus_name=bus, interface=interface)
        msg = new_method_call(target, method, sig or None, body)
        return self._conn.send_and_get_reply(msg, timeout=5).body

    def _prop(self, bus: str, path: str, interface: str, name: str) -> Any:
        properties = "org.freedesktop.DBus.Properties"
        return self._call(bus, path, properties, "Get", "ss", interface, name)[0][1]

    def applications(self) -> list[tuple[str, str]]:
        """(bus name, name) of each application registered with the accessibility registry."""
        apps = self._call("org.a11y.atspi.Registry", ROOT, ACCESSIBLE, "GetChildren")[0]
        found = []
        for bus, path in apps:
            try:
                found.append((bus, str(self._prop(bus, path, ACCESSIBLE, "Name"))))
            except Exception:
                continue  # an application that left meanwhile
        return found

    def node(self, bus: str, path: str) -> Node:
        interfaces = self._call(bus, path, ACCESSIBLE, "GetInterfaces")[0]
        role = str(self._call(bus, path, ACCESSIBLE, "GetRoleName")[0])
        name = str(self._prop(bus, path, ACCESSIBLE, "Name"))
        text = ""
        if TEXT in interfaces:
            count = int(self._prop(bus, path, TEXT, "CharacterCount"))
            text = str(self._call(bus, path, TEXT, "GetText", "ii", 0, count)[0])
        words = self._call(bus, path, ACCESSIBLE, "GetState")[0]
        bits = words[0] | (words[1] << 32) if len(words) > 1 else words[0]
        states = frozenset(s for s, bit in STATES.items() if bits & (1 << bit))
        extents = (0, 0, 0, 0)
        if COMPONENT in interfaces:
            extents = tuple(self._call(bus, path, COMPONENT, "GetExtents", "u", 0)[0])  # type: ignore[assignment]
        return Node(bus, path, role, name, text, states, extents)

    def walk(self, bus: str, path: str = ROOT, depth: int = 0) -> Iterator[Node]:
        """Every node under (bus, path), parents first, except inside windows and menus that are
        not on screen; nodes that vanish meanwhile are skipped."""
        try:
            node = self.node(bus, path)
            children = self._call(bus, path, ACCESSIBLE, "GetChildren")[0]
        except Exception:
            return
        yield node
        if depth > 30 or (node.role in HIDES_SUBTREE and "showing" not in node.states):
            return
        for child in children:
            # An object that left while it was asked answers with an error body, not a pair.
            if isinstance(child, tuple) and len(child) == 2:
                yield from self.walk(child[0], child[1], depth + 1)

    def children(self, node: Node) -> list[Node]:
        refs = self._call(node.bus, node.path, ACCESSIBLE, "GetChildren")[0]
        return [self.node(b, p) for b, p in refs]
