"""The tray app's "Local speech API": the app's own model served over HTTP on loopback.

Qt-free, so that it can be tested and reused without a window. Requests become jobs on the
app's runner (cosydesk.runner), after whatever the person at the keyboard asked for; they never
load the model (while none is loaded, requests get a 503 with a sentence), and nothing
borrows the engine. uvicorn runs on a daemon thread; `start()` and `stop()` may be called
from the GUI thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from cosydesk.runner import Runner

if TYPE_CHECKING:
    from cosydesk.engine.voices import VoiceLibrary

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class LocalApiServer:
    """OpenAI-style speech API for the model of the running app, on 127.0.0.1:`port`.

    `port` 0 picks a free port (see `port` after `start()`); `api_key`, when not empty, is
    required as a Bearer key on every request. `library` is the app's VoiceLibrary (default:
    the one in the data folder).
    """

    def __init__(
        self,
        runner: Runner,
        *,
        port: int,
        api_key: str = "",
        library: VoiceLibrary | None = None,
        default_voice: str = "",
    ) -> None:
        self.runner = runner
        self.port = int(port)
        self.api_key = api_key
        self._library = library
        self.default_voice = default_voice
        self._service: Any = None
        self._server: Any = None

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> str:
        """Serve; returns the base URL. Raises an EngineError sentence when it cannot (the
        server packages are missing, the port is taken, the key has spaces)."""
        if self.running:
            return self.url
        from cosydesk.server.run import BackgroundServer, require_server_packages

        require_server_packages()
        from cosydesk.server.app import create_app
        from cosydesk.server.options import ServerOptions
        from cosydesk.server.service import SpeechService

        options = ServerOptions(
            host=HOST, port=self.port, api_key=self.api_key, default_voice=self.default_voice
        ).validate()
        service = SpeechService(options, self.runner, self._voice_library(), loads_model=False)
        service.start()
        server = BackgroundServer(create_app(service), HOST, self.port, options)
        try:
            server.start()
        except BaseException:
            service.stop()
            raise
        self._service, self._server = service, server
        self.port = server.port
        log.info("Local speech API on %s%s", self.url, " (key required)" if self.api_key else "")
        return self.url

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel running requests and stop serving; False if something did not end in time."""
        service, server = self._service, self._server
        self._service = self._server = None
        stopped = True
        if service is not None:
            stopped = service.stop(timeout) and stopped
        if server is not None:
            stopped = server.stop(timeout) and stopped
        return stopped

    def _voice_library(self) -> VoiceLibrary:
        if self._library is not None:
            return self._library
        from cosydesk.config import voices_dir
        from cosydesk.engine.voices import VoiceLibrary

        return VoiceLibrary(voices_dir())
