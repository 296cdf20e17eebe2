"""A WAV save that takes its time, for the tests that kill its process mid-write.

`python -m tests.audio.slow_writer OUT` writes a chunk of tone, prints "writing", then another
chunk every 20 ms until it is stopped; SIGTERM and SIGHUP end it the way `cosydesk say` ends.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from cosydesk.audio.wavfile import WavWriter
from cosydesk.termination import Terminated, exit_by_signal, stop_on_signals


def main(target: str) -> int:
    chunk = (0.3 * np.sin(np.arange(2400) / 10.0)).astype(np.float32)
    try:
        with stop_on_signals(), WavWriter(target, overwrite=True) as wav:
            wav.write(chunk)
            print("writing", flush=True)
            while True:
                time.sleep(0.02)
                wav.write(chunk)
    except Terminated as stop:
        return exit_by_signal(stop.signum)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
