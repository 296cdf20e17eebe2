"""The voice library: adding, listing, renaming and deleting voices with real clips on disk, the
messages a person sees for bad input, and the on-disk cache of prompt features."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from cosydesk.engine.engine import Engine
from cosydesk.engine.errors import VoiceError
from cosydesk.engine.voices import MAX_NAME_LENGTH, VoiceLibrary
from tests.helpers import write_clip

SR = 24000


@pytest.fixture(scope="module")
def engine(cpu_engine: Engine) -> Engine:
    return cpu_engine


def _clip(folder: Path, seconds: float, amplitude: float = 0.3, rate: int = SR) -> Path:
    path = folder / f"clip-{seconds}-{amplitude}-{rate}.wav"
    return write_clip(path, seconds, freq=130, amplitude=amplitude, rate=rate)


@pytest.fixture()
def library(tmp_path: Path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "voices")


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return _clip(tmp_path, 2.0)


class Counting:
    """Wraps `engine.prompt_features`, counting calls; `broken` makes further calls fail."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.broken = False
        self._real = engine.prompt_features
        monkeypatch.setattr(engine, "prompt_features", self)

    def __call__(self, path):
        if self.broken:
            raise AssertionError("the ONNX models were asked again")
        self.calls += 1
        return self._real(path)


# -- managing voices ----------------------------------------------------------------------------


def test_an_added_voice_is_listed_with_its_transcript_and_length(library, clip) -> None:
    info = library.add("  Narrator ", clip, " Reference   words here. ")
    assert info.name == "Narrator"
    assert info.transcript == "Reference words here."
    assert info.duration_s == pytest.approx(2.0, abs=1e-3)
    assert [v.name for v in library.list()] == ["Narrator"]
    assert "Narrator" in library
    stored, rate = soundfile.read(info.audio_path)
    assert rate == SR and stored.ndim == 1 and len(stored) == 2 * SR


def test_voices_are_listed_by_name_whatever_the_case(library, clip) -> None:
    for name in ("bob", "Alice", "carol"):
        library.add(name, clip, "Words.")
    assert [v.name for v in library.list()] == ["Alice", "bob", "carol"]
    assert [v.name for v in VoiceLibrary(library.root).list()] == ["Alice", "bob", "carol"]


def test_rename_keeps_the_clip_and_refuses_a_taken_name(library, clip) -> None:
    library.add("Anna", clip, "Words.")
    library.add("Ben", clip, "Words.")
    renamed = library.rename("Anna", "Anne")
    assert [v.name for v in library.list()] == ["Anne", "Ben"]
    assert renamed.audio_path.is_file()
    with pytest.raises(VoiceError, match="A voice called 'Ben' exists already"):
        library.rename("Anne", "ben")
    assert library.rename("Anne", "ANNE").name == "ANNE"  # a new case of its own name is fine
    with pytest.raises(VoiceError, match="There is no voice called 'Zoe'"):
        library.rename("Zoe", "Zed")


def test_delete_removes_the_voice_and_its_files(library, clip) -> None:
    info = library.add("Narrator", clip, "Words.")
    library.delete("Narrator")
    assert library.list() == []
    assert not info.folder.exists()
    with pytest.raises(VoiceError, match="There is no voice called 'Narrator'"):
        library.info("Narrator")


@pytest.mark.parametrize("second", ["Narrator", "narrator", " NARRATOR  "])
def test_a_name_taken_in_any_case_is_refused(library, clip, second: str) -> None:
    library.add("Narrator", clip, "Words.")
    with pytest.raises(VoiceError, match="A voice called 'Narrator' exists already"):
        library.add(second, clip, "Other words.")
    assert len(library.list()) == 1


@pytest.mark.parametrize(
    ("name", "transcript", "message"),
    [
        ("   ", "Words.", "A voice needs a name"),
        ("x" * (MAX_NAME_LENGTH + 1), "Words.", "That name is too long"),
        ("Narrator", "  \n ", "A voice needs the transcript"),
    ],
)
def test_bad_names_and_transcripts_are_refused(library, clip, name, transcript, message) -> None:
    with pytest.raises(VoiceError, match=message):
        library.add(name, clip, transcript)
    assert library.list() == []


@pytest.mark.parametrize(
    ("seconds", "amplitude", "rate", "message"),
    [
        (31.0, 0.3, 16000, "lasts 31.0 s; voice clips may last at most 30 s"),
        (2.0, 0.0, SR, "is silent"),
        (0.2, 0.3, SR, "too short"),
        (2.0, 0.3, 8000, "at least 16000 Hz"),
    ],
)
def test_unusable_clips_are_refused_and_leave_nothing_behind(
    library, tmp_path: Path, seconds, amplitude, rate, message
) -> None:
    path = _clip(tmp_path, seconds, amplitude, rate)
    with pytest.raises(VoiceError, match=message):
        library.add("Narrator", path, "Words.")
    assert library.list() == []
    assert not library.root.exists() or list(library.root.iterdir()) == []


def test_a_file_that_is_not_audio_is_refused(library, tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not a recording")
    with pytest.raises(VoiceError, match="could not be read as audio"):
        library.add("Narrator", path, "Words.")


def test_a_voice_left_half_added_by_a_crash_is_not_listed(library, clip) -> None:
    library.add("Narrator", clip, "Words.")
    leftover = library.root / ".new-abc123"
    leftover.mkdir()
    (leftover / "voice.json").write_text(json.dumps({"name": "Ghost", "transcript": "Boo."}))
    assert [v.name for v in library.list()] == ["Narrator"]
    library.add("Ghost", clip, "Words.")  # the name is free


def _dead_pid() -> int:
    """The pid of a process that has already ended."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _half_added(root: Path, pid: int, tag: str = "x1y2z3") -> Path:
    folder = root / f".new-{pid}-{tag}"
    folder.mkdir(parents=True)
    (folder / "prompt.wav").write_bytes(b"RIFF" + bytes(1000))
    (folder / "voice.json").write_text(json.dumps({"name": "Ghost", "transcript": "Boo."}))
    return folder


def test_a_folder_left_by_a_killed_add_is_removed_when_the_library_opens(tmp_path) -> None:
    root = tmp_path / "voices"
    stale = _half_added(root, _dead_pid())
    ours = _half_added(root, os.getpid())  # an add running in this very process
    VoiceLibrary(root)
    assert not stale.exists()
    assert ours.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="folder locks are POSIX")
def test_a_folder_that_a_running_add_holds_is_kept(tmp_path) -> None:
    """Even when its pid is unknown here (another pid namespace): the add's lock says it runs."""
    root = tmp_path / "voices"
    folder = _half_added(root, _dead_pid())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; from cosydesk.engine import tempowner; "
            "lock = tempowner.hold(Path(sys.argv[1])); print('held', flush=True); "
            "sys.stdin.read()",
            str(folder),
        ],
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        VoiceLibrary(root)
        assert folder.exists()
        holder.communicate("", timeout=30)
    VoiceLibrary(root)
    assert not folder.exists()


def test_an_add_leaves_no_new_folder_behind(library, clip) -> None:
    library.add("Narrator", clip, "Words.")
    assert [p.name for p in library.root.iterdir()] == ["narrator"]


def test_a_damaged_entry_does_not_hide_the_others(library, clip) -> None:
    info = library.add("Narrator", clip, "Words.")
    library.add("Second", clip, "Words.")
    (info.folder / "voice.json").write_text("{not json")
    assert [v.name for v in library.list()] == ["Second"]


# -- prompt features cached on disk -------------------------------------------------------------


def test_features_are_computed_once_and_then_read_from_disk(
    library, clip, engine: Engine, monkeypatch
) -> None:
    counting = Counting(engine, monkeypatch)
    library.add("Narrator", clip, "Words.", engine)
    assert counting.calls == 1
    counting.broken = True  # from now on only the cache may answer
    first = library.get("Narrator", engine)
    again = VoiceLibrary(library.root).get("Narrator", engine)  # as after a restart
    assert torch.equal(first.features.speech_token, again.features.speech_token)
    assert first.features.speech_feat.shape == (1, 2 * first.features.speech_token.shape[1], 80)
    assert first.transcript == "Words."
    audio = np.concatenate(list(engine.synthesize("Hello.", first, stream=False)))
    assert np.isfinite(audio).all()


def test_features_survive_a_rename(library, clip, engine: Engine, monkeypatch) -> None:
    counting = Counting(engine, monkeypatch)
    library.add("Narrator", clip, "Words.", engine)
    library.rename("Narrator", "Storyteller")
    counting.broken = True
    assert library.get("Storyteller", engine).name == "Storyteller"


def test_a_damaged_cache_is_computed_again(library, clip, engine: Engine, monkeypatch) -> None:
    counting = Counting(engine, monkeypatch)
    info = library.add("Narrator", clip, "Words.", engine)
    (cache,) = info.folder.glob("features-*.npz")
    good = library.get("Narrator", engine).features
    cache.write_bytes(b"PK\x03\x04 truncated")
    voice = library.get("Narrator", engine)
    assert counting.calls == 2
    assert torch.equal(voice.features.speech_token, good.speech_token)
    counting.broken = True
    library.get("Narrator", engine)  # the repaired cache serves again
    assert [p.name for p in info.folder.glob("features-*")] == [cache.name]


def _nan_in_mel(arrays: dict[str, np.ndarray]) -> None:
    arrays["speech_feat"][0, 3, 7] = np.nan


def _inf_in_embedding(arrays: dict[str, np.ndarray]) -> None:
    arrays["embedding"][0, 5] = np.inf


def _token_beyond_the_vocabulary(arrays: dict[str, np.ndarray]) -> None:
    arrays["speech_token"][0, 2] = 6561


def _negative_token(arrays: dict[str, np.ndarray]) -> None:
    arrays["speech_token"][0, 0] = -1


def _no_tokens(arrays: dict[str, np.ndarray]) -> None:
    arrays["speech_token"] = arrays["speech_token"][:, :0]
    arrays["speech_feat"] = arrays["speech_feat"][:, :0]


def _two_hundred_thousand_tokens(arrays: dict[str, np.ndarray]) -> None:
    # Compressed on disk (zeros), 128 MB as arrays: refused before it is read.
    arrays["speech_token"] = np.zeros((1, 200_000), dtype=np.int64)
    arrays["speech_feat"] = np.zeros((1, 400_000, 80), dtype=np.float32)


@pytest.mark.parametrize(
    "damage",
    [
        _nan_in_mel,
        _inf_in_embedding,
        _token_beyond_the_vocabulary,
        _negative_token,
        _no_tokens,
        _two_hundred_thousand_tokens,
    ],
)
def test_a_cache_with_values_no_clip_gives_is_computed_again(
    library, clip, engine: Engine, monkeypatch, damage
) -> None:
    counting = Counting(engine, monkeypatch)
    info = library.add("Narrator", clip, "Words.", engine)
    (cache,) = info.folder.glob("features-*.npz")
    good = library.get("Narrator", engine).features
    with np.load(cache) as data:
        arrays = {key: np.array(data[key]) for key in data.files}
    damage(arrays)
    np.savez_compressed(cache, **arrays)
    voice = library.get("Narrator", engine)
    assert counting.calls == 2  # computed again from the clip, once
    assert torch.equal(voice.features.speech_token, good.speech_token)
    assert torch.equal(voice.features.speech_feat, good.speech_feat)
    counting.broken = True
    library.get("Narrator", engine)  # the repaired cache serves again


def test_a_damaged_cache_without_its_clip_names_the_voice_to_add_again(
    library, clip, engine: Engine
) -> None:
    info = library.add("Narrator", clip, "Words.", engine)
    (cache,) = info.folder.glob("features-*.npz")
    cache.write_bytes(b"PK\x03\x04 truncated")
    info.audio_path.unlink()
    with pytest.raises(VoiceError) as caught:
        library.get("Narrator", engine)
    assert str(caught.value) == (
        f"The voice 'Narrator' cannot be used: its saved features are damaged and its clip "
        f"{info.audio_path} is missing. Delete the voice and add it again from a recording."
    )


def test_another_model_gets_its_own_features(library, clip, engine, monkeypatch) -> None:
    counting = Counting(engine, monkeypatch)
    library.add("Narrator", clip, "Words.", engine)
    monkeypatch.setattr(engine, "fingerprint", "another-model")
    library.get("Narrator", engine)
    assert counting.calls == 2
    assert len(list(library.info("Narrator").folder.glob("features-*.npz"))) == 2


def test_without_a_model_only_a_cache_will_do(library, clip, engine: Engine) -> None:
    library.add("Plain", clip, "Words.")
    with pytest.raises(VoiceError, match="load the model first"):
        library.get("Plain")
    library.add("Prepared", clip, "Words.", engine)
    assert library.get("Prepared").features.embedding.shape == (1, 192)


def test_a_voice_the_model_cannot_analyse_is_not_added(
    library, clip, engine: Engine, monkeypatch
) -> None:
    def fails(path):
        raise VoiceError("The voice clip is too short to analyse: record a few seconds.")

    monkeypatch.setattr(engine, "prompt_features", fails)
    with pytest.raises(VoiceError, match="too short to analyse"):
        library.add("Narrator", clip, "Words.", engine)
    assert library.list() == []


def test_a_voice_appears_only_once_its_features_exist(
    library, clip, engine: Engine, monkeypatch
) -> None:
    """A crash while the model analyses the clip (the process killed, no clean-up) must leave
    no voice without features in the list."""
    listed_meanwhile: list[list[str]] = []
    analyse = engine.prompt_features

    def watching(path):
        listed_meanwhile.append([v.name for v in library.list()])
        return analyse(path)

    monkeypatch.setattr(engine, "prompt_features", watching)
    info = library.add("Narrator", clip, "Words.", engine)
    assert listed_meanwhile == [[]]
    assert [p.name for p in info.folder.glob("features-*.npz")] == [
        f"features-{engine.fingerprint}.npz"
    ]


def test_a_clip_of_absurdly_large_samples_is_refused_not_added(
    library, tmp_path: Path, engine: Engine
) -> None:
    # A damaged float WAV: finite samples of 1e30, far beyond any recording's full scale of 1.
    # Its spectra overflow, so its features held NaN and every request with it failed.
    t = np.arange(2 * SR) / SR
    clip = tmp_path / "loud.wav"
    soundfile.write(clip, (1e30 * np.sin(2 * np.pi * 130 * t)).astype(np.float32), SR, "FLOAT")
    with pytest.raises(VoiceError, match="far beyond full scale"):
        library.add("Loud", clip, "Words.", engine)
    assert library.list() == []
