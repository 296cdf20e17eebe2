"""A stand-in for the `sounddevice` module, for machines without a sound card.

Only the part cosydesk uses: `query_devices`, `query_hostapis`, `OutputStream`,
`InputStream` and the exceptions. The test plays the sound card's part: `stream.pull(frames)`
calls an output stream's callback as PortAudio would and returns the samples it wrote;
`stream.push(samples)` hands an input stream's callback a block from the "microphone".
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np


class PortAudioError(Exception):
    pass


class CallbackStop(Exception):
    pass


class CallbackAbort(Exception):
    pass


def device(name: str, outputs: int = 2, inputs: int = 0, hostapi: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "hostapi": hostapi,
        "max_input_channels": inputs,
        "max_output_channels": outputs,
        "default_samplerate": 48000.0,
    }


class FakeSoundDevice(types.ModuleType):
    """Installed as sys.modules["sounddevice"]; `streams` records every stream opened."""

    PortAudioError = PortAudioError
    CallbackStop = CallbackStop
    CallbackAbort = CallbackAbort

    def __init__(
        self,
        devices: list[dict[str, Any]] | None = None,
        default_output: int = 1,
        default_input: int = 0,
    ) -> None:
        super().__init__("sounddevice")
        self.devices = (
            devices
            if devices is not None
            else [device("Built-in Microphone", 0, 2), device("Built-in Speakers")]
        )
        self.default_output = default_output
        self.default_input = default_input
        self.open_error: str | None = None
        self.streams: list[FakeOutputStream] = []
        self.input_streams: list[FakeInputStream] = []

    def query_devices(self, device: int | None = None, kind: str | None = None) -> Any:
        if kind is not None:
            device = self.default_output if kind == "output" else self.default_input
        if device is None:
            return list(self.devices)
        if not 0 <= device < len(self.devices):
            raise PortAudioError(f"Error querying device {device}")
        return self.devices[device]

    def query_hostapis(self, index: int | None = None) -> Any:
        apis = ({"name": "ALSA"}, {"name": "PulseAudio"})
        return apis if index is None else apis[index]

    def OutputStream(self, **kwargs: Any) -> FakeOutputStream:
        if self.open_error is not None:
            raise PortAudioError(self.open_error)
        stream = FakeOutputStream(**kwargs)
        self.streams.append(stream)
        return stream

    def InputStream(self, **kwargs: Any) -> FakeInputStream:
        if self.open_error is not None:
            raise PortAudioError(self.open_error)
        stream = FakeInputStream(**kwargs)
        self.input_streams.append(stream)
        return stream


class FakeOutputStream:
    def __init__(
        self,
        samplerate: float,
        channels: int,
        dtype: str,
        callback: Callable[..., None],
        device: int | None = None,
        finished_callback: Callable[[], None] | None = None,
    ) -> None:
        self.samplerate, self.channels, self.dtype, self.device = (
            samplerate,
            channels,
            dtype,
            device,
        )
        self.callback = callback
        self.finished_callback = finished_callback
        self.active = self.closed = self.aborted = self.stopped = False

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.stopped = True
        self._end()

    def abort(self) -> None:
        self.aborted = True
        self._end()

    def close(self) -> None:
        self._end()
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        """One buffer, as the card asks for it: the samples the callback wrote (NaN if none)."""
        assert self.active, "a stopped stream gets no callbacks"
        out = np.full((frames, self.channels), np.nan, dtype=np.float32)
        try:
            self.callback(out, frames, None, 0)
        except (CallbackStop, CallbackAbort):
            self._end()
        return out[:, 0].copy()

    def drain(self, frames: int = 256, limit: int = 24000 * 60) -> np.ndarray:
        """Pull buffers until the stream ends, as a card keeps calling back; all it wrote."""
        pulled = []
        while self.active and sum(p.size for p in pulled) < limit:
            pulled.append(self.pull(frames))
        assert not self.active, "the stream never ended"
        return np.concatenate(pulled) if pulled else np.zeros(0, np.float32)

    def _end(self) -> None:
        if self.active:
            self.active = False
            if self.finished_callback is not None:
                self.finished_callback()


class FakeInputStream(FakeOutputStream):
    def pull(self, frames: int) -> np.ndarray:
        raise TypeError("an input stream is fed with push(), not pulled")

    def push(self, samples: np.ndarray) -> None:
        """One block from the microphone, as PortAudio would deliver it."""
        assert self.active, "a stopped stream gets no callbacks"
        block = np.asarray(samples, dtype=np.float32).reshape(-1, self.channels)
        try:
            self.callback(block, block.shape[0], None, 0)
        except (CallbackStop, CallbackAbort):
            self._end()
