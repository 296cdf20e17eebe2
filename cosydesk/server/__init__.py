"""The local speech API: OpenAI-style `/v1/audio/speech` plus health, warm-up and a status page.

Optional: it needs the `server` extra (fastapi, uvicorn), imported only when a server starts.
`run_server` is what `cosydesk serve` calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_server(args: Any, model_dir: Path, options: Any, **kwargs: Any) -> int:
    """Serve in the foreground until interrupted; see `cosydesk.server.run.run_server`."""
    from cosydesk.server.run import run_server as _run

    return _run(args, model_dir, options, **kwargs)


__all__ = ["run_server"]
