"""Streamed playback: chunks of speech go into a queue that the sound card's callback drains.

Sound starts with the first chunk while synthesis goes on; `stop()` is immediate; `pause()`
plays silence and keeps the place; `volume` applies from the next buffer on; `truncate()` drops
what is queued past a sample, so that the rest of an utterance can be rendered again (faster,
or from another sentence) while what is heard goes on. sounddevice (and with it PortAudio) is
imported only when a player starts, so a machine without a sound system can still save WAV files.

Threads: `feed`, `finish`, `truncate`, `stop`, `pause`, `resume` and `volume` may be called from
any thread.
`on_done` and `on_error` are called from an audio thread, never the caller's: a GUI re-emits
them as queued signals.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from cosydesk.engine.errors import EngineError

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
# Silence played after the last chunk, on top of the device's reported latency.
TAIL_SECONDS = 0.05
_ALSO_WAV = "Saving the speech as a WAV file still works."


class AudioDeviceError(EngineError):
    """No sound can be played: PortAudio is missing, or the output device is absent or broken."""


def _import_sounddevice() -> ModuleType:
    """The sounddevice module, or AudioDeviceError saying what to install."""
    try:
        import sounddevice
    except OSError as exc:
        # sounddevice raises OSError when the PortAudio library itself cannot be loaded.
        raise AudioDeviceError(
            "No sound output device can be used: the PortAudio library is missing "
            f"({exc}). Install it (on Debian or Ubuntu: sudo apt install libportaudio2) "
            f"and start cosydesk again. {_ALSO_WAV}"
        ) from exc
    except ImportError as exc:
        raise AudioDeviceError(
            "No sound output device can be used: the Python package sounddevice is not "
            f"installed (pip install sounddevice). {_ALSO_WAV}"
        ) from exc
    return sounddevice


def _output_devices(sd: ModuleType) -> list[dict[str, Any]]:
    try:
        devices = sd.query_devices()
    except Exception as exc:
        raise AudioDeviceError(
            f"The sound system could not list its devices ({exc}). {_ALSO_WAV}"
        ) from exc
    return [dict(d, index=i) for i, d in enumerate(devices) if d["max_output_channels"] > 0]


def list_output_devices() -> list[tuple[str, str]]:
    """(value for the output_device setting, label to show) for each output device.

    The system default is not in the list; it is the setting's empty value. Raises
    AudioDeviceError when the sound system cannot be used at all.
    """
    sd = _import_sounddevice()
    hostapis = sd.query_hostapis()
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for device in _output_devices(sd):
        name = device["name"]
        if name in seen:  # the same card through another host API: the name picks the first
            continue
        seen.add(name)
        api = hostapis[device["hostapi"]]["name"] if device["hostapi"] < len(hostapis) else ""
        result.append((name, f"{name} ({api})" if api else name))
    return result


def _resolve_device(sd: ModuleType, device: str | int | None) -> int | None:
    """The PortAudio index for `device` (None: the system default), checked to exist."""
    if device is None or device == "":
        try:
            sd.query_devices(kind="output")
        except Exception as exc:
            raise AudioDeviceError(
                "No sound output device was found: connect speakers or headphones, or check "
                f"the system's sound settings. {_ALSO_WAV}"
            ) from exc
        return None
    outputs = _output_devices(sd)
    if isinstance(device, int):
        matches = [d for d in outputs if d["index"] == device]
    else:
        matches = [d for d in outputs if d["name"] == device] or [
            d for d in outputs if device.lower() in d["name"].lower()
        ]
    if not matches:
        raise AudioDeviceError(
            f"The sound output device {device!r} is not available: connect it, or choose "
            f"another output device in Settings (or the system default). {_ALSO_WAV}"
        )
    return int(matches[0]["index"])


class Player:
    """Plays float32 mono chunks as they arrive; one player per utterance.

    `start()` opens the device, `feed()` queues chunks, `finish()` says no more will come:
    playback drains the queue and then calls `on_done()`. `stop()` silences at once and does
    not call `on_done`. A failure of the device during playback calls `on_error(message)`.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, device: str | int | None = None) -> None:
        self.sample_rate = int(sample_rate)
        self.device = device
        self.on_done: Callable[[], None] | None = None
        self.on_error: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._offset = 0  # samples of _chunks[0] already played
        self._played = 0  # samples sent to the device, silence excluded
        self._starved = 0  # silence sent between the first and the last sample
        self._finishing = False
        self._paused = False
        self._stopped = False
        self._ended = False
        self._drained = False
        self._tail_left = 0  # samples of silence still to play after the last chunk
        self._tail = 0  # the whole tail, for a finish() that truncate() takes back
        self._volume = 1.0
        self._started = False
        self._failure: str | None = None
        self._stream: Any = None
        self._sd: ModuleType | None = None  # the sounddevice module of the open stream
        self._stop_signal: type[BaseException] = StopIteration
        self._abort_signal: type[BaseException] = StopIteration

    # -- control ----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the output device and start the stream (silence until the first chunk).

        When the device cannot be found or opened, the list of devices is read again once
        (a sound server started after cosydesk is seen then). Raises AudioDeviceError with a
        sentence when sound cannot be played.
        """
        if self._started:
            raise RuntimeError("a Player plays one utterance: create a new one")
        self._started = True
        sd = _import_sounddevice()
        # The callback may run before stream.start() returns (PortAudio calls it from its
        # own thread at once), so everything it reads is in place before the stream exists.
        self._stop_signal = sd.CallbackStop
        self._abort_signal = sd.CallbackAbort
        try:
            self._open(sd)
        except AudioDeviceError as first:
            if not _rescan(sd):
                raise
            log.info("No usable sound output (%s); read the device list again", first)
            self._open(sd)

    def _open(self, sd: ModuleType) -> None:
        index = _resolve_device(sd, self.device)
        try:
            stream = sd.OutputStream(
                samplerate=self.sample_rate,
                channels=1,
                dtype="float32",
                device=index,
                callback=self._callback,
                finished_callback=self._stream_finished,
            )
        except Exception as exc:
            raise _open_failed(exc) from exc
        latency = getattr(stream, "latency", 0.0)
        with self._lock:
            self._stream = stream
            self._tail = int((float(latency or 0.0) + TAIL_SECONDS) * self.sample_rate)
            self._tail_left = self._tail
        try:
            stream.start()
        except Exception as exc:
            with self._lock:
                self._stream = None
            with contextlib.suppress(Exception):
                stream.close()
            raise _open_failed(exc) from exc
        with _open_lock:
            _open_streams.setdefault(sd, set()).add(self)
        self._sd = sd
        log.debug("Playback started on device %r at %d Hz", index, self.sample_rate)

    def feed(self, chunk: np.ndarray) -> None:
        """Queue a chunk of mono samples (any shape; it is flattened and copied)."""
        samples = np.array(chunk, dtype=np.float32, copy=True).reshape(-1)
        with self._lock:
            if self._stopped:
                return
            if self._finishing:
                log.warning("A chunk arrived after finish(); it is not played")
                return
            self._chunks.append(samples)

    def finish(self) -> None:
        """No more chunks: play what is queued, then call `on_done`."""
        with self._lock:
            self._finishing = True

    def stop(self) -> None:
        """Silence now: drop the queue and close the device. `on_done` is not called."""
        with self._lock:
            self._stopped = True
            self._chunks.clear()
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()  # unlike stop(), abort() does not play out the buffers
                stream.close()
            except Exception:
                log.exception("The sound device did not stop cleanly")
        _forget(self)

    def truncate(self, keep: int) -> bool:
        """Keep the utterance's first `keep` samples (those played count too) and drop what is
        queued beyond them; chunks fed afterwards follow on, and a `finish()` is taken back.

        False when it is too late: the sound has drained (or was stopped), `on_done` comes or
        came, and a new player must take over.
        """
        with self._lock:
            if self._stopped or self._ended or self._drained:
                return False
            excess = self._played + self._queued() - max(int(keep), self._played)
            while excess > 0 and self._chunks:
                tail = self._chunks[-1]
                left = tail.shape[0] - (self._offset if len(self._chunks) == 1 else 0)
                if left <= excess:
                    self._chunks.pop()
                    excess -= left
                    if not self._chunks:
                        self._offset = 0
                else:
                    self._chunks[-1] = tail[: tail.shape[0] - excess]
                    excess = 0
            self._finishing = False
            self._tail_left = self._tail
            return True

    def _queued(self) -> int:
        """Samples waiting to be played. Caller holds the lock."""
        return sum(chunk.shape[0] for chunk in self._chunks) - self._offset

    def pause(self) -> None:
        """Play silence and keep the place; `resume()` goes on from there."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Go on playing after `pause()`."""
        with self._lock:
            self._paused = False

    # -- state ------------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """True from `start()` until the sound has drained or `stop()` was called."""
        return self._stream is not None and not self._stopped and not self._ended

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def volume(self) -> float:
        """The factor samples are played at: 0 (silent) to 1 (as rendered)."""
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        self._volume = min(max(float(value), 0.0), 1.0)

    @property
    def fed_samples(self) -> int:
        """Samples of speech fed so far and not dropped: those played plus those queued."""
        with self._lock:
            return self._played + self._queued()

    @property
    def played_samples(self) -> int:
        """Samples of speech played so far (silence from pauses and waits excluded)."""
        return self._played

    @property
    def starved_samples(self) -> int:
        """Silence played inside the speech because synthesis had not caught up (stutter)."""
        return self._starved

    @property
    def position_seconds(self) -> float:
        """Seconds of speech played so far (silence from pauses and waits excluded)."""
        return self._played / self.sample_rate

    # -- the audio thread -------------------------------------------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """Called by PortAudio for every buffer; must never block for long or raise."""
        try:
            with self._lock:
                out = outdata[:, 0]
                if self._stopped or self._paused:
                    outdata.fill(0)
                    return
                filled = self._take(out)
                if self._volume != 1.0:
                    out[:filled] *= self._volume
                if filled < frames:  # the queue ran dry: silence until synthesis catches up
                    out[filled:] = 0
                    if self._played and not (self._finishing and not self._chunks):
                        self._starved += frames - filled  # a gap inside the speech
                self._played += filled
                if self._finishing and not self._chunks:
                    # Silence after the last sample until the device's own buffer has played
                    # it: closing a stream drops what is still buffered (with PulseAudio's ALSA
                    # plugin the last ~30 ms were lost).
                    self._tail_left -= frames - filled
                drained = self._finishing and not self._chunks and self._tail_left <= 0
                self._drained = drained
        except Exception as exc:
            outdata.fill(0)
            self._failure = f"playback failed: {exc}"
            raise self._abort_signal from exc
        if drained:
            raise self._stop_signal

    def _take(self, out: np.ndarray) -> int:
        """Copy queued samples into `out`; returns how many. Caller holds the lock."""
        filled, wanted = 0, out.shape[0]
        while filled < wanted and self._chunks:
            head = self._chunks[0]
            count = min(wanted - filled, head.shape[0] - self._offset)
            out[filled : filled + count] = head[self._offset : self._offset + count]
            filled += count
            self._offset += count
            if self._offset >= head.shape[0]:
                self._chunks.popleft()
                self._offset = 0
        return filled

    def _stream_finished(self) -> None:
        """PortAudio's word that the stream ended (drained, aborted or failed)."""
        with self._lock:
            if self._stopped:
                return
            self._ended = True
            stream, self._stream = self._stream, None
            if not self._drained and self._failure is None:
                # Ended before the speech did, without our asking: the device or the sound
                # server went away (PortAudio reports no error of its own then).
                self._failure = (
                    "the sound output stopped before the speech ended: the sound device or "
                    "the sound server went away"
                )
        # PortAudio forbids closing a stream from its own callbacks, hence the helper thread.
        threading.Thread(
            target=self._close_and_report, args=(stream,), name="cosydesk-audio-close", daemon=True
        ).start()

    def _close_and_report(self, stream: Any) -> None:
        if stream is not None:
            try:
                stream.close()
            except Exception:
                log.exception("The sound device did not close cleanly")
        _forget(self)
        try:
            if self._failure is not None:
                log.error("Playback failed: %s", self._failure)
                if self.on_error is not None:
                    self.on_error(self._failure)
            elif self.on_done is not None:
                self.on_done()
        except Exception:
            log.exception("A playback listener failed")


# Players whose stream is open, by the sounddevice (PortAudio) they play through: PortAudio may
# only be re-initialised while none of its streams is open.
_open_streams: weakref.WeakKeyDictionary[ModuleType, set[Player]] = weakref.WeakKeyDictionary()
_open_lock = threading.Lock()


def _forget(player: Player) -> None:
    with _open_lock:
        if player._sd is not None:
            _open_streams.get(player._sd, set()).discard(player)


def _rescan(sd: ModuleType) -> bool:
    """Re-initialise PortAudio so that it reads the device list again; False if it cannot now.

    PortAudio lists the devices once, when it starts; a sound server or a headset that came
    later stays invisible until this. Only done while no stream is open, since it closes them.
    """
    with _open_lock:
        if _open_streams.get(sd):
            return False
        try:
            sd._terminate()
            sd._initialize()
        except Exception:
            log.warning("Could not read the sound devices again", exc_info=True)
            return False
    return True


def _open_failed(exc: BaseException) -> AudioDeviceError:
    return AudioDeviceError(
        f"The sound output device could not be opened ({exc}): choose another output "
        f"device in Settings, or close programs that hold it. {_ALSO_WAV}"
    )
