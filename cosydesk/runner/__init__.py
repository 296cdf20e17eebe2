"""The engine's one runner: a plain thread that owns the model and runs every job that uses it,
for the app and for the speech API alike. Qt-free; the GUI adapts its events to signals.

- `runner.py`: the thread, cancel, load/unload, status snapshots, idle unload
- `queue.py`: the jobs that wait (the person's before API clients'), refusals, job records
- `jobs.py`: who asked (`Origin`), `Job`, its one `Outcome`, and failures as sentences
- `events.py`: what listeners hear (state, status, progress, each job's end)
- `context.py`: what a job's work gets on the runner thread (the engine, on demand)
- `model.py`: the engine the runner holds: its configuration, loading, warm-up, status
- `work.py`: the model's jobs: speak into a sink, save a WAV file, add a voice
"""

from __future__ import annotations

from cosydesk.runner.context import JobContext
from cosydesk.runner.events import Event, JobEnded, RunnerState
from cosydesk.runner.jobs import (
    Job,
    JobInfo,
    JobRecord,
    ModelUnavailable,
    Origin,
    Outcome,
    QueueFull,
    QueueStopped,
)
from cosydesk.runner.model import EngineFactory, ModelConfig, load_engine
from cosydesk.runner.runner import Runner, RunnerStatus
from cosydesk.runner.work import AudioSink, Speech, save_job, speech_job, voice_job

__all__ = [
    "AudioSink",
    "EngineFactory",
    "Event",
    "Job",
    "JobContext",
    "JobEnded",
    "JobInfo",
    "JobRecord",
    "ModelConfig",
    "ModelUnavailable",
    "Origin",
    "Outcome",
    "QueueFull",
    "QueueStopped",
    "Runner",
    "RunnerState",
    "RunnerStatus",
    "Speech",
    "load_engine",
    "save_job",
    "speech_job",
    "voice_job",
]
