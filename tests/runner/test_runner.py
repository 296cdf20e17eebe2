"""The runner on its real thread: one thread for every job, one outcome per job, failures as
sentences, loading, idle unload, a quick stop, a lower CPU priority."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cosydesk.engine.errors import Cancelled
from cosydesk.runner import (
    Job,
    ModelConfig,
    Origin,
    Outcome,
    RunnerState,
    Speech,
    load_engine,
    speech_job,
)
from cosydesk.runner.events import JobEnded, Loaded, StateChanged, StatusChanged, Unloaded
from tests.runner.conftest import CPU, ListSink, gate, on_runner

REPO = Path(__file__).resolve().parents[2]


def test_jobs_run_one_at_a_time_on_the_runners_thread(runners) -> None:
    runner = runners(name="the-runner")
    threads: list[str] = []
    inside = threading.Semaphore(1)

    def work(ctx) -> None:
        assert inside.acquire(blocking=False), "two jobs ran at once"
        threads.append(threading.current_thread().name)
        inside.release()

    jobs = [runner.submit(Job("probe", work, Origin(n % 2))) for n in range(6)]
    for job in jobs:
        job.future.result(30)
    assert set(threads) == {"the-runner"}


def test_each_job_has_exactly_one_outcome(runners) -> None:
    runner = runners()
    held, release = gate(runner)

    def fail(ctx) -> None:
        raise ValueError("bad value")

    def cancel_itself(ctx) -> None:
        ctx.cancel.set()
        ctx.check()

    done = runner.submit(Job("ok", lambda ctx: 42))
    failed = runner.submit(Job("fail", fail, doing="checking"))
    cancelled = runner.submit(Job("cancel", cancel_itself))
    withdrawn = runner.submit(Job("withdrawn", lambda ctx: None))
    assert runner.cancel(withdrawn.job_id)
    release.set()
    cancelled.future.exception(30)
    jobs = (held, done, failed, cancelled, withdrawn)
    assert runner.wait_finished(len(jobs), 30)
    ended = runner.heard.of(JobEnded)  # type: ignore[attr-defined]
    assert sorted(e.job_id for e in ended) == sorted(j.job_id for j in jobs)
    outcome = {e.job_id: e for e in ended}
    assert outcome[done.job_id].outcome is Outcome.DONE and outcome[done.job_id].result == 42
    assert outcome[failed.job_id].outcome is Outcome.FAILED
    assert "while checking (ValueError: bad value)" in outcome[failed.job_id].message
    assert outcome[cancelled.job_id].outcome is Outcome.CANCELLED
    assert outcome[withdrawn.job_id].outcome is Outcome.CANCELLED
    assert done.future.result() == 42
    with pytest.raises(Cancelled):
        withdrawn.future.result()


def test_a_job_cancelled_before_it_starts_never_runs(runners, tmp_path: Path) -> None:
    calls = []
    runner = runners(factory=lambda *a, **k: calls.append(a))
    job = runner.load(ModelConfig(tmp_path, CPU))
    job.cancel.set()  # before the runner reaches it, by whoever holds the job
    assert runner.heard.outcome(job).outcome is Outcome.CANCELLED  # type: ignore[attr-defined]
    assert calls == []


def test_speaking_without_a_model_folder_fails_with_a_sentence(runners, library) -> None:
    runner = runners()
    job = runner.submit(speech_job(library, Speech("Hello."), ListSink()))
    ended = runner.heard.outcome(job)  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.FAILED
    assert ended.message.startswith("No model folder is set") and "Settings" in ended.message


def test_an_unexpected_error_is_logged_with_its_traceback_and_told_as_a_sentence(
    runners, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    def broken_factory(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    runner = runners(factory=broken_factory)
    with caplog.at_level(logging.ERROR, logger="cosydesk.runner"):
        ended = runner.heard.outcome(runner.load(ModelConfig(tmp_path, CPU)))  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.FAILED
    assert ended.message.startswith("Something went wrong while loading the model")
    assert "the disk caught fire" in ended.message and "log file" in ended.message
    assert "Traceback" not in ended.message
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].exc_info[0] is RuntimeError
    assert runner.status().state is RunnerState.ERROR


def test_a_cancelled_load_is_reported_as_cancelled_not_as_an_error(runners, tmp_path) -> None:
    def factory(*args, cancel, **kwargs):
        raise Cancelled("Loading was cancelled.")

    runner = runners(factory=factory)
    ended = runner.heard.outcome(runner.load(ModelConfig(tmp_path, CPU)))  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.CANCELLED
    states = [e.state for e in runner.heard.of(StateChanged)]  # type: ignore[attr-defined]
    assert states[-1] is RunnerState.UNLOADED and RunnerState.ERROR not in states


def test_a_bad_model_folder_fails_with_the_folder_check_sentence(runners, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    runner = runners()
    ended = runner.heard.outcome(runner.load(ModelConfig(empty, CPU)))  # type: ignore[attr-defined]
    assert ended.outcome is Outcome.FAILED
    assert "cosyvoice3.yaml" in ended.message and str(empty) in ended.message
    status = runner.status()
    assert status.state is RunnerState.ERROR and status.engine.status == "error"
    assert status.engine.model_dir == str(empty) and status.load_error is not None


def test_the_model_unloads_after_the_idle_minutes(runners, tiny_model: Path) -> None:
    now = [1000.0]
    runner = runners(clock=lambda: now[0])
    runner.set_idle_minutes(2.0)
    runner.load(ModelConfig(tiny_model, CPU)).future.result(120)
    heard = runner.heard  # type: ignore[attr-defined]
    now[0] += 119  # not yet: the status keeps coming about once a tick
    heard.wait_for(lambda e: isinstance(e, StatusChanged), 5, since=len(heard.events))
    assert not heard.of(Unloaded) and runner.status().engine.status == "ok"
    now[0] += 2
    assert heard.wait_for(lambda e: isinstance(e, Unloaded), 5) == Unloaded("unused for 2 minutes")
    assert runner.status().engine.status == "unloaded"


def test_stopping_during_a_load_finishes_quickly(runners, tiny_model: Path) -> None:
    started = threading.Event()

    def factory(model_dir, options, *, progress, cancel):
        started.set()
        return load_engine(model_dir, options, progress=progress, cancel=cancel)

    runner = runners(factory=factory)
    runner.load(ModelConfig(tiny_model, CPU))
    assert started.wait(60)
    assert runner.stop(20)  # the load stops at its next step


def test_the_runners_thread_yields_the_cpu_to_the_window(runners) -> None:
    if not hasattr(os, "getpriority"):
        pytest.skip("no per-thread priority here")
    runner = runners(nice=5)
    niceness = runner.submit(
        Job("nice", lambda ctx: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    )
    assert niceness.future.result(30) == os.getpriority(os.PRIO_PROCESS, 0) + 5


def test_loading_the_same_configuration_again_keeps_the_model(runners, tiny_model: Path) -> None:
    runner = runners()
    first = runner.load(ModelConfig(tiny_model, CPU))
    engine = on_runner(runner, id)
    again = runner.load(ModelConfig(tiny_model, CPU))
    again.future.result(120)
    loaded = [e.job_id for e in runner.heard.of(Loaded)]  # type: ignore[attr-defined]
    assert loaded == [first.job_id, again.job_id]  # each load job says the model is there
    assert on_runner(runner, id) == engine  # and it is the same model, not loaded again


def test_a_reload_of_the_same_folder_takes_over_the_tokenizer(runners, tiny_model: Path) -> None:
    """Switching quantisation reloads the model, but the tokenizer is the one already built:
    parsing vocab.json again held the interpreter lock long enough to freeze the app's window."""
    import dataclasses
    import weakref

    runner = runners()
    runner.load(ModelConfig(tiny_model, CPU)).future.result(120)
    before = on_runner(runner, lambda engine: weakref.ref(engine.tokenizer))
    other = dataclasses.replace(CPU, text_normalization="basic", int8_threshold=0.5)
    runner.load(ModelConfig(tiny_model, other)).future.result(120)
    assert on_runner(runner, lambda engine: engine.options) == other  # it did reload
    assert on_runner(runner, lambda engine: engine.tokenizer) is before()


# Jobs import native extensions in whatever order the person's actions ask for. kaldifst
# (wetext) in one job and onnxruntime in a later one killed the process with SIGSEGV while
# jobs ran as slots on a QThread (each under a new Python thread state). Run in a fresh
# interpreter, since an earlier import on the main thread would hide the crash.
IMPORT_ORDER_SCRIPT = """
import sys
from cosydesk.engine.types import EngineOptions
from cosydesk.runner import ModelConfig, Runner

MODULES = sys.argv[1:]
assert not any(name in sys.modules for name in MODULES)
imported = []

def factory(model_dir, options, *, progress=None, cancel=None):
    __import__(MODULES[len(imported)])
    imported.append(MODULES[len(imported)])
    raise RuntimeError("no engine wanted")

runner = Runner(None, factory)
runner.start()
for _ in MODULES:
    runner.load(ModelConfig("/nowhere", EngineOptions(device="cpu"))).future.exception(60)
assert runner.stop(5)
print("imported", " ".join(imported))
"""


@pytest.mark.parametrize("order", [("kaldifst", "onnxruntime"), ("onnxruntime", "kaldifst")])
def test_native_modules_imported_on_the_runners_thread_in_any_order(
    order: tuple[str, str], tmp_path: Path
) -> None:
    for name in order:
        pytest.importorskip(name)
    script = tmp_path / "imports.py"
    script.write_text(IMPORT_ORDER_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), *order],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split() == ["imported", *order]
