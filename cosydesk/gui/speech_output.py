"""One utterance's sound for the GUI: a Player whose audio-thread callbacks arrive as signals.

The samples themselves do not pass through the GUI: the runner's thread feeds `player` (which
is thread-safe) directly. The player holds this QObject only weakly, so that whoever holds the
player last (the runner's speech job) never deletes a QObject off the GUI thread.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from cosydesk.audio.playback import Player

from cosydesk.engine.types import SAMPLE_RATE

log = logging.getLogger(__name__)


class SpeechOutput(QObject):
    """Opens the output device at once (AudioDeviceError with a sentence if it cannot).

    `done(self)` comes when the sound has drained after `finish()`; `failed(self, message)`
    when the device fails mid-way. Both are emitted from the audio thread, so receivers on the
    GUI thread get them queued; carrying the output lets them ignore an older utterance's.
    """

    done = Signal(object)
    failed = Signal(object, str)

    def __init__(self, device: str = "") -> None:
        super().__init__()
        from cosydesk.audio.playback import Player

        self.paused = False
        self._player = Player(SAMPLE_RATE, device or None)
        me = weakref.ref(self)

        def done() -> None:
            output = me()
            if output is not None:
                output.done.emit(output)

        def failed(message: str) -> None:
            output = me()
            if output is not None:
                output.failed.emit(output, str(message))

        self._player.on_done = done
        self._player.on_error = failed
        self._player.start()

    @property
    def player(self) -> Player:
        """The player itself: thread-safe, for the thread that feeds it."""
        return self._player

    def feed(self, chunk: np.ndarray) -> None:
        self._player.feed(chunk)

    @property
    def played_samples(self) -> int:
        """Samples of speech the listener has heard so far."""
        return self._player.played_samples

    @property
    def starved_samples(self) -> int:
        """Silence heard inside the speech while synthesis caught up."""
        return self._player.starved_samples

    def finish(self) -> None:
        """No more chunks: play what is queued, then emit `done`."""
        self._player.finish()

    def stop(self) -> None:
        """Silence now; `done` does not follow."""
        try:
            self._player.stop()
        except Exception:
            log.exception("The sound device did not stop cleanly")

    def set_paused(self, paused: bool) -> None:
        """Pause (silence, keeping the place) or resume."""
        if paused:
            self._player.pause()
        else:
            self._player.resume()
        self.paused = paused
