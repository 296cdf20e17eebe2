"""The utterance a person listens to: its sound output, the runner job that renders it now,
and which stretch of audio speaks which characters of its text.

One utterance may be rendered by several jobs in turn: skipping to another sentence, or a new
speed or voice for the parts not heard yet, drops the audio queued past a point and renders the
text from there again, into the same player, while what is heard goes on. Positions here are
characters of the utterance's whole text and samples of its whole audio.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosydesk.engine.types import SAMPLE_RATE
from cosydesk.gui.sentences import sentence_at
from cosydesk.gui.speech_output import SpeechOutput

# How fast speech goes before any part has been rendered: characters a second at speed 1.0
# (English narration runs at 13-16).
CHARS_PER_SECOND = 14.0
# How far past a skip target to look for the end of its sentence.
SENTENCE_WINDOW = 4000


class Sink:
    """Where one job's chunks go, on the runner's thread: straight into the player, so that
    smooth sound does not depend on the GUI thread. Closed when its job is replaced, so that a
    chunk the old job was still handing on is never heard. Holds no QObject (the job may be the
    last to hold it, and a QObject must die on its own thread)."""

    def __init__(self, player: Any) -> None:
        self._player = player
        self._lock = threading.Lock()
        self._open = True
        self.fed = 0  # samples handed to the player so far

    def feed(self, chunk: np.ndarray) -> None:
        with self._lock:
            if self._open:
                self._player.feed(chunk)
                self.fed += len(chunk)

    def finish(self) -> None:
        """The whole text is rendered: the sound goes on until the buffer drains, then the
        output's `done` ends the speech."""
        with self._lock:
            if self._open:
                self._player.finish()

    def close(self) -> None:
        """Nothing more from this job reaches the player (returns once a feed under way ends)."""
        with self._lock:
            self._open = False


@dataclass(frozen=True)
class Part:
    """From sample `sample` on, the audio speaks characters [start, end) of the text."""

    sample: int
    start: int
    end: int
    # Stands for the part a restart begins with until the runner reports it (see `cut`).
    provisional: bool = False


@dataclass(frozen=True)
class Listening:
    """Where the listener is: seconds heard and (estimated) still to come, the character
    reached, and the sentence heard (None before the first sound)."""

    elapsed: float
    remaining: float
    position: float
    total: int
    sentence: tuple[int, int] | None


class Utterance:
    """Followed on the GUI thread; `id` (its first job's) stays while its jobs change."""

    def __init__(self, output: SpeechOutput, text: str, voice: str | None, speed: float) -> None:
        self.output = output
        self.text = text
        self.voice = voice
        self.speed = speed
        self.id = 0
        self.job_id = 0
        self.sink = Sink(output.player)
        self.offset_chars = 0  # where the current job's text begins in `text`
        self.offset_samples = 0  # where its audio begins in the utterance's
        self.rendered = False  # the current job has rendered the rest of the text
        self.pending = False  # a new speed or voice waits for the next part's start
        self.parts: list[Part] = []

    # -- jobs ---------------------------------------------------------------------------------

    def start_job(self, job_id: int, at_char: int, sink: Sink) -> None:
        """The job `job_id` renders the text from `at_char` into `sink` from now on."""
        self.job_id, self.sink, self.offset_chars = job_id, sink, at_char
        self.rendered = False
        if not self.id:
            self.id = job_id

    def cut(self, sample: int, at_char: int | None = None) -> int:
        """Drop the audio past `sample` (what is heard already stays) and the parts it spoke;
        the current job's sink is closed. Returns the sample the next job's audio starts at,
        or -1 when the player has ended and cannot take more.

        With `at_char`, the listener is placed at that character's sentence from `sample` on,
        before the next job reports its first part: a second Next pressed meanwhile goes on
        from the sentence skipped to, not again from the one still in the speaker."""
        self.sink.close()
        if not self.output.player.truncate(sample):
            return -1
        fed = self.output.player.fed_samples
        self.parts = [p for p in self.parts if p.sample < fed]
        self.offset_samples = fed
        if at_char is not None:
            window = self.text[at_char : at_char + SENTENCE_WINDOW]
            span = sentence_at(window, 0)
            end = at_char + (span[1] if span is not None else len(window))
            self.parts.append(Part(fed, at_char, max(end, at_char + 1), provisional=True))
        return fed

    def add_part(self, sample: int, start: int, end: int) -> None:
        """The current job's part [start, end) (of its own text) starts at its `sample`."""
        self.parts = [p for p in self.parts if not p.provisional]
        self.parts.append(
            Part(sample + self.offset_samples, start + self.offset_chars, end + self.offset_chars)
        )

    # -- where the listener is ------------------------------------------------------------------

    @property
    def played(self) -> int:
        return self.output.played_samples

    def rate(self) -> float:
        """Samples per character: as rendered so far, else an estimate for the speed."""
        samples = chars = 0
        for part, after in zip(self.parts, self.parts[1:], strict=False):
            if after.sample >= part.sample and part.end > part.start:
                samples += after.sample - part.sample
                chars += part.end - part.start
        if chars and samples:
            return samples / chars
        return SAMPLE_RATE / (CHARS_PER_SECOND * self.speed)

    def heard_index(self) -> int | None:
        """Index in `parts` of the part heard now, or None before the first. A part whose
        first sample comes next counts as heard: after a skip, the sentence skipped to shows
        while its first chunk is still on its way."""
        heard = self.played
        current = None
        for index, part in enumerate(self.parts):
            if part.sample > heard:
                break
            current = index
        return current

    def _length(self, index: int, rate: float) -> tuple[float, bool]:
        """Samples of part `index` and whether that is known (else estimated)."""
        part = self.parts[index]
        if index + 1 < len(self.parts):
            return float(self.parts[index + 1].sample - part.sample), True
        fed = self.output.player.fed_samples - part.sample
        if self.rendered:
            return float(fed), True
        return max(float(fed), (part.end - part.start) * rate), False

    def next_boundary(self) -> Part | None:
        """The first part that starts after the sample heard now, if it is known yet."""
        heard = self.played
        return next((part for part in self.parts if part.sample > heard), None)

    def listening(self) -> Listening:
        """Where the listener is now; see Listening."""
        rate, played, total = self.rate(), self.played, len(self.text)
        index = self.heard_index()
        if index is None:
            position = float(self.offset_chars if not self.parts else self.parts[0].start)
            remaining = (total - position) * rate
            return Listening(played / SAMPLE_RATE, remaining / SAMPLE_RATE, position, total, None)
        part = self.parts[index]
        length, known = self._length(index, rate)
        into = played - part.sample
        fraction = min(into / length, 1.0 if known else 0.95) if length > 0 else 1.0
        position = part.start + fraction * (part.end - part.start)
        queued = max(self.output.player.fed_samples - played, 0)
        if self.rendered:
            unrendered = 0.0
        else:
            last = self.parts[-1]
            last_fed = self.output.player.fed_samples - last.sample
            unrendered = max((last.end - last.start) * rate - last_fed, 0.0)
            unrendered += (total - last.end) * rate
        # Parts end on sentence marks, so the part's own text holds the sentence; looking in
        # it alone keeps this cheap for a book (it runs a few times a second).
        within = sentence_at(
            self.text[part.start : part.end], min(int(position), part.end - 1) - part.start
        )
        sentence = None if within is None else (part.start + within[0], part.start + within[1])
        return Listening(
            played / SAMPLE_RATE, (queued + unrendered) / SAMPLE_RATE, position, total, sentence
        )
