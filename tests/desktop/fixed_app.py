"""cosydesk started as `python -m cosydesk` starts it, its model speaking parts of a known
length, so that a journey can tell from the sound what was heard at which speed.

The tiny model's random weights end a part after a random number of speech tokens; here every
part is COSYDESK_TEST_PART_TOKENS tokens long (25 tokens make one second at speed 1).
COSYDESK_TEST_CHUNK_SECONDS makes each chunk take that much longer to render, as a slow card
does, whether or not the job was cancelled meanwhile. Test code only: the app has no such hook.
"""

from __future__ import annotations

import os
import time
from typing import Any

from cosydesk.engine.engine import Engine
from cosydesk.engine.model.sampling import ForcedLengthSampler

_load = Engine._load


def _load_fixed(self: Engine, *args: Any, **kwargs: Any) -> None:
    _load(self, *args, **kwargs)
    tokens = int(os.environ.get("COSYDESK_TEST_PART_TOKENS", "0"))
    if tokens:
        size = self.llm.speech_token_size
        self.renderer.sampler_factory = lambda: ForcedLengthSampler(tokens, size)
    pause = float(os.environ.get("COSYDESK_TEST_CHUNK_SECONDS", "0"))
    if pause:
        render = self.renderer.render

        def slow(*args: Any, **kwargs: Any) -> Any:
            for chunk in render(*args, **kwargs):
                yield chunk
                time.sleep(pause)

        self.renderer.render = slow  # type: ignore[method-assign]


Engine._load = _load_fixed  # type: ignore[method-assign]

if __name__ == "__main__":
    from cosydesk.cli import main

    raise SystemExit(main())
