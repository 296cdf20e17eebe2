"""Starting the server: `cosydesk serve` in the foreground, or uvicorn on a background thread.

The listening socket is bound before uvicorn starts, so a port in use or a foreign address is
reported as a sentence at once, and clients may connect as soon as `start()` returns. uvicorn
runs with the connection rules of `cosydesk.server.connections` (timeouts, a connection limit,
quiet logs) in both cases.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cosydesk.engine.errors import EngineError
from cosydesk.engine.types import EngineOptions
from cosydesk.server.options import ServerOptions, port_range

# The listen backlog, and the most connections asyncio accepts in one go (uvicorn passes it
# as both): the descriptors that may be open for a moment beyond the connection limit.
ACCEPT_BATCH = 64

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 3


class ServerStartError(EngineError):
    """The server could not start; the message says why and what to do."""


def require_server_packages() -> None:
    """Raise ServerStartError naming the extra to install when fastapi or uvicorn is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ServerStartError(
            f"The speech API needs the optional packages fastapi and uvicorn ({exc.name} is "
            "missing): install them with pip install 'cosydesk[server]'."
        ) from None


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one. Sentences on failure."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family = infos[0][0]
        return socket.create_server((host, port), family=family, backlog=ACCEPT_BATCH)
    except socket.gaierror:
        raise ServerStartError(
            f"There is no address {host!r} to listen on: use 127.0.0.1, or one of this "
            "machine's own addresses."
        ) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"Port {port} on {host} is already in use by another program: choose "
                "another port, or stop that program."
            )
        elif exc.errno in (errno.EACCES, errno.EPERM):
            message = f"Listening on port {port} is not allowed: choose a port from {port_range()}."
        elif exc.errno == errno.EADDRNOTAVAIL:
            message = (
                f"This machine has no address {host}: use 127.0.0.1, or one of its own addresses."
            )
        else:
            message = f"Could not listen on {host}:{port} ({exc.strerror or exc})."
        raise ServerStartError(message) from None


def _uvicorn_server(app: Any, options: ServerOptions) -> Any:
    """A uvicorn server for `app` whose connections obey `options` (see connections.py)."""
    import asyncio
    import functools

    import uvicorn

    from cosydesk.server.connections import ConnectionGuard, GuardedH11Protocol

    guard = ConnectionGuard(options)

    class Server(uvicorn.Server):
        guard: ConnectionGuard

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn makes the event loop; the accept errors it logs are rate limited here.
            asyncio.get_running_loop().set_exception_handler(guard.loop_errors)
            await super().startup(sockets)

    config = uvicorn.Config(
        app,
        http=functools.partial(GuardedH11Protocol, guard=guard),  # type: ignore[arg-type]
        ws="none",
        lifespan="off",
        log_config=None,  # keep the application's logging as it is
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        backlog=ACCEPT_BATCH,
    )
    server = Server(config)
    server.guard = guard
    return server


def url_for(host: str, port: int) -> str:
    shown = host if host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class BackgroundServer:
    """uvicorn serving `app` on a daemon thread; for the tray app and for tests. `options`
    gives the connection limits (timeouts, how many at once); the defaults when None."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        options: ServerOptions | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.options = options if options is not None else ServerOptions(host=host, port=port)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return url_for(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Listen and serve; returns once uvicorn runs. ServerStartError if it cannot."""
        if self.running:
            return
        require_server_packages()
        self._sock = bind_socket(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self._server = _uvicorn_server(self.app, self.options)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="cosydesk-api",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        # uvicorn offers no event for "started"; a short poll bounded by `timeout` does.
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop(timeout=1.0)
                raise ServerStartError("The speech API did not start: the log has the details.")
            time.sleep(0.01)
        log.info("Speech API listening on %s", self.url)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop serving and close the socket; False if the thread did not end in time."""
        stopped = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
            if not stopped:
                log.warning("The speech API thread did not stop within %.1f s", timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
        return stopped


def server_options(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ServerOptions:
    """ServerOptions from the `serve` arguments, COSYDESK_* variables and the stored settings."""
    env = os.environ if environ is None else environ
    options = ServerOptions(host=args.host, port=args.port).with_env(env)
    key = getattr(args, "api_key", None)
    stored: dict[str, Any] = {}
    try:
        from cosydesk.config import Settings

        stored = Settings.load(environ=env).as_dict()
    except Exception:  # a broken settings file must not stop the server
        log.warning("The settings could not be read; using defaults", exc_info=True)
    from dataclasses import replace

    return replace(
        options,
        api_key=key or options.api_key or str(stored.get("api_key") or ""),
        default_voice=str(stored.get("default_voice") or ""),
    )


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_server(
    args: argparse.Namespace,
    model_dir: Path,
    options: EngineOptions,
    *,
    on_ready: Callable[[str, Callable[[], None]], None] | None = None,
) -> int:
    """Serve the speech API in the foreground until interrupted; returns the exit code 0.

    Refuses to start (raising an EngineError sentence) on a bad quantisation variable, a
    non-loopback address without an API key, a busy port, or a model that fails to load.
    `on_ready(url, stop)` is called once it listens (tests use it to stop the server).
    """
    from cosydesk.config import check_environment, voices_dir
    from cosydesk.engine.voices import VoiceLibrary
    from cosydesk.runner import ModelConfig, Runner
    from cosydesk.runner.events import Event, LoadProgress

    check_environment(os.environ)  # whoever built `options`, a bad variable stops the start
    server_opts = server_options(args).validate()
    require_server_packages()
    from cosydesk.server.app import create_app
    from cosydesk.server.service import SpeechService

    sock = bind_socket(server_opts.host, server_opts.port)
    port = sock.getsockname()[1]
    url = url_for(server_opts.host, port)

    def progress(event: Event) -> None:
        if isinstance(event, LoadProgress):
            _print(f"[{event.fraction * 100:3.0f}%] {event.message}")

    library = VoiceLibrary(voices_dir())
    runner = Runner(
        library,
        model=ModelConfig(Path(model_dir), options),
        name="cosydesk-model",
    )
    runner.subscribe(progress)
    runner.start()
    service = SpeechService(server_opts, runner, library)
    service.start()
    try:
        service.submit(service.load_job()).future.result()
        status = service.status().engine
        _print(
            f"Model ready on {status.device} (quantisation {status.quantization_label}); "
            f"{len(service.voices())} voice(s) in {service.library.root}"
        )
        server = _uvicorn_server(create_app(service), server_opts)
        key_note = "; requests need the API key" if server_opts.api_key else ""
        _print(f"Serving the speech API on {url}{key_note} (Ctrl+C stops it)")
        if on_ready is not None:

            def stop() -> None:
                server.should_exit = True

            on_ready(url, stop)
        server.run(sockets=[sock])
    finally:
        service.stop()
        runner.stop()
        sock.close()
    return 0
