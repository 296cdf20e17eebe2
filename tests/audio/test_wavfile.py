"""WAV writing with real files: content, atomic rename, no partial files, no silent overwrite."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cosydesk.audio.wavfile import WavExistsError, WavTargetError, WavWriter, write_wav

REPO = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files and signals")


def _tone(seconds: float, sr: int = 24000) -> np.ndarray:
    t = np.arange(int(seconds * sr), dtype=np.float32) / sr
    return (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_chunks_become_one_24khz_mono_pcm16_file(tmp_path: Path) -> None:
    audio = _tone(1.0)
    target = tmp_path / "speech.wav"
    with WavWriter(target) as wav:
        for chunk in np.array_split(audio, 7):
            wav.write(chunk)
            assert not target.exists()  # nothing at the target while writing
        assert wav.seconds_written == pytest.approx(1.0)

    info = soundfile.info(target)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        24000,
        1,
        "PCM_16",
        "WAV",
    )
    data, sr = soundfile.read(target, dtype="float32")
    assert sr == 24000 and data.shape == audio.shape
    assert np.max(np.abs(data - audio)) <= 1.0 / 32767
    assert _files(tmp_path) == ["speech.wav"]


def test_float_subtype_keeps_samples_exactly(tmp_path: Path) -> None:
    audio = _tone(0.2) * 1.7  # beyond full scale: float keeps it
    path = write_wav(tmp_path / "f.wav", audio, 24000, subtype="FLOAT")
    data, _ = soundfile.read(path, dtype="float32")
    assert soundfile.info(path).subtype == "FLOAT"
    np.testing.assert_array_equal(data, audio)


def test_pcm16_clips_loud_samples_instead_of_wrapping(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "loud.wav", np.array([1.5, -1.5, 0.25], dtype=np.float32))
    data, _ = soundfile.read(path, dtype="int16")
    assert data.tolist() == [32767, -32768, 8192]


def test_an_exception_while_writing_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "cancelled.wav"
    with pytest.raises(KeyboardInterrupt), WavWriter(target) as wav:
        wav.write(_tone(0.5))
        assert len(_files(tmp_path)) == 1  # the temp file, beside the target
        raise KeyboardInterrupt
    assert _files(tmp_path) == []


def test_abort_removes_the_temp_file_and_later_calls_do_nothing(tmp_path: Path) -> None:
    target = tmp_path / "aborted.wav"
    wav = WavWriter(target)
    wav.write(_tone(0.1))
    wav.abort()
    wav.abort()
    assert wav.commit() == target
    assert _files(tmp_path) == []


def test_existing_file_is_refused_before_any_work_and_left_intact(tmp_path: Path) -> None:
    target = tmp_path / "keep.wav"
    target.write_bytes(b"precious")
    with pytest.raises(WavExistsError, match="already exists: choose another name") as caught:
        WavWriter(target)
    assert isinstance(caught.value, FileExistsError)
    assert target.read_bytes() == b"precious"
    assert _files(tmp_path) == ["keep.wav"]


def test_overwrite_replaces_the_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "again.wav"
    target.write_bytes(b"old")
    write_wav(target, _tone(0.1), 24000, overwrite=True)
    assert soundfile.info(target).frames == 2400
    assert _files(tmp_path) == ["again.wav"]


def test_file_appearing_during_the_save_is_not_clobbered(tmp_path: Path) -> None:
    target = tmp_path / "race.wav"
    wav = WavWriter(target)
    wav.write(_tone(0.1))
    target.write_bytes(b"someone else's")
    with pytest.raises(WavExistsError):
        wav.commit()
    assert target.read_bytes() == b"someone else's"
    assert _files(tmp_path) == ["race.wav"]


def test_missing_folder_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(WavTargetError, match="does not exist: choose another place"):
        WavWriter(tmp_path / "nowhere" / "x.wav")


def test_empty_save_is_a_valid_wav_file(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "empty.wav") as wav:
        pass
    assert soundfile.info(wav.path).frames == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_saved_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_wav(tmp_path / "shared.wav", _tone(0.05))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


# -- only regular files are replaced --------------------------------------------------------------


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _device(path: Path) -> Path:
    """A character device like /dev/null, made in the temp folder (needs CAP_MKNOD)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    return path


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock.wav"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(os.fspath(path))
        yield path


@posix_only
@pytest.mark.parametrize(("make", "kind"), [(_fifo, "a named pipe"), (_device, "a device")])
def test_a_pipe_or_device_is_never_replaced_even_with_overwrite(
    tmp_path: Path, make, kind: str
) -> None:
    node = make(tmp_path / "node.wav")
    for overwrite in (True, False):
        with pytest.raises(WavTargetError, match=f"is {kind}: cosydesk saves only over regular"):
            write_wav(node, _tone(0.1), overwrite=overwrite)
    assert not stat.S_ISREG(node.lstat().st_mode)
    assert _files(tmp_path) == ["node.wav"]


@posix_only
def test_a_socket_is_never_replaced(unix_socket: Path) -> None:
    with pytest.raises(WavTargetError, match="is a socket"):
        write_wav(unix_socket, _tone(0.1), overwrite=True)
    assert stat.S_ISSOCK(unix_socket.lstat().st_mode)


def test_a_folder_is_refused_with_a_sentence(tmp_path: Path) -> None:
    folder = tmp_path / "album.wav"
    folder.mkdir()
    (folder / "track.wav").write_bytes(b"kept")
    with pytest.raises(WavTargetError, match="is a folder: cosydesk saves only over regular"):
        write_wav(folder, _tone(0.1), overwrite=True)
    assert (folder / "track.wav").read_bytes() == b"kept"


@posix_only
def test_overwrite_through_a_link_replaces_the_file_it_names_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real.wav"
    real.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(real)
    with pytest.raises(WavExistsError):
        WavWriter(link)
    write_wav(link, _tone(0.1), overwrite=True)
    assert link.is_symlink() and os.readlink(link) == os.fspath(real)
    assert soundfile.info(real).frames == 2400
    assert _files(tmp_path) == ["link.wav", "real.wav"]


@posix_only
def test_a_dangling_link_or_one_to_a_device_is_refused(tmp_path: Path) -> None:
    dangling = tmp_path / "dangling.wav"
    dangling.symlink_to(tmp_path / "elsewhere.wav")
    to_null = tmp_path / "null.wav"
    to_null.symlink_to("/dev/null")
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    for overwrite in (False, True):
        with pytest.raises(WavTargetError, match="which does not exist: cosydesk creates no"):
            WavWriter(dangling, overwrite=overwrite)
        with pytest.raises(WavTargetError, match="/dev/null, which is a device"):
            write_wav(to_null, _tone(0.1), overwrite=overwrite)
        with pytest.raises(WavTargetError, match="cannot be followed"):
            WavWriter(loop, overwrite=overwrite)
    assert not (tmp_path / "elsewhere.wav").exists()
    assert os.readlink(to_null) == "/dev/null" and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _files(tmp_path) == ["dangling.wav", "loop.wav", "null.wav"]


def test_a_control_character_in_a_name_stays_escaped_in_the_one_line_message(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "new\nline.wav"
    folder.mkdir()
    with pytest.raises(WavTargetError) as caught:
        WavWriter(folder, overwrite=True)
    assert str(caught.value) == (
        f"{tmp_path}/new\\nline.wav is a folder: cosydesk saves only over regular files, so "
        "choose another name."
    )


def test_the_app_shows_a_refused_save_as_its_sentence(tmp_path: Path) -> None:
    from cosydesk.runner.jobs import describe_failure

    folder = tmp_path / "album.wav"
    folder.mkdir()
    target = tmp_path / "song.wav"
    target.write_bytes(b"old")
    for path, overwrite in ((folder, True), (target, False)):
        with pytest.raises(OSError) as caught:
            WavWriter(path, overwrite=overwrite)
        assert describe_failure(caught.value, "saving") == str(caught.value)


@posix_only
def test_a_pipe_put_in_place_during_the_save_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "late.wav"
    wav = WavWriter(target, overwrite=True)
    wav.write(_tone(0.1))
    os.mkfifo(target)
    with pytest.raises(WavTargetError, match="named pipe"):
        wav.commit()
    assert stat.S_ISFIFO(target.lstat().st_mode)
    assert _files(tmp_path) == ["late.wav"]


def test_a_read_only_folder_is_a_sentence(tmp_path: Path, unprivileged: list[str]) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    script = (
        "import sys, numpy\n"
        "from cosydesk.audio.wavfile import write_wav\n"
        "try:\n"
        "    write_wav(sys.argv[1], numpy.zeros(100, numpy.float32))\n"
        "except OSError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [*unprivileged, sys.executable, "-c", script, str(folder / "x.wav")],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    folder.chmod(0o700)
    assert done.stderr == ""
    assert done.stdout == (
        f"Cannot write in the folder {folder} (Permission denied): choose another place to save.\n"
    )
    assert _files(folder) == []


# -- temp files left by killed writers -------------------------------------------------------------


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.wav.part"))


def _start_writer(target: Path) -> subprocess.Popen[str]:
    """The slow writer in its own process, returned once its temp file holds audio."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.audio.slow_writer", str(target)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    if writer.stdout.readline().strip() != "writing":
        writer.kill()
        pytest.fail(f"the writer did not start: {writer.communicate()[1]}")
    return writer


@posix_only
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_writer_stopped_by_a_signal_removes_its_temp_file(tmp_path: Path, signum: int) -> None:
    writer = _start_writer(tmp_path / "speech.wav")
    assert len(_parts(tmp_path)) == 1
    writer.send_signal(signum)
    _out, err = writer.communicate(timeout=30)
    assert writer.returncode == -signum  # ended by the signal, as a shell expects
    assert "Traceback" not in err
    assert _files(tmp_path) == []


@posix_only
def test_a_temp_file_left_by_kill_9_is_removed_by_the_next_save_but_a_live_one_is_kept(
    tmp_path: Path,
) -> None:
    live = _start_writer(tmp_path / "first.wav")
    try:
        [live_part] = _parts(tmp_path)
        killed = _start_writer(tmp_path / "second.wav")
        killed.kill()
        killed.communicate(timeout=30)
        [leftover] = [part for part in _parts(tmp_path) if part != live_part]
        assert f".{killed.pid}-" in leftover.name  # the writer's pid is in the name

        write_wav(tmp_path / "third.wav", _tone(0.1))
        assert not leftover.exists()
        assert live_part.exists()  # still being written by a running process
    finally:
        live.terminate()
        live.communicate(timeout=30)
    assert _files(tmp_path) == ["third.wav"]


@posix_only
def test_a_temp_file_of_a_dead_pid_that_another_process_still_locks_is_kept(
    tmp_path: Path,
) -> None:
    """A pid can be unknown here yet its writer alive (another pid namespace, e.g. Flatpak)."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    part = tmp_path / f".other.{probe.pid}-0123abcd.wav.part"
    part.write_bytes(b"RIFF")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(part),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        write_wav(tmp_path / "mine.wav", _tone(0.1))
        assert part.exists()
    finally:
        holder.communicate("", timeout=30)
    write_wav(tmp_path / "again.wav", _tone(0.1))
    assert not part.exists()
