"""`cosydesk say`: text to a WAV file from the command line, its messages and exit codes. Runs
in-process through `cli.main` on the tiny model, plus one real `python -m cosydesk` run."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cosydesk import cli
from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.folder.modelfolder import open_model_folder
from cosydesk.engine.model.sampling import ForcedLengthSampler as Forced
from tests.helpers import write_clip

SR = 24000
SAMPLES_PER_TOKEN = 960
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings and voices in a temp folder; none of the seed's variables set."""
    monkeypatch.setenv("COSYDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COSYDESK_DATA_DIR", str(tmp_path / "data"))
    for name in ("QUANTIZATION_ENABLED", "QUANTIZATION_BITS", "COSYDESK_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def forced(monkeypatch: pytest.MonkeyPatch) -> int:
    """Every engine speaks exactly this many tokens per sentence (a known WAV length)."""
    n = 20
    monkeypatch.setattr(
        "cosydesk.engine.model.sampling.from_config", lambda node, generator=None: Forced(n)
    )
    return n


@pytest.fixture(scope="module")
def prompt_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("prompt") / "prompt.wav", 2, freq=140)


def _say(model: Path, prompt_wav: Path, out: Path, *extra: str) -> list[str]:
    return [
        "say",
        "Hello world.",
        "-o",
        str(out),
        "--model",
        str(model),
        "--prompt-wav",
        str(prompt_wav),
        "--prompt-text",
        "Reference words here.",
        "--device",
        "cpu",
        *extra,
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_say_writes_a_24khz_mono_wav_and_reports_progress(
    tiny_model, prompt_wav, tmp_path, capsys, forced: int, stream: bool
) -> None:
    out = tmp_path / "out.wav"
    extra = ["--quantization", "none", *(["--stream"] if stream else [])]
    assert cli.main(_say(tiny_model, prompt_wav, out, *extra)) == cli.EXIT_OK
    info = soundfile.info(out)
    assert (info.samplerate, info.channels, info.format) == (SR, 1, "WAV")
    assert info.frames == forced * SAMPLES_PER_TOKEN
    audio, _ = soundfile.read(out, dtype="float32")
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout stays free for pipes
    err = captured.err
    assert "[  0%] Checking the model folder" in err
    assert "[100%] Ready" in err
    assert "quantisation none" in err
    assert re.search(r"\[  0%\] Spoken 0 of (\d+) characters", err)
    assert re.search(r"\[100%\] Spoken (\d+) of \1 characters", err)
    assert f"Wrote {forced * SAMPLES_PER_TOKEN / SR:.2f} s of audio to {out}" in err
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temp file left


def test_an_existing_file_is_kept_without_overwrite(tiny_model, prompt_wav, tmp_path, capsys):
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    assert cli.main(_say(tiny_model, prompt_wav, out)) == cli.EXIT_ERROR
    assert out.read_bytes() == b"precious"
    err = capsys.readouterr().err
    assert "exists already" in err and "--overwrite" in err


def test_overwrite_replaces_the_file(tiny_model, prompt_wav, tmp_path, forced: int) -> None:
    out = tmp_path / "out.wav"
    out.write_bytes(b"old")
    args = _say(tiny_model, prompt_wav, out, "--overwrite", "--quantization", "4bit")
    assert cli.main(args) == cli.EXIT_OK
    assert soundfile.info(out).frames == forced * SAMPLES_PER_TOKEN


def test_a_bad_model_folder_gives_its_sentence_and_exit_1(prompt_wav, tmp_path, capsys) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    with pytest.raises(ModelFolderError) as caught:  # the sentence the folder check writes
        open_model_folder(folder)
    out = tmp_path / "out.wav"
    assert cli.main(_say(folder, prompt_wav, out)) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"cosydesk: {caught.value}" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_damaged_weight_file_gives_a_sentence_naming_it(
    tiny_model, prompt_wav, tmp_path, capsys
) -> None:
    import io
    import zipfile

    from tests.fuzz.mutators import linked_copy, replace_file, replace_member

    folder = linked_copy(tiny_model, tmp_path / "model")
    data = (tiny_model / "hift.pt").read_bytes()
    pickle = zipfile.ZipFile(io.BytesIO(data)).read("hift/data.pkl")
    # A memo index the pickle never stored: torch's unpickler fails with KeyError 250.
    damaged = replace_member(data, "hift/data.pkl", pickle.replace(b"h\x02", b"h\xfa", 1))
    replace_file(folder / "hift.pt", damaged)
    out = tmp_path / "out.wav"
    assert cli.main(_say(folder, prompt_wav, out)) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"cosydesk: hift.pt in {folder} is damaged: its weight table cannot be read" in err
    assert "Traceback" not in err and not out.exists()


def test_an_unexpected_error_in_say_is_still_one_sentence(
    tiny_model, prompt_wav, tmp_path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosydesk.engine.engine import Engine

    def broken(*args, **kwargs):  # a bug the engine did not turn into an EngineError
        raise IndexError("index 7 is out of bounds for dimension 0 with size 7")

    monkeypatch.setattr(Engine, "synthesize", broken)
    out = tmp_path / "out.wav"
    assert cli.main(_say(tiny_model, prompt_wav, out)) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last == (
        "cosydesk: an unexpected error stopped the command (IndexError: index 7 is out of "
        "bounds for dimension 0 with size 7); run it again with --verbose to see where, and "
        "please report it."
    )
    assert "Traceback" not in err and not out.exists()


def test_the_seeds_variables_choose_the_mode_unless_the_flag_is_given(
    tiny_model, prompt_wav, tmp_path, capsys, monkeypatch, forced: int
) -> None:
    monkeypatch.setenv("QUANTIZATION_ENABLED", "true")
    monkeypatch.setenv("QUANTIZATION_BITS", "8")
    assert cli.main(_say(tiny_model, prompt_wav, tmp_path / "a.wav")) == cli.EXIT_OK
    assert "quantisation 8-bit" in capsys.readouterr().err
    args = _say(tiny_model, prompt_wav, tmp_path / "b.wav", "--quantization", "none")
    assert cli.main(args) == cli.EXIT_OK
    assert "quantisation none" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [("QUANTIZATION_BITS", "5", "4 or 8"), ("QUANTIZATION_ENABLED", "maybe", "true or false")],
)
def test_a_bad_variable_stops_before_loading(
    tiny_model, prompt_wav, tmp_path, capsys, monkeypatch, variable, value, allowed
) -> None:
    monkeypatch.setenv(variable, value)
    out = tmp_path / "out.wav"
    assert cli.main(_say(tiny_model, prompt_wav, out)) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert variable in err and allowed in err
    assert "Checking the model folder" not in err
    assert not out.exists()


def _without(args: list[str], flag: str) -> list[str]:
    at = args.index(flag)
    return args[:at] + args[at + 2 :]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: [a[0], "   ", *a[2:]], "There is no text to read"),
        (lambda a: [*a, "--speed", "3"], "--speed 3.0 is out of range"),
        (lambda a: _without(a, "--prompt-text"), "--prompt-wav needs --prompt-text"),
        (lambda a: [*a, "--instruct", "Slowly.", "--cross-lingual"], "not both"),
        (lambda a: [*a, "--prompt-wav", "/nonexistent/clip.wav"], "does not exist"),
        (lambda a: [*a[:-2], "--device", "cpu", "-o", "/nonexistent/x.wav"], "does not exist"),
    ],
)
def test_mistakes_are_reported_before_the_model_loads(
    tiny_model, prompt_wav, tmp_path, capsys, change, message: str
) -> None:
    args = change(_say(tiny_model, prompt_wav, tmp_path / "out.wav"))
    assert cli.main(args) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert message in err
    assert "Checking the model folder" not in err


def test_choices_defaults_and_the_speed_range_come_from_the_declarations(
    tiny_model, prompt_wav, tmp_path, capsys, redeclare
) -> None:
    redeclare("quantization", allowed=(("auto", "Automatic"), ("2bit", "Two bits")))
    redeclare("device", default="cpu")
    redeclare("speed", maximum=1.5)
    parser = cli.build_parser()
    say = ["say", "Hi.", "-o", "x.wav", "--voice", "Narrator"]
    args = parser.parse_args([*say, "--quantization", "2bit"])
    assert (args.quantization, args.device) == ("2bit", "cpu")
    with pytest.raises(SystemExit):
        parser.parse_args([*say, "--quantization", "8bit"])
    refusal = capsys.readouterr().err.splitlines()[-1]
    assert "invalid choice: '8bit'" in refusal and "2bit" in refusal
    out = tmp_path / "out.wav"
    assert cli.main(_say(tiny_model, prompt_wav, out, "--speed", "1.8")) == cli.EXIT_ERROR
    assert "--speed 1.8 is out of range: use 0.5 to 1.5." in capsys.readouterr().err


def test_a_voice_from_the_library(tiny_model, prompt_wav, tmp_path, capsys, forced) -> None:
    from cosydesk.config import voices_dir
    from cosydesk.engine.voices import VoiceLibrary

    VoiceLibrary(voices_dir()).add("Narrator", prompt_wav, "Reference words here.")
    out = tmp_path / "out.wav"
    args = ["say", "Hello.", "-o", str(out), "--model", str(tiny_model), "--voice", "Narrator"]
    assert cli.main([*args, "--device", "cpu"]) == cli.EXIT_OK
    assert soundfile.info(out).frames == forced * SAMPLES_PER_TOKEN
    capsys.readouterr()
    unknown = [*args[:-1], "Nobody", "--device", "cpu", "--overwrite"]
    assert cli.main(unknown) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "There is no voice called 'Nobody'" in err
    assert "Checking the model folder" not in err


def test_python_m_cosydesk_say_runs_the_same_command(tiny_model, prompt_wav, tmp_path) -> None:
    out = tmp_path / "out.wav"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "COSYDESK_CONFIG_DIR": str(tmp_path / "config"),
        "COSYDESK_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cosydesk", *_say(tiny_model, prompt_wav, out, "--stream")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    info = soundfile.info(out)
    assert (info.samplerate, info.channels) == (SR, 1)
    assert "Ready" in done.stderr and "Wrote" in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes")
def test_say_never_replaces_a_pipe_or_a_folder(prompt_wav, tmp_path, capsys) -> None:
    """Checked before the model loads: the folder given as the model does not even exist."""
    pipe = tmp_path / "pipe.wav"
    os.mkfifo(pipe)
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    for target, kind in ((pipe, "a named pipe"), (folder, "a folder")):
        args = _say(tmp_path / "no-model", prompt_wav, target, "--overwrite")
        assert cli.main(args) == cli.EXIT_ERROR
        err = capsys.readouterr().err
        assert f"cosydesk: {target} is {kind}: cosydesk saves only over regular files" in err
    assert stat.S_ISFIFO(pipe.lstat().st_mode) and folder.is_dir()


def _say_process(tiny_model: Path, prompt_wav: Path, out: Path, text: str, home: Path):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
        "COSYDESK_CONFIG_DIR": str(home / "config"),
        "COSYDESK_DATA_DIR": str(home / "data"),
    }
    args = _say(tiny_model, prompt_wav, out)
    args[1] = text
    return subprocess.Popen(
        [sys.executable, "-m", "cosydesk", *args],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )


def _as_from_a_terminal() -> None:
    """Ctrl+C's signal at its default, as a terminal starts a command: a test run started in
    the background (`cmd &` in a script) inherits SIGINT ignored, and Python keeps it so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [
        (signal.SIGTERM, -signal.SIGTERM, "Stopped by SIGTERM."),  # ended by the signal,
        (signal.SIGHUP, -signal.SIGHUP, "Stopped by SIGHUP."),  # as a shell expects
        (signal.SIGINT, cli.EXIT_INTERRUPTED, "Interrupted."),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_say_stopped_by_a_signal_mid_write_leaves_no_temp_file(
    tiny_model, prompt_wav, tmp_path, signum: int, status: int, said: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    text = " ".join(f"Sentence number {n} of a long book." for n in range(300))
    with _say_process(tiny_model, prompt_wav, folder / "book.wav", text, tmp_path) as say:
        assert say.stderr is not None
        seen: list[str] = []
        for line in say.stderr:  # until the first part of the text is in the temp file
            seen.append(line)
            if re.search(r"Spoken [1-9]\d* of", line):
                break
        assert [p.name for p in folder.iterdir() if p.name.endswith(".wav.part")], "".join(seen)
        say.send_signal(signum)
        err = "".join(seen) + say.stderr.read()
        say.wait(60)
    assert say.returncode == status, err
    assert err.endswith(f"{said}\n"), err
    assert "Traceback" not in err
    assert list(folder.iterdir()) == []


def test_download_fetches_the_model_and_points_the_settings_at_it(
    hub, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosydesk.config import Settings, default_model_dir

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    assert cli.main(["download"]) == cli.EXIT_OK
    dest = default_model_dir()
    open_model_folder(dest)
    assert Settings.load().get("model_dir") == str(dest)
    err = capsys.readouterr().err
    assert "[100%] Downloaded" in err and f"The model is in {dest}" in err


def test_download_fetches_the_starter_voice_or_says_why_not(
    hub, starter, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosydesk.config import starter_voices_dir
    from cosydesk.starter_voices import available

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    assert cli.main(["download"]) == cli.EXIT_OK
    assert [v.name for v in available(starter_voices_dir())] == ["Starter voice"]
    assert "starter voice could not" not in capsys.readouterr().err
    starter.status = 404
    for clip in starter_voices_dir().iterdir():
        clip.unlink()
    assert cli.main(["download"]) == cli.EXIT_OK  # the model is whole: still a success
    err = capsys.readouterr().err
    assert "The starter voice could not be fetched" in err and "(HTTP 404)" in err
    assert available(starter_voices_dir()) == []


def test_download_without_the_network_exits_with_a_sentence(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.fake_hub import unreachable_endpoint

    monkeypatch.setenv("HF_ENDPOINT", unreachable_endpoint())
    assert cli.main(["download", str(tmp_path / "m")]) == cli.EXIT_ERROR
    assert "Could not reach" in capsys.readouterr().err
