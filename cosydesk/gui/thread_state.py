"""One Python thread state for the whole life of a QThread that runs Python code.

A QThread is not a Python thread: each time Qt calls a Python slot there, PySide creates a
fresh Python thread state and deletes it when the slot returns. Native extensions remember
thread states. pybind11 (kaldifst, which wetext loads; onnxruntime) stores the thread state
current when its shared internals were created; a later slot on the same thread then makes
pybind11 delete that long-gone state again, and the process dies with SIGSEGV (importing
kaldifst in one slot and onnxruntime in the next was enough). Holding one state from the
thread's start to its end makes every slot run under the same, living state.
"""

from __future__ import annotations

import ctypes

_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.restype = ctypes.c_int
_ensure.argtypes = []
_release = ctypes.pythonapi.PyGILState_Release
_release.restype = None
_release.argtypes = [ctypes.c_int]


class PinnedThreadState:
    """Keeps the calling thread's Python thread state alive until `release()`.

    Create it on the thread concerned (in the slot its `started` signal runs) and release it on
    the same thread, in the last slot that runs there.
    """

    def __init__(self) -> None:
        self._handle: int | None = _ensure()

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            _release(handle)
