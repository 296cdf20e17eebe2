"""The local speech API: OpenAI-style `/v1/audio/speech` plus health, warm-up and a status page.

Optional: it needs the `server` extra (fastapi, uvicorn), imported only when a server starts.
`run_server` is what `cosydesk serve` calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cosydesk.engine.types import EngineOptions


def run_server(
    args: argparse.Namespace, model_dir: Path, options: EngineOptions, **kwargs: Any
) -> int:
    """Serve in the foreground until interrupted; see `cosydesk.server.run.run_server`."""
    from cosydesk.server.run import run_server as _run

    return _run(args, model_dir, options, **kwargs)


__all__ = ["run_server"]
