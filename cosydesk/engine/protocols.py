"""What the rest of cosydesk needs of an engine and of a voice library, as Protocols.

The runner holds the engine for the app and the speech API; it and they type what they use
with these, so that `Engine` and `VoiceLibrary` (or a test's small stand-in) meet one stated
contract instead of `Any`. No heavy imports: the types named here are only read by checkers.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from cosydesk.engine.prompt.frontend import PromptFeatures
    from cosydesk.engine.types import EngineOptions, EngineStatus, ProgressFn
    from cosydesk.engine.voices import Voice, VoiceInfo

# (characters of the text covered by what has been spoken, characters in all)
SegmentProgress = Callable[[int, int], None]


class PromptSource(Protocol):
    """What the voice library needs of an engine: a voice clip's prompt features."""

    def prompt_features(self, wav_path: Path) -> PromptFeatures:
        """The prompt features of the clip `wav_path` for the loaded model."""
        ...


class SpeechEngine(PromptSource, Protocol):
    """A loaded model as the runner uses it: speak, report, warm up, unload."""

    sample_rate: int

    def synthesize(
        self,
        text: str,
        voice: Voice,
        *,
        stream: bool = True,
        speed: float = 1.0,
        instruct: str | None = None,
        cancel: threading.Event | None = None,
        progress: SegmentProgress | None = None,
        normalization: str | None = None,
        reading: SegmentProgress | None = None,
    ) -> Iterator[np.ndarray]:
        """Float32 mono chunks of `text` spoken by `voice` at `sample_rate`."""
        ...

    def status(self) -> EngineStatus:
        """What is loaded, how, and the memory it holds."""
        ...

    def warm_up(self, voice: Voice, tokens: int | None = None) -> float:
        """Speak a throw-away utterance; the seconds it took."""
        ...

    def unload(self) -> None:
        """Free the model's memory."""
        ...


class EngineFactory(Protocol):
    """Loads a model folder into a SpeechEngine (`Engine.load`, or a test's stand-in)."""

    def __call__(
        self,
        model_dir: Path,
        options: EngineOptions,
        *,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> SpeechEngine: ...


class VoiceStore(Protocol):
    """The voice library as the runner, the app and the speech API use it."""

    def list(self) -> builtins.list[VoiceInfo]:
        """Every voice, sorted by name."""
        ...

    def get(self, name: str, engine: PromptSource | None = None) -> Voice:
        """The voice `name`, its prompt features computed with `engine` when not cached."""
        ...

    def add(
        self, name: str, audio_path: Path, transcript: str, engine: PromptSource | None = None
    ) -> VoiceInfo:
        """Add a voice from a clip and its transcript."""
        ...
