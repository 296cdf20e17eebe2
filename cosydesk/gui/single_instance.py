"""One cosydesk per user: the first start listens on a local socket, later starts talk to it.

A second `cosydesk` (or `cosydesk --action speak-clipboard`) sends one word to the running
instance and exits; the running one emits `message_received(word)`. The socket is named per
user, lives in the user's runtime dir and is restricted to the user; a socket file left by a
crash is noticed (nobody answers on it) and replaced.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal, Slot
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

MESSAGES = ("show", "speak-clipboard", "stop", "pause")
_MAX_PENDING_BYTES = 4096
_PROBE_TIMEOUT_MS = 500
_LOCK_TIMEOUT_MS = 5000


def _user_tag() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment: still one name per session
        user = "user"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", user)


def server_name(app_id: str, runtime_dir: Path | None = None) -> str:
    """The local server's name for `app_id` and the current user.

    On Unix a socket path in `runtime_dir` (default: $XDG_RUNTIME_DIR, else the temp dir);
    on Windows a pipe name, which lives in one namespace for all users.
    """
    base = f"{app_id}-{_user_tag()}"
    if sys.platform == "win32":
        return base
    folder = runtime_dir or Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return str(folder / f"{base}.sock")


def send_to_running(message: str, app_id: str = "cosydesk", timeout_ms: int = 2000) -> bool:
    """Deliver `message` to the running instance; False when none runs. No Qt app needed
    (the `cosydesk --action ...` command line uses it)."""
    return SingleInstance(app_id).send(message, timeout_ms)


class SingleInstance(QObject):
    """The primary instance's listener, or a second instance's line to it."""

    message_received = Signal(str)

    def __init__(
        self,
        app_id: str = "cosydesk",
        parent: QObject | None = None,
        runtime_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.server_name = server_name(app_id, runtime_dir)
        lock_folder = runtime_dir or Path(tempfile.gettempdir())
        self._lock_path = str(lock_folder / f"{app_id}-{_user_tag()}.lock")
        self._server: QLocalServer | None = None
        self._pending: dict[QLocalSocket, bytearray] = {}

    def try_primary(self) -> bool:
        """Become the primary instance if none runs; False when another one answers.

        True also when listening fails for another reason (logged): this instance then runs
        without being reachable, rather than not at all.
        """
        if self._server is not None:
            return True
        # Two starts at the same moment must not both decide to be the primary.
        lock = QLockFile(self._lock_path)
        if not lock.tryLock(_LOCK_TIMEOUT_MS):
            log.warning("Could not take the start-up lock %s; going on", self._lock_path)
        try:
            if self._other_is_listening():
                return False
            self._listen()
            return True
        finally:
            if lock.isLocked():
                lock.unlock()

    def send(self, message: str, timeout_ms: int = 2000) -> bool:
        """Deliver `message` (one of MESSAGES) to the primary; False if none could be reached."""
        if message not in MESSAGES:
            raise ValueError(f"unknown message {message!r}; expected one of {MESSAGES}")
        socket = QLocalSocket()
        socket.connectToServer(self.server_name)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write(f"{message}\n".encode())
        while socket.bytesToWrite() > 0:
            if not socket.waitForBytesWritten(timeout_ms):
                socket.abort()
                return False
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        return True

    def close(self) -> None:
        """Stop listening (the socket file is removed) and drop open connections."""
        for connection in list(self._pending):
            connection.disconnected.disconnect(self._on_disconnected)
            connection.abort()
            connection.deleteLater()
        self._pending.clear()
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None

    # -- the primary's side -----------------------------------------------------------------

    def _other_is_listening(self) -> bool:
        probe = QLocalSocket()
        probe.connectToServer(self.server_name)
        answered = probe.waitForConnected(_PROBE_TIMEOUT_MS)
        probe.abort()
        return answered

    def _listen(self) -> None:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        in_use = QAbstractSocket.SocketError.AddressInUseError
        if not server.listen(self.server_name) and server.serverError() == in_use:
            # Nobody answered on it, so the socket is a leftover of a crashed instance.
            log.info("Removing the stale instance socket %s", self.server_name)
            QLocalServer.removeServer(self.server_name)
            server.listen(self.server_name)
        if not server.isListening():
            log.warning(
                "Cannot listen on %s (%s): a second start will not find this instance",
                self.server_name,
                server.errorString(),
            )
            server.deleteLater()
            return
        server.newConnection.connect(self._accept)
        self._server = server

    # The slots below are methods of this QObject (not lambdas or partials), so Qt disconnects
    # them before it destroys the sockets with their server: no slot runs on a dying object.
    @Slot()
    def _accept(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            connection = self._server.nextPendingConnection()
            self._pending[connection] = bytearray()
            connection.readyRead.connect(self._on_ready_read)
            connection.disconnected.connect(self._on_disconnected)
            self._read(connection)  # bytes that came with the connection

    @Slot()
    def _on_ready_read(self) -> None:
        connection = self.sender()
        if isinstance(connection, QLocalSocket):
            self._read(connection)

    @Slot()
    def _on_disconnected(self) -> None:
        connection = self.sender()
        if isinstance(connection, QLocalSocket):
            self._read(connection)
            self._pending.pop(connection, None)
            connection.deleteLater()

    def _read(self, connection: QLocalSocket) -> None:
        buffer = self._pending.get(connection)
        if buffer is None:
            return
        buffer += bytes(connection.readAll().data())
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            word = line.decode("utf-8", "replace").strip()
            if word in MESSAGES:
                log.info("Message from another start: %s", word)
                self.message_received.emit(word)
            elif word:
                log.warning("Ignored an unknown message from another start: %r", word[:80])
        if len(buffer) > _MAX_PENDING_BYTES:
            log.warning("Dropped a connection that sent too much without a line break")
            self._pending.pop(connection, None)
            connection.abort()
