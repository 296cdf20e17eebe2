"""The model's jobs on the runner, with the real engine on the tiny model: loading, speaking
into a sink, saving, adding voices, switching quantisation, unloading."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from cosydesk.engine.types import EngineOptions
from cosydesk.runner import ModelConfig, Outcome, Runner, Speech, save_job, speech_job, voice_job
from cosydesk.runner.events import (
    JobEnded,
    Loaded,
    LoadProgress,
    Progress,
    Reading,
    StatusChanged,
    Unloaded,
)
from tests.helpers import write_clip
from tests.runner.conftest import CPU, LONG_TEXT, ListSink


def test_loading_reports_progress_then_a_cpu_status(shared: Runner) -> None:
    heard = shared.heard  # type: ignore[attr-defined]
    load = shared.load_job  # type: ignore[attr-defined]
    fractions = [e.fraction for e in heard.of(LoadProgress) if e.job_id == load.job_id]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3
    (loaded,) = [e for e in heard.of(Loaded) if e.job_id == load.job_id]
    status = loaded.status
    assert (status.status, status.device, status.quantization) == ("ok", "cpu", "none")
    # The status keeps coming about once a tick while idle.
    event = heard.wait_for(lambda e: isinstance(e, StatusChanged), 5, since=len(heard.events))
    assert event.status.status == "ok"


def test_speech_goes_into_the_sink_on_the_runners_thread_then_finishes(shared: Runner) -> None:
    threads: set[str] = set()
    sink = ListSink(lambda chunk: threads.add(threading.current_thread().name))
    job = shared.submit(speech_job(shared.library, Speech("Hello there. How are you?"), sink))
    ended = shared.heard.outcome(job)  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.DONE
    assert sink.finished and threads == {shared.name}
    assert sink.chunks and all(c.dtype == np.float32 and c.ndim == 1 for c in sink.chunks)
    audio = np.concatenate(sink.chunks)
    assert audio.size > 0 and np.isfinite(audio).all()
    assert ended.result == audio.size == job.detail["samples"]
    progress = [(e.done, e.total) for e in shared.heard.of(Progress) if e.job_id == job.job_id]  # type: ignore[attr-defined]
    total = progress[-1][1]
    assert progress[-1] == (total, total) and total >= 1
    # Each part says from which sample on it is heard: the first from the start.
    parts = [e for e in shared.heard.of(Reading) if e.job_id == job.job_id]  # type: ignore[attr-defined]
    assert parts[0].sample == 0 and parts[0].start == 0
    assert [p.sample for p in parts] == sorted(p.sample for p in parts)


def test_cancel_during_speech_stops_between_chunks(shared: Runner) -> None:
    job_ids: list[int] = []
    # Runs on the runner's thread at the first chunk: the person pressed Stop just then.
    sink = ListSink(lambda chunk: shared.cancel(job_ids[0]))
    job = speech_job(shared.library, Speech(LONG_TEXT, "Tester"), sink)
    job_ids.append(shared.submit(job).job_id)
    assert shared.heard.outcome(job).outcome is Outcome.CANCELLED  # type: ignore[attr-defined]
    assert len(sink.chunks) == 1 and not sink.finished


def test_save_writes_a_24_khz_wav_and_nothing_else(shared: Runner, tmp_path: Path) -> None:
    import soundfile

    out = tmp_path / "saved" / "speech.wav"
    out.parent.mkdir()
    job = shared.submit(save_job(shared.library, Speech("Save this. And this.", "Tester"), out))
    ended = shared.heard.outcome(job)  # type: ignore[attr-defined]
    assert (ended.outcome, ended.result) == (Outcome.DONE, out)
    info = soundfile.info(out)
    assert (info.samplerate, info.channels) == (24000, 1) and info.frames > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["speech.wav"]


def test_a_cancelled_save_leaves_no_file(shared: Runner, tmp_path: Path) -> None:
    out = tmp_path / "cancelled.wav"
    job = save_job(shared.library, Speech(LONG_TEXT, "Tester"), out)
    job.cancel.set()  # the first check between chunks stops it
    shared.submit(job)
    assert shared.heard.outcome(job).outcome is Outcome.CANCELLED  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []


def test_save_does_not_replace_a_file_unless_asked(shared: Runner, tmp_path: Path) -> None:
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    job = shared.submit(save_job(shared.library, Speech("Hello.", "Tester"), out))
    ended = shared.heard.outcome(job)  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.FAILED and "already exists" in ended.message
    assert out.read_bytes() == b"precious"


def test_adding_a_voice_prepares_it_with_the_model(shared: Runner, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "second.wav", freq=180)
    job = shared.submit(voice_job(shared.library, "Second", clip, "Second clip."))
    ended = shared.heard.outcome(job)  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.DONE and ended.result.name == "Second"
    assert list(ended.result.folder.glob("features-*.npz")), "prompt features were not cached"
    shared.library.delete("Second")


def test_a_bad_clip_is_refused_with_the_library_sentence(shared: Runner, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "long.wav", seconds=31)
    job = shared.submit(voice_job(shared.library, "Too long", clip, "Far too long."))
    ended = shared.heard.outcome(job)  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.FAILED and "30 s" in ended.message


@pytest.fixture
def own(runners, library, tiny_model: Path, tmp_path: Path) -> Runner:
    """A runner of the test's own with the tiny model loaded, for tests that change its state."""
    library.add("Tester", write_clip(tmp_path / "voice.wav"), "A short test clip.")
    runner = runners()
    runner.load(ModelConfig(tiny_model, CPU)).future.result(120)
    return runner


def test_switching_quantisation_reloads_the_model(own: Runner, tiny_model: Path) -> None:
    eight = EngineOptions(device="cpu", quantization="8bit")
    job = own.load(ModelConfig(tiny_model, eight))
    assert own.heard.outcome(job).outcome is Outcome.DONE  # type: ignore[attr-defined]
    (loaded,) = [e for e in own.heard.of(Loaded) if e.job_id == job.job_id]  # type: ignore[attr-defined]
    status = loaded.status
    assert status.quantization_requested == "8bit"
    # bitsandbytes quantises on the CPU too; where it cannot, the status must say why.
    assert status.quantization == "8bit" or status.quantization_note
    assert own.status().engine.quantization_requested == "8bit"


def test_unload_frees_the_model_and_a_later_speech_loads_it_again(own: Runner) -> None:
    unload = own.unload("asked by the test")
    assert own.heard.outcome(unload).outcome is Outcome.DONE  # type: ignore[attr-defined]
    assert own.heard.of(Unloaded) == [Unloaded("asked by the test")]  # type: ignore[attr-defined]
    assert own.status().engine.status == "unloaded"
    job = own.submit(speech_job(own.library, Speech("Back again."), ListSink()))
    assert own.heard.outcome(job).outcome is Outcome.DONE  # type: ignore[attr-defined]
    assert [e.job_id for e in own.heard.of(Loaded)][-1] == job.job_id  # type: ignore[attr-defined]
    ended = [e for e in own.heard.of(JobEnded) if e.job_id == job.job_id]  # type: ignore[attr-defined]
    assert len(ended) == 1
