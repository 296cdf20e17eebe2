"""SIGTERM and SIGHUP end a command the way Ctrl+C does: by unwinding, so temp files go.

Python's default for SIGTERM and SIGHUP is to die on the spot, which skips every `finally`
and `with` block: a save in progress left its hidden `.part` file (100 MB and more for a long
text). Inside `stop_on_signals()` those signals raise `Terminated` in the main thread instead;
the command unwinds (a WavWriter deletes its temp file), and `exit_by_signal` then ends the
process by the same signal, so a shell or a service manager sees the usual status (143 for
SIGTERM, 129 for SIGHUP). A second signal during the clean-up ends the process at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)

NAMES = ("SIGTERM", "SIGHUP")


class Terminated(BaseException):
    """The process was asked to stop by a signal; raised in the main thread.

    A BaseException, as KeyboardInterrupt is, so that `except Exception` does not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        """The signal's name, e.g. SIGTERM."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def _handled() -> list[signal.Signals]:
    return [getattr(signal, name) for name in NAMES if hasattr(signal, name)]


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated`; the old handlers come back after.

    Does nothing outside the main thread, where Python cannot install signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if received:  # a second signal while cleaning up: stop now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _handled()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_by_signal(signum: int) -> int:
    """End the process by `signum` with its default action (after clean-up is done).

    Returns 128 + signum, the shell's status for it, only where the signal did not end the
    process (it has no default action that ends it here).
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum
