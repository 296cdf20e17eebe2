"""Voices being added on the runner, followed by their job ids, for the dialogs that add them.

The voice library builds a new voice in a hidden folder and renames it into place only once its
features are computed, so a voice is whole or absent; this only starts those jobs, tells how they
ended, and removes the temporary recording a job was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot


class VoiceAdding(QObject):
    """Starts `controller.add_voice` jobs and reports each one's end with the voice's name."""

    added = Signal(str)  # the name the library gave the voice
    failed = Signal(str, str)  # the name asked for, the runner's sentence
    changed = Signal()  # a job started or ended

    def __init__(self, controller: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        # job id -> (name, a temporary recording to remove when the job ends)
        self._jobs: dict[int, tuple[str, Path | None]] = {}
        controller.job_finished.connect(self._on_finished)
        controller.job_failed.connect(self._on_failed)
        controller.job_cancelled.connect(self._on_cancelled)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def names(self) -> list[str]:
        return [name for name, _ in self._jobs.values()]

    def start(
        self, name: str, audio_path: Path, transcript: str, *, temporary: bool = False
    ) -> int | None:
        """Add the voice on the runner (the model loads first if needed); None if refused
        (the controller has said why). A `temporary` clip is deleted when the job ends."""
        job = self.controller.add_voice(name, Path(audio_path), transcript)
        if job is None:
            if temporary:
                Path(audio_path).unlink(missing_ok=True)
            return None
        self._jobs[job] = (name, Path(audio_path) if temporary else None)
        self.changed.emit()
        return int(job)

    @Slot()
    def cancel_all(self) -> None:
        for job in list(self._jobs):
            self.controller.cancel(job)

    def _end(self, job_id: int) -> str | None:
        entry = self._jobs.pop(job_id, None)
        if entry is None:
            return None
        name, temporary = entry
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        self.changed.emit()
        return name

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        name = self._end(job_id)
        if name is not None:
            self.added.emit(str(getattr(result, "name", name)))

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        name = self._end(job_id)
        if name is not None:
            self.failed.emit(name, message)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        self._end(job_id)
