"""`cosydesk serve` as a user runs it, with speech cut short, for the HTTP fuzz.

    python -m tests.fuzz.serve_tiny TOKENS [cosydesk serve arguments ...]

runs `cosydesk serve` (the CLI, its settings, environment variables and logging) in this
process, except that the model speaks exactly TOKENS speech tokens per segment instead of
sampling until its stop token: the tiny model's random weights would otherwise talk for
seconds, and the fuzz is about requests, not speech. The yaml's own sampler settings are still
read and checked, as the server would. A text that starts with LONG speaks LONG_TOKENS per
segment: a request that keeps the model busy while others wait.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

LONG = "Speak at length."
LONG_TOKENS = 600


def main(argv: list[str]) -> int:
    import torch

    from cosydesk import cli
    from cosydesk.engine.engine import Engine
    from cosydesk.engine.model import sampling

    torch.set_num_threads(1)
    # Set as each speech starts; read by the sampler factory on the same (model) thread.
    length = threading.local()
    from_config = sampling.from_config
    synthesize = Engine.synthesize

    def forced(llm_node: Any, generator: Any = None) -> Any:
        from_config(llm_node, generator)  # the yaml's settings, checked as ever
        size = int(llm_node.get("speech_token_size", 6561))
        return sampling.ForcedLengthSampler(getattr(length, "tokens", int(argv[0])), size)

    def speak(self: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        length.tokens = LONG_TOKENS if text.startswith(LONG) else int(argv[0])
        return synthesize(self, text, *args, **kwargs)

    sampling.from_config = forced
    Engine.synthesize = speak  # type: ignore[method-assign]
    return cli.main(["serve", *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
